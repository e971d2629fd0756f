"""One writer per data directory: ``mrv-agent run`` holds ``agent.lock`` while it runs.

The outbox itself is safe for several processes (each append takes SQLite's write lock and
extends the head as stored); the lock tells ``mrv-agent submit`` whether a running agent
will publish what it commits, or whether it must publish itself.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class DataDirLock:
    """An exclusive ``flock`` on ``DATA_DIR/agent.lock``, released on close or exit."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "agent.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` (a submit publishing its entries holds it briefly)."""
        deadline = time.monotonic() + timeout_s
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
