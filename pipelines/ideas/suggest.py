"""One function for prompt ideas, whichever engine writes them, and their keyframes.

``suggest_prompts(description, theme=..., engine=...)`` returns :class:`Suggestions`: an idea per
section (or per keyframe time), the engine that wrote each, and a note of any fallback. The
model engine's failures (weights not to be had, a load error, an answer that cannot be parsed)
never fail the call: the composer writes what the model did not, and the note says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pipelines.errors import BeatwalkError
from pipelines.ideas import composer
from pipelines.ideas.prompts import Idea, clean_theme

ENGINES = ("composer", "model")
_log = logging.getLogger(__name__)


@dataclass
class Suggestions:
    """Ideas and how they were made.

    Attributes
    ----------
    ideas : list[Idea]
    theme : str
        The theme used (the one given, cleaned; or the composer's pick for the song).
    notes : list[str]
        Fallbacks and choices made, in plain words (shown to the person).
    """

    ideas: list[Idea]
    theme: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"theme": self.theme, "notes": list(self.notes), "ideas": [i.to_dict() for i in self.ideas]}


def passages_at(description, times: list[float]) -> list:
    """The passage each keyframe time falls in: its ~10 s window, labelled with its section."""
    chosen = []
    for time in times:
        window = _containing(description.windows, time) or _containing(description.sections, time)
        section = _containing(description.sections, time)
        if window is None:
            raise BeatwalkError(f"a keyframe at {time:g} s is outside the described song")
        chosen.append(_with_label(window, section.label if section else ""))
    return chosen


def suggest_prompts(
    description,
    *,
    theme: str | None = None,
    engine: str = "composer",
    seed: int = 0,
    variation: int = 0,
    times: list[float] | None = None,
    model: str | None = None,
    tokenizer=None,
    local_only: bool = False,
) -> Suggestions:
    """Prompt ideas for a described song.

    Parameters
    ----------
    description : pipelines.music.describe.SongDescription
    theme : str, optional
        What the video is about ("a journey through space"); at most 300 characters.
    engine : {"composer", "model"}
    seed : int
        The same seed, theme and song give the same ideas.
    variation : int
        Another idea in the same style and theme (the composer's scenes move on; the model is
        sampled with ``seed + variation``).
    times : list of float, optional
        One idea per keyframe at these times (default: one per section).
    model : str, optional
        The model engine's language model (default
        :data:`~pipelines.ideas.language_model.DEFAULT_MODEL`; ``"tiny"`` offline).
    tokenizer : optional
        The text encoder's tokenizer, to count its limit exactly.
    local_only : bool
        The language model only from the local cache (a server: no download inside a request).
    """
    if engine not in ENGINES:
        raise BeatwalkError(f"engine must be one of: {', '.join(ENGINES)}; got {engine!r}")
    if not description.sections:
        raise BeatwalkError("the song has no sections to write prompts for")
    if not 0 <= int(seed) < 2**32 - 2**16 or not 0 <= int(variation) < 2**16:
        raise BeatwalkError(f"the seed must be a whole number from 0 to {2**32 - 2**16 - 1}, got {seed}")
    theme = clean_theme(theme)
    passages = description.sections if times is None else passages_at(description, list(times))
    composed = composer.compose(
        description, passages, theme=theme, seed=seed, variation=variation, tokenizer=tokenizer
    )
    notes = [] if theme else [f"No theme given: the composer chose “{_theme_of(composed)}” from the music."]
    if engine == "composer":
        return Suggestions(composed, theme or _theme_of(composed), notes)

    from pipelines.ideas.language_model import DEFAULT_MODEL, LanguageModelWriter

    try:
        writer = LanguageModelWriter(model or DEFAULT_MODEL, local_only=local_only)
        written = writer.write(theme, passages, seed=seed + variation, tokenizer=tokenizer)
    except BeatwalkError as exc:
        return Suggestions(
            composed, theme or _theme_of(composed), [*notes, f"{exc}: the composer wrote every prompt."]
        )
    except Exception as exc:  # noqa: BLE001  (a model that fails in any way must not fail the ideas)
        _log.warning("the language model failed; the composer writes instead", exc_info=True)
        note = f"the language model failed ({type(exc).__name__}): the composer wrote every prompt."
        return Suggestions(composed, theme or _theme_of(composed), [*notes, note])
    ideas = [
        Idea(**(idea.to_dict() | {"prompt": prompt, "engine": writer.engine})) if prompt else idea
        for idea, prompt in zip(composed, written)
    ]
    missing = sum(prompt is None for prompt in written)
    if missing:
        notes.append(
            f"The language model's answer had no usable line for {missing} of {len(ideas)} "
            "passages: the composer wrote those."
        )
    return Suggestions(ideas, theme or _theme_of(composed), notes)


def _theme_of(ideas: list[Idea]) -> str:
    return ideas[0].prompt.split(",")[0] if ideas else ""


def _containing(passages, time: float):
    for passage in passages:
        if passage.start <= time < passage.end:
            return passage
    return (
        passages[-1]
        if passages and time >= passages[-1].end - 1e-6 and time <= passages[-1].end + 1e-3
        else None
    )


def _with_label(passage, label: str):
    from dataclasses import replace

    return replace(passage, label=label)


def with_ideas(
    project,
    description,
    *,
    theme: str | None = None,
    engine: str = "composer",
    seed: int = 0,
    variation: int = 0,
    only: int | None = None,
    model: str | None = None,
    tokenizer=None,
    local_only: bool = False,
):
    """The project with its keyframes' prompts suggested (``only``: that keyframe's alone, 0-based,
    in the style of the others — "another idea"), each recording what wrote it; and the
    :class:`Suggestions`.
    """
    from pipelines.project import PromptSource

    keyframes = project.keyframes
    if only is not None and not 0 <= int(only) < len(keyframes):
        raise BeatwalkError("choose a keyframe for another idea")
    suggestions = suggest_prompts(
        description, theme=theme, engine=engine, seed=seed, variation=variation,
        times=[k.time for k in keyframes], model=model, tokenizer=tokenizer, local_only=local_only,
    )  # fmt: skip
    updated = []
    for i, (keyframe, idea) in enumerate(zip(keyframes, suggestions.ideas)):
        if only is not None and i != int(only):
            updated.append(keyframe)
            continue
        source = PromptSource(engine=idea.engine, seed=idea.seed + variation, theme=suggestions.theme)
        updated.append(
            keyframe.model_copy(
                update={
                    "prompt": idea.prompt,
                    "negative_prompt": keyframe.negative_prompt or idea.negative_prompt,
                    "idea": source,
                }  # a negative prompt of the person's own stays
            )
        )
    return project.replace(keyframes=updated), suggestions
