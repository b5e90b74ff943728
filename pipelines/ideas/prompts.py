"""What an idea is, and the checks every prompt passes: a clean theme, the text encoder's limit."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from pipelines.errors import BeatwalkError

TOKEN_LIMIT = 77
"""CLIP's context, start and end tokens included (SD 1.x/2.x and SDXL text encoders)."""
MAX_THEME_CHARACTERS = 300
THEME_TOKENS = 32
"""The most of a prompt a theme takes: the rest is the music's."""
# CLIP's pre-tokenizer: words, numbers, and single other characters.
_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+", re.UNICODE)


@dataclass
class Idea:
    """A suggested prompt for a span of the song.

    Attributes
    ----------
    start, end : float
        The span, seconds.
    label : str
        Its section's letter.
    prompt, negative_prompt : str
    engine : str
        ``"composer"`` or ``"model:<hub id>"``: what wrote it.
    seed : int
    words : list[str]
        The description it was written from.
    """

    start: float
    end: float
    label: str
    prompt: str
    negative_prompt: str
    engine: str
    seed: int
    words: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def clean_theme(theme: str | None) -> str:
    """The theme as the prompts use it: one line, single spaces; empty for none.

    Raises a one-line ``BeatwalkError`` for a theme over :data:`MAX_THEME_CHARACTERS`.
    """
    text = " ".join((theme or "").split())
    if len(text) > MAX_THEME_CHARACTERS:
        raise BeatwalkError(
            f"the theme is {len(text)} characters long; keep it to {MAX_THEME_CHARACTERS} (a phrase, not a story)"
        )
    return text


def token_count(prompt: str, tokenizer=None) -> int:
    """Tokens the text encoder sees, start and end included: counted by ``tokenizer`` (the
    pipeline's CLIP tokenizer) when given, else bounded from above (each word as a token per four
    letters, at least one; CLIP's byte-pair vocabulary holds common words whole)."""
    if tokenizer is not None:
        return len(tokenizer(prompt, truncation=False)["input_ids"])
    return 2 + sum(max(1, math.ceil(len(piece) / 4)) for piece in _PIECES.findall(prompt.lower()))


def shorten(text: str, tokens: int, tokenizer=None) -> str:
    """``text`` cut word by word (a single word, letter by letter) to at most ``tokens`` tokens."""
    words = text.split()
    while len(words) > 1 and token_count(" ".join(words), tokenizer) > tokens:
        words.pop()
    text = " ".join(words)
    while len(text) > 1 and token_count(text, tokenizer) > tokens:
        text = text[: max(1, len(text) * 3 // 4)]
    return text.rstrip(",")


def fit_tokens(parts: list[str], *, keep: int, tokenizer=None) -> str:
    """``parts`` joined by commas, dropping the last optional ones (all but the first ``keep``)
    until the prompt fits :data:`TOKEN_LIMIT`; the kept ones are cut word by word if need be."""
    parts = [p for p in parts if p]
    while len(parts) > keep and token_count(", ".join(parts), tokenizer) > TOKEN_LIMIT:
        parts.pop()
    return shorten(", ".join(parts), TOKEN_LIMIT, tokenizer)
