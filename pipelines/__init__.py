"""Beatwalk: turn a song into an audio-reactive latent-walk music video."""
