"""The composer: prompts from the theme, each passage's mood and a curated vocabulary, no weights.

Consistent across the song (one style and one theme for all), changing with the music (a quiet
minor intro and a loud chorus get different scenes, light and camera), and a section that comes
back (a second ``B``) comes back with its scene (keyframe by keyframe). Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

from pipelines.ideas import vocabulary as words
from pipelines.ideas.prompts import THEME_TOKENS, Idea, fit_tokens, shorten

ENGINE = "composer"


def mood(passage) -> tuple[str, str]:
    """``(valence, arousal)`` of a passage: ``bright``/``dark`` from its mode, ``calm``/``energetic``
    from its level, arc and tempo."""
    valence = "dark" if passage.mode == "minor" else "bright"
    if passage.arc == "drop" or passage.level == "loud":
        arousal = "energetic"
    elif passage.level == "quiet" or passage.arc in ("break", "fades"):
        arousal = "calm"
    else:
        arousal = "energetic" if passage.tempo == "fast" or passage.density == "busy" else "calm"
    return valence, arousal


def song_mood(description) -> tuple[str, str]:
    """The mood most of the song has (weighted by time)."""
    seconds: dict[tuple[str, str], float] = {}
    for passage in description.sections:
        key = mood(passage)
        seconds[key] = seconds.get(key, 0.0) + passage.end - passage.start
    return max(seconds, key=seconds.get) if seconds else ("bright", "calm")


def compose(
    description, passages, *, theme: str = "", seed: int = 0, variation: int = 0, tokenizer=None
) -> list[Idea]:
    """One idea per passage.

    Parameters
    ----------
    description : pipelines.music.describe.SongDescription
    passages : list[Passage]
        What to write for: the sections, or one passage per keyframe.
    theme : str
        Cleaned (:func:`~pipelines.ideas.prompts.clean_theme`); empty: one chosen from the song's
        mood.
    seed : int
        Picks the style, the theme and the scenes; the same seed gives the same prompts.
    variation : int
        Another idea in the same style and theme: the scenes, light and camera move on by this.
    tokenizer : optional
        The text encoder's tokenizer, to count the limit exactly.
    """
    rng = np.random.default_rng(seed)
    style = words.STYLES[rng.integers(len(words.STYLES))]
    themes = words.THEMES[song_mood(description)]
    theme = shorten(theme, THEME_TOKENS, tokenizer) if theme else themes[rng.integers(len(themes))]
    order = {key: list(rng.permutation(len(pool))) for key, pool in words.SCENES.items()}
    scene_of: dict[tuple, str] = {}
    ideas, run = [], 0
    for i, passage in enumerate(passages):
        key = mood(passage)
        # The k-th keyframe of a section that comes back comes back with its scene; within a
        # section the scenes move on.
        run = run + 1 if i and passage.label == passages[i - 1].label else 0
        recurring = (passage.label, key, run)
        if recurring not in scene_of or not passage.label:
            pool = order[key]
            used = len([k for k in scene_of if k[1] == key])
            scene_of[recurring] = words.SCENES[key][pool[(used + variation) % len(pool)]]
        light = words.LIGHT[passage.level][(seed + i + variation) % len(words.LIGHT[passage.level])]
        camera = words.CAMERA[passage.tempo][(seed + i + variation) % len(words.CAMERA[passage.tempo])]
        palette = words.PALETTES[(passage.mode, passage.brightness)]
        parts = [theme, scene_of[recurring], words.ARC_WORDS[passage.arc], light, palette, style, camera,
                 words.DENSITY_WORDS[passage.density]]  # fmt: skip
        prompt = fit_tokens(parts, keep=2, tokenizer=tokenizer)
        ideas.append(
            Idea(
                passage.start,
                passage.end,
                passage.label,
                prompt,
                words.NEGATIVE_PROMPT,
                ENGINE,
                seed,
                passage.words(),
            )
        )
    return ideas
