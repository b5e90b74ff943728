"""Score: does the video dance? Its visual change measured against the song's beats and onsets.

``visual_change`` turns a video into per-frame change curves, ``sync`` compares them with the
song's analysis (:class:`~pipelines.score.sync.SyncScore`).
"""
