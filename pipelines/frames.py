"""Video time: how seconds of a song become frames of its video.

Frame ``i`` of a video at ``fps`` frames per second is shown from ``i / fps`` to
``(i + 1) / fps``; a song segment of ``duration`` seconds has ``frame_count(duration, fps)``
frames. The analysis (energy per frame), the frame plan, the limits and the renderer all count
frames this one way.
"""

from __future__ import annotations


def frame_count(duration: float, fps: float) -> int:
    """Frames of a video of ``duration`` seconds at ``fps`` frames per second: the nearest whole number.

    Examples
    --------
    >>> frame_count(32.0, 24)
    768
    >>> frame_count(10.02, 12)
    120
    """
    return round(duration * fps)
