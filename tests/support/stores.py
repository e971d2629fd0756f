"""A fresh evidence store URL per test, on either backend (the contract is the same)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from collector.store import sqlite_url

BACKENDS = ("sqlite", "postgresql")
_names = itertools.count(1)


def fresh_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    """An empty store: a new SQLite file, or a new database on the session's PostgreSQL."""
    if backend == "sqlite":
        return sqlite_url(tmp_path / "evidence.sqlite")
    server: Any = request.getfixturevalue("postgres")
    return str(server.create_database(f"mrv_{next(_names)}"))
