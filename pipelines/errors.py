"""The one error type Beatwalk raises for bad input."""


class BeatwalkError(ValueError):
    """Bad input from a person or a program: a song, a project, a setting.

    The message is one plain line meant to be shown as is: by the CLI after
    ``error:`` on stderr (exit code 2), by the Space as a ``gr.Error``.
    """


def first_error(exc) -> str:
    """One line for the first problem a ``pydantic.ValidationError`` names, e.g. ``keyframes.2.seed: ...``."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"

