"""Process supervision: child processes with a log file each, and waits that poll real state.

Every program the demo, the fault suite and the benchmarks start is a ``ManagedProcess``:
startable, stoppable (SIGTERM), killable (SIGKILL) and restartable with the same arguments,
its output appended to one log file. ``wait_until`` polls a check instead of sleeping and
reports a watched process that died as a crash (with its log tail), not as a timeout.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from .demo_broker import die_with_parent

__all__ = ["ManagedProcess", "StackError", "command", "free_port", "run_cli", "wait_until"]

T = TypeVar("T")

_MODULES = {
    "mrv-sim": "simulators.cli",
    "mrv-agent": "agent.cli",
    "mrv-collector": "collector.cli",
    "mrv-verify": "collector.verify_cli",
}


class StackError(RuntimeError):
    """A process did not start, died, or a wait timed out (the message says which and why)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(name: str) -> list[str]:
    """argv prefix of a console script: the one beside this Python, else ``python -m``."""
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", _MODULES[name]]


def run_cli(
    name: str, *args: str, timeout: float = 300.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one console-script command to completion; ``StackError`` with its stderr if it fails."""
    argv = [*command(name), *args]
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{name} {' '.join(args)}: no exit after {timeout}s") from exc
    if check and res.returncode != 0:
        err = (res.stderr or res.stdout).strip().splitlines()[-5:]
        raise StackError(f"{name} {' '.join(args)} exited {res.returncode}: {' | '.join(err)}")
    return res


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    watch: Iterable[ManagedProcess] = (),
) -> T:
    """Poll ``check`` until it returns something truthy and return that.

    Raises ``StackError`` after ``timeout`` seconds, or at once when a watched process has
    exited (with the tail of its log), so a crash is reported as a crash, not as a timeout.
    """
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        for p in watched:
            if p.started and not p.running:
                raise StackError(
                    f"{p.name} exited with code {p.returncode} while waiting for {what}\n{p.tail()}"
                )
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class ManagedProcess:
    """One child process with its log file; start/stop/kill/restart keep name, args and log."""

    #: text in the log (since the latest start) that says the process is ready
    ready_marker: str | None = None
    ready_timeout: float = 60.0

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    # -- state -----------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.proc is not None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_text(self, since_start: bool = True) -> str:
        """The log (by default only what the latest start wrote)."""
        try:
            with open(self.log_path, "rb") as fh:
                if since_start:
                    fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 15) -> str:
        text = self.log_text(since_start=False).splitlines()[-lines:]
        return "\n".join(f"  {self.name}| {line}" for line in text)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Launch the process (does not wait for readiness; see ``wait_ready``)."""
        if self.running:
            raise StackError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as fh:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            fh.write(f"=== {stamp} start #{self.starts + 1}: {' '.join(self.argv)}\n".encode())
            fh.flush()
            self._log_offset = fh.tell()
            # Own session: a Ctrl-C in the demo's terminal reaches only the demo, which then
            # stops its children in order (agents first) instead of all at once.
            self.proc = subprocess.Popen(
                self.argv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                # and if the demo itself is SIGKILLed, its children follow instead of orphaning
                preexec_fn=die_with_parent,  # one syscall; libc loaded before the fork
            )
        self.starts += 1

    def is_ready(self) -> bool:
        return self.ready_marker is None or self.ready_marker in self.log_text()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the log says ready; ``StackError`` if it exits first or times out."""
        if self.proc is None:
            raise StackError(f"{self.name} was never started")
        wait_until(
            self.is_ready,
            timeout=timeout or self.ready_timeout,
            what=f"{self.name} to be ready",
            interval=0.05,
            watch=[self],
        )

    def stop(self, timeout: float = 30.0, *, check: bool = True) -> int | None:
        """SIGTERM and wait. If it does not exit in ``timeout``: SIGKILL, and with ``check``
        raise ``StackError`` (a process that ignores SIGTERM is a bug worth reporting)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            if check:
                raise StackError(
                    f"{self.name} did not exit within {timeout:g}s of SIGTERM (killed)\n"
                    f"{self.tail()}"
                ) from None
            return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (a crash, a power cut) and reap."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait()

    def restart(self, *, wait_ready: bool = True, timeout: float = 30.0) -> None:
        """Stop (SIGTERM) if running, start again with the same arguments and data dir."""
        if self.running:
            self.stop(timeout)
        self.start()
        if wait_ready:
            self.wait_ready()
