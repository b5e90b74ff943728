"""Diffusion: the only place that runs an image model.

``families`` is the table of model families and their defaults (no torch), ``models`` loads a
diffusers pipeline from the hub, a folder or ``tiny`` (``tiny`` builds random-weight twins from
config), ``conditioning`` encodes each keyframe once, and ``walk`` renders the frames of a plan.
"""
