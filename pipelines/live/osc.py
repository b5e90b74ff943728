"""The live controls over OSC (python-osc), for VJ rigs: TouchOSC, Resolume, a MIDI-to-OSC bridge.

Addresses (UDP), each mapped onto :func:`pipelines.live.controls.apply`:

==========================  =======  ==================================
address                     args     does
==========================  =======  ==================================
``/beatwalk/prompt``        s        queue a prompt
``/beatwalk/prompt/next``   s        queue a prompt at the front
``/beatwalk/next``          —        next prompt on the coming downbeat
``/beatwalk/freeze``        i/f      1 hold, 0 go on
``/beatwalk/pulse``         f        0..1
``/beatwalk/motion``        f        0..1
``/beatwalk/crossfade``     i        beats a change takes
``/beatwalk/auto``          i        bars between automatic changes
``/beatwalk/remove``        i        drop queued prompt n (from 1)
``/beatwalk/move``          i i      move queued prompt n to place m
==========================  =======  ==================================

A bad message is answered nowhere (OSC has no replies): it is logged with one line and dropped.
"""

from __future__ import annotations

import logging
import threading

from pipelines.errors import BeatwalkError
from pipelines.live import controls

ROOT = "/beatwalk"
log = logging.getLogger(__name__)


class OscControls:
    """A UDP OSC server steering one conductor, on its own thread.

    Parameters
    ----------
    conductor : pipelines.live.conductor.Conductor
    host : str
    port : int
        0 picks a free port (see :attr:`port`).
    """

    def __init__(self, conductor, *, host: str = "127.0.0.1", port: int = 9000):
        try:
            from pythonosc.dispatcher import Dispatcher
            from pythonosc.osc_server import ThreadingOSCUDPServer
        except ImportError:
            raise BeatwalkError("OSC controls need python-osc (pip install python-osc)") from None
        self.conductor = conductor
        self.errors: list[str] = []
        dispatcher = Dispatcher()
        for action in controls.ACTIONS:
            if action != "queue":
                dispatcher.map(f"{ROOT}/{action}", self._handle, action)
        dispatcher.map(f"{ROOT}/prompt/next", self._handle, "prompt", True)
        dispatcher.set_default_handler(self._unknown)
        try:
            self._server = ThreadingOSCUDPServer((host, port), dispatcher)
        except OSError as exc:
            raise BeatwalkError(f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}") from None
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-osc", daemon=True)

    def start(self) -> OscControls:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must be running
            self._server.shutdown()
        self._server.server_close()

    def _handle(self, address: str, fixed: list, *args) -> None:
        action, next_up = fixed[0], len(fixed) > 1
        if action == "next":
            value = None
        elif action == "move":
            value = list(args)
        else:
            value = args[0] if len(args) == 1 else None
            if value is None:
                return self._fail(f"{address} takes one argument, got {len(args)}")
        try:
            controls.apply(self.conductor, action, value, next_up=next_up)
        except BeatwalkError as exc:
            self._fail(f"{address}: {exc}")

    def _unknown(self, address: str, *args) -> None:
        self._fail(f"unknown OSC address {address} (Beatwalk listens under {ROOT}/)")

    def _fail(self, line: str) -> None:
        self.errors.append(line)
        del self.errors[:-20]
        log.warning(line)
