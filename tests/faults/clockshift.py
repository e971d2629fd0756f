"""Run ``mrv-agent`` with a steppable wall clock: a gateway whose system clock jumps.

    python tests/faults/clockshift.py OFFSET_FILE run -c agent.yaml

Stepping the real system clock needs CAP_SYS_TIME and would move every other process on the
machine too. Instead this wrapper shifts ``time.time()`` (and ``time.time_ns()``) *inside the
agent process only* by the number of seconds in OFFSET_FILE, re-read on SIGUSR1, while the
monotonic clock is left alone — exactly what an NTP step or an operator setting the date
looks like to the agent. Nothing in the agent knows about this wrapper.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from types import FrameType

_real_time = time.time
_real_time_ns = time.time_ns
_offset_s = 0.0


def _load(path: Path) -> None:
    global _offset_s
    with contextlib.suppress(OSError, ValueError):
        _offset_s = float(path.read_text().strip() or 0)


def _time() -> float:
    return _real_time() + _offset_s


def _time_ns() -> int:
    return _real_time_ns() + int(_offset_s * 1e9)


def main() -> None:
    path = Path(sys.argv[1])
    _load(path)

    def on_usr1(_sig: int, _frame: FrameType | None) -> None:
        _load(path)

    signal.signal(signal.SIGUSR1, on_usr1)
    time.time = _time
    time.time_ns = _time_ns
    sys.argv = ["mrv-agent", *sys.argv[2:]]
    from agent.cli import main as agent_main

    agent_main()


if __name__ == "__main__":
    main()
