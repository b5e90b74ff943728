"""Render: frames to an mp4 with the song, as a chunked job on disk that a killed render resumes.

``runner`` drives a render (``iter_render``), ``jobs`` keeps its manifest and chunks, ``video``
streams frames into ffmpeg, joins chunks and muxes the song.
"""
