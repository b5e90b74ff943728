"""The composer's curated words: scenes by mood, light by level and arc, palettes by mode and
brightness, camera words by tempo and arc, styles, themes for a song that comes without one.

Moods are the two axes music psychology uses (valence × arousal): ``bright`` (major) or ``dark``
(minor), ``calm`` or ``energetic`` (level and tempo). Every entry is short, so that a whole prompt
stays well inside CLIP's 77 tokens.
"""

from __future__ import annotations

SCENES = {
    ("bright", "calm"): (
        "a sunlit meadow of wildflowers",
        "a quiet lake at dawn",
        "paper lanterns drifting over a river",
        "a greenhouse full of morning light",
        "soft clouds over rolling hills",
        "a seaside village at golden hour",
    ),
    ("dark", "calm"): (
        "a misty pine forest",
        "rain on an empty street at night",
        "a lone lighthouse in fog",
        "moonlight on still black water",
        "an abandoned cathedral in dust",
        "snow falling on a sleeping town",
    ),
    ("bright", "energetic"): (
        "fireworks over a glittering city",
        "a carnival of spinning lights",
        "surfers riding towering waves",
        "a field of sunflowers in a summer storm",
        "a crowd dancing under confetti",
        "hot air balloons over canyons",
    ),
    ("dark", "energetic"): (
        "a storm over a neon city",
        "lightning over jagged mountains",
        "a volcano erupting into the night",
        "a hyperspace tunnel of red light",
        "shattering glass in slow motion",
        "a cyberpunk chase through rain",
    ),
}

LIGHT = {
    "quiet": ("soft diffuse light", "dim candlelight", "pale moonlight"),
    "moderate": ("warm natural light", "dappled light", "gentle rim light"),
    "loud": ("blazing light", "dramatic spotlights", "glowing highlights"),
}
ARC_WORDS = {
    "intro": "opening scene",
    "builds": "rising tension",
    "drop": "explosive burst of energy",
    "break": "stillness after the storm",
    "fades": "slowly dissolving",
    "steady": "",
}
PALETTES = {
    ("major", "bright"): "vivid pastel palette",
    ("major", "warm"): "golden amber palette",
    ("major", "dark"): "deep teal and gold palette",
    ("minor", "bright"): "icy blue and silver palette",
    ("minor", "warm"): "rust and violet palette",
    ("minor", "dark"): "midnight blue and crimson palette",
    ("", "bright"): "high contrast palette",
    ("", "warm"): "muted earth palette",
    ("", "dark"): "monochrome palette",
}
CAMERA = {
    "slow": ("slow dolly shot", "wide establishing shot", "gentle aerial view"),
    "mid-tempo": ("tracking shot", "medium shot", "low angle"),
    "fast": ("dynamic close-up", "fast motion blur", "dutch angle"),
    "no beat": ("still frame", "wide shot", "symmetrical composition"),
}
DENSITY_WORDS = {"sparse": "minimalist composition", "moderate": "", "busy": "intricate detail"}
STYLES = (
    "cinematic digital painting",
    "studio ghibli style watercolor",
    "synthwave illustration",
    "oil painting, impressionist",
    "35mm film photograph",
    "psychedelic art nouveau poster",
    "octane render, volumetric fog",
    "ukiyo-e woodblock print",
)
THEMES = {
    ("bright", "calm"): ("a journey through a dreamlike garden", "a day by the sea"),
    ("dark", "calm"): ("a walk through a haunted forest", "a night of memories"),
    ("bright", "energetic"): ("a festival of light and colour", "a road trip under summer skies"),
    ("dark", "energetic"): ("a flight through a storm-lit city", "a journey through deep space"),
}
NEGATIVE_PROMPT = "blurry, low quality, jpeg artifacts, text, watermark, signature, deformed"
