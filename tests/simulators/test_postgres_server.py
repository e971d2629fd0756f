"""Debian's PostgreSQL for tests and the demo: as root it runs as ``postgres``, so its
directory must be reachable by that user; under a private directory it moves to the system
temp directory instead of failing in initdb."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from simulators.postgres_server import PostgresServer, postgres_available, reachable_by


def test_reachable_by_needs_every_directory_on_the_way() -> None:
    base = Path(tempfile.mkdtemp())  # under the system temp dir, which everyone may cross
    try:
        inner = base / "a" / "b"
        inner.mkdir(parents=True)
        base.chmod(0o755)
        (base / "a").chmod(0o755)
        other = 65534  # a user that owns nothing here
        assert reachable_by(inner, other, set())
        (base / "a").chmod(0o700)
        assert not reachable_by(inner, other, set())
        st = (base / "a").stat()
        assert reachable_by(inner, st.st_uid, set())  # the owner may
        (base / "a").chmod(0o710)
        assert reachable_by(inner, other, {st.st_gid})  # so may its group
        assert not reachable_by(base / "missing", st.st_uid, set())
    finally:
        shutil.rmtree(base)


def test_a_private_base_directory_moves_to_the_temp_dir(tmp_path: Path) -> None:
    if not postgres_available():
        pytest.fail("postgresql is not installed; run .ci/run (it installs the test servers)")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with PostgresServer(private) as pg:
        if os.geteuid() == 0:
            assert pg.moved_from == private
            assert pg.dir.parent == Path(tempfile.gettempdir())
        else:
            assert pg.moved_from is None and pg.dir.parent == private
        with psycopg.connect(pg.create_database("moved")) as db:
            assert db.execute("SELECT 1").fetchone() == (1,)


def test_a_stack_removes_a_moved_server_when_it_closes(tmp_path: Path) -> None:
    """A server moved out of a private DATA_DIR is never found again: closing the stack
    must not leave its directory (owned by ``postgres``) in the system temp directory."""
    if not postgres_available():
        pytest.fail("postgresql is not installed; run .ci/run (it installs the test servers)")
    from simulators.stack import Stack

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    stack = Stack(private)
    url = stack.start_postgres()
    with psycopg.connect(url) as db:
        assert db.execute("SELECT 1").fetchone() == (1,)
    assert stack.postgres is not None
    where = stack.postgres.dir
    assert where.exists()
    assert stack.close() == []
    if os.geteuid() == 0:
        assert not where.exists()  # moved to the temp dir, so removed
    else:
        assert where.exists() and where.parent == private  # kept with the stack's data
