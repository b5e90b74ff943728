"""Music: a song file in, what the video follows out.

``decode`` turns any file ffmpeg reads into mono samples (:class:`~pipelines.music.decode.Audio`);
``analysis`` reads tempo, beats, downbeats, onsets, sections and energy from them
(:class:`~pipelines.music.analysis.Analysis`), with ``beats`` (+ ``beat_net``, ``beat_dbn``),
``sections`` and ``envelopes`` doing the work over one shared spectrogram; ``song.read_song``
is the one way to go from a file to both.
"""
