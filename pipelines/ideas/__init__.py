"""Prompt ideas from the music: one prompt per section (or keyframe) from the song's description.

Two engines behind :func:`~pipelines.ideas.suggest.suggest_prompts`:

- ``"composer"`` (:mod:`pipelines.ideas.composer`): the theme × each passage's mood × a curated
  vocabulary (:mod:`pipelines.ideas.vocabulary`); no weights, deterministic for a seed, always
  available, and the fallback of the other;
- ``"model"`` (:mod:`pipelines.ideas.language_model`): a small local instruct language model
  through transformers (no API key); its answer is parsed and checked line by line, and whatever
  cannot be used is composed instead, said so.

This room stands above ``plan`` and ``diffusion`` (its model engine needs torch, the plan stays
pure) and beside ``render``.
"""
