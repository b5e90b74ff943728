"""Plan: keyframes on the song's timeline and how the picture follows the music, pure and deterministic.

``keyframes`` proposes a first project for a song, ``edits`` changes its keyframes (pure functions
on a :class:`~pipelines.project.Project`), ``timeline`` turns a project and an analysis into a
:class:`~pipelines.plan.timeline.FramePlan` with the curves of ``easing``. numpy only: no torch,
no I/O.
"""
