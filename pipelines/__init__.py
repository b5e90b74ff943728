"""Beatwalk: turn a song into an audio-reactive latent-walk music video.

The folders are the data flow, in its order; each uses only those listed before it::

    music/      a song file → Audio (decode) → Analysis: tempo, beats, downbeats, sections, energy
    project     Project: the one serialisable description of a video (song, keyframes, settings)
    plan/       keyframes proposed and edited; Project + Analysis → FramePlan (numpy only, pure)
    diffusion/  the model table, loading (hub, folder, tiny), keyframe conditioning, the walk → frames
    render/     a chunked, resumable job on disk: frames → ffmpeg → mp4 with the song + sidecar
    score/      does it dance? visual change against the song's beats
    admission   what a server accepts from strangers (limits, models, no file named in a project)
    plots, cli  figures for people; ``python -m pipelines``

under its foundations: ``errors`` (one error type), ``ffmpeg`` and ``frames`` (seconds to video
frames), ``tiny_text`` (the tiny text models' tokenizers), and ``limits``. The Space (``space/``) and the CLI are shells over these; see
``docs/architecture.md``.
"""
