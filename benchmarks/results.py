"""Appending a benchmark's figures to RESULTS.md: a dated heading, the machine and the command."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def record(title: str, *, script: str, argv: list[str] | None, setup: str, text: str, more: tuple[str, ...] = ()) -> None:
    """Append ``text`` under ``## title — date``, a line of the machine, ``setup`` and the command that
    ran (``python -m benchmarks.<script> <argv>``; ``argv`` None: this process's), and ``more`` lines."""
    command = " ".join(sys.argv[1:] if argv is None else argv)
    header = (
        f"## {title} — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
        f"- {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {setup} · `python -m benchmarks.{script} {command}`\n"
        + "".join(f"- {line}\n" for line in more)
        + "\n"
    )
    with RESULTS.open("a", encoding="utf-8") as file:
        file.write("\n" + header + text + "\n")
    print(f"\nappended to {RESULTS}")
