"""The controls a VJ has during a session, one function for every way in (the page, OSC, the CLI).

Actions (queue numbers count from 1, as the page shows them):

================  ==========================  ===============================================
action            value                       does
================  ==========================  ===============================================
``prompt``        text                        queue a prompt (``next_up``: at the front)
``next``          —                           change to the next queued prompt on the downbeat
``freeze``        true/false                  hold the picture (and the pulses)
``pulse``         0..1                        the push on each beat
``motion``        0..1                        how fast the picture drifts between changes
``crossfade``     1..64                       beats a prompt change takes
``auto``          0..256                      bars between automatic changes (0: never)
``remove``        n                           drop queued prompt n
``move``          [n, m]                      move queued prompt n to place m
``queue``         [text, …]                   replace the whole queue
================  ==========================  ===============================================
"""

from __future__ import annotations

from pipelines.errors import BeatwalkError
from pipelines.live.conductor import Conductor

ACTIONS = ("prompt", "next", "freeze", "pulse", "motion", "crossfade", "auto", "remove", "move", "queue")


def apply(conductor: Conductor, action: str, value=None, *, next_up: bool = False) -> None:
    """Do one control action; bad values raise :class:`BeatwalkError` with one line."""
    if action == "prompt":
        conductor.add(value, next_up=next_up)
    elif action == "next":
        conductor.next()
    elif action == "freeze":
        conductor.update(freeze=_flag(value))
    elif action in ("pulse", "motion"):
        conductor.update(**{action: _number(value, action)})
    elif action == "crossfade":
        conductor.update(crossfade_beats=_whole(value, action))
    elif action == "auto":
        conductor.update(auto_bars=_whole(value, action))
    elif action == "remove":
        conductor.remove(_whole(value, "remove") - 1)
    elif action == "move":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise BeatwalkError("move takes two queue numbers: from, to")
        conductor.move(_whole(value[0], "move") - 1, _whole(value[1], "move") - 1)
    elif action == "queue":
        if not isinstance(value, (list, tuple)):
            raise BeatwalkError("queue takes a list of prompts")
        conductor.replace_queue(list(value))
    else:
        raise BeatwalkError(f"unknown control {action!r} (one of {', '.join(ACTIONS)})")


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "0", "true", "false", "on", "off"):
        return value.strip().lower() in ("1", "true", "on")
    raise BeatwalkError(f"freeze takes true or false, got {value!r}")


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BeatwalkError(f"{name} takes a number, got {value!r}") from None
    if number != number:
        raise BeatwalkError(f"{name} takes a number, got {value!r}")
    return number


def _whole(value, name: str) -> int:
    number = _number(value, name)
    if number != int(number):
        raise BeatwalkError(f"{name} takes a whole number, got {value!r}")
    return int(number)
