"""Debian's PostgreSQL server in a temporary data directory, for tests and the demo.

``initdb`` + ``postgres`` from ``/usr/lib/postgresql/15/bin``, run as the ``postgres`` user
when we are root (the server refuses to run as root), listening only on 127.0.0.1 on a free
port, its unix socket in the data directory (not /var/run/postgresql), trust
authentication for local connections only (``pg_hba.conf`` written here: host 127.0.0.1/32
and the socket, nothing else). ``fsync`` stays on: the store's durability is what is tested.

As root the server's directory must be reachable by ``postgres``: under a private
directory (``/root``, pytest's ``/tmp/pytest-of-root``) it is made in the system temp
directory instead (``moved_from`` names the one asked for).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PG_BIN", "PostgresServer", "postgres_available"]

PG_BIN = Path(os.environ.get("MRV_PG_BIN", "/usr/lib/postgresql/15/bin"))


def postgres_available() -> bool:
    return (PG_BIN / "postgres").exists() and (PG_BIN / "initdb").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable_by(path: Path, uid: int, gids: set[int]) -> bool:
    """Whether a user may traverse every directory from ``/`` down to ``path``."""
    for d in (path, *path.parents):
        try:
            st = d.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in gids:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


class PostgresServer:
    """One throw-away server; ``url(db)`` gives a ``postgresql://`` URL for a database."""

    def __init__(self, base: Path | None = None, *, port: int | None = None) -> None:
        if not postgres_available():
            raise RuntimeError(f"PostgreSQL not found in {PG_BIN} (apt-get install postgresql)")
        self._as_postgres = os.geteuid() == 0
        self.moved_from: Path | None = None
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            gids = {pw.pw_gid, *os.getgrouplist("postgres", pw.pw_gid)}
            if base is not None and not reachable_by(Path(base).resolve(), pw.pw_uid, gids):
                self.moved_from, base = Path(base), None
        self.dir = Path(tempfile.mkdtemp(prefix="mrv-pg-", dir=base))
        self.data = self.dir / "data"
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if self._as_postgres:
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.log = self.dir / "postgres.log"

    def _argv(self, *argv: str) -> list[str]:
        if not self._as_postgres:
            return list(argv)
        # setpriv execs (no fork), so the pid we hold is the server's own
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]

    def start(self, timeout: float = 60.0) -> PostgresServer:
        if not self.data.exists():
            done = subprocess.run(
                self._argv(
                    str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                    "-A", "trust", "-E", "UTF8", "--no-locale", "--no-instructions",
                ),
                capture_output=True, timeout=120,
            )  # fmt: skip
            if done.returncode != 0:
                why = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
                last = why[-1] if why else f"exit status {done.returncode}"
                raise RuntimeError(f"initdb in {self.data} failed: {last}")
            (self.data / "pg_hba.conf").write_text(
                "local all all trust\nhost all all 127.0.0.1/32 trust\n"
            )
        log = open(self.log, "ab")  # noqa: SIM115 (kept open for the server's lifetime)
        self.proc = subprocess.Popen(
            self._argv(
                str(PG_BIN / "postgres"), "-D", str(self.data),
                "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                "-c", f"unix_socket_directories={self.dir}",
                "-c", "max_connections=60", "-c", "shared_buffers=32MB",
                "-c", "logging_collector=off",
            ),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited {self.proc.returncode}: {self.log_tail()}")
            ok = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                capture_output=True,
            )
            if ok.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready after {timeout}s: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, n: int = 10) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (an identifier we choose) and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, then exit cleanly)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); children notice and exit, restart recovers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
