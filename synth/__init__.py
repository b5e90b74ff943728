"""Synthetic music with exact beats, for tests, benchmarks and training alike.

``songs``: a simple drum-and-bass song (tests); ``beat_set``: composed and fluidsynth-rendered
General MIDI music in splits (training, tuning, held-out judging); ``drum_machine``: synthesised
drum-machine songs. Nothing here imports ``pipelines``.
"""
