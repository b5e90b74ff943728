"""Bad input reaches a person as one line in a ``gr.Error``, never as a traceback."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import re

import gradio as gr

from pipelines.errors import BeatwalkError

logger = logging.getLogger("beatwalk.space")


def user_errors(fn):
    """Turn ``BeatwalkError`` into ``gr.Error`` and anything unexpected into a short, logged one.

    Works on plain functions and generators alike (Gradio streams generators,
    so the wrapper must stay one). The signature is kept, so Gradio still
    injects ``gr.Request`` where a handler asks for it.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001  (the point: nothing reaches a person as a traceback)
                raise _as_gradio_error(exc) from None

        return generator

    @functools.wraps(fn)
    def function(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _as_gradio_error(exc) from None

    return function


def _as_gradio_error(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, BeatwalkError):
        logger.info("refused: %s", exc)
        # Gradio renders the message as HTML; a file name is user text.
        return gr.Error(html.escape(without_paths(str(exc)), quote=False), print_exception=False)
    logger.exception("unexpected error in a Space handler")
    return gr.Error(
        f"something went wrong ({type(exc).__name__}); the server log has the details", print_exception=False
    )



# An absolute path: a slash (not inside a URL), then folders, then a last part (kept); it ends at a
# space or a quote. ffmpeg names its inputs ``file:/...``.
_PATH = re.compile(r"(?:\bfile:|(?<![\w.:/]))/(?:[^\s'\"/]+/)+(?=[^\s'\"/])")


def without_paths(message: str) -> str:
    """A message as a stranger may see it: every server path cut to its last part (the file the
    person uploaded, or the output's name), never the folders of the server."""
    return _PATH.sub("", message)
