"""Seals and submissions of site-months, append-only beside the record versions.

Like ``records`` (collector/records/versions.py) this table lives in the evidence store's
database file and is never updated or deleted: a month sealed twice (after a rebuild) or
submitted again has two rows, and the latest row of each kind is the one that counts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["MonthEvent", "MonthEvents"]

Kind = Literal["sealed", "submitted"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS month_events (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    month TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('sealed', 'submitted')),
    version INTEGER NOT NULL,
    record_sha256 TEXT NOT NULL,
    at INTEGER NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS month_events_site_month ON month_events (site, month, kind, id);
CREATE TRIGGER IF NOT EXISTS month_events_no_update BEFORE UPDATE ON month_events
BEGIN SELECT RAISE(ABORT, 'month events are never changed'); END;
CREATE TRIGGER IF NOT EXISTS month_events_no_delete BEFORE DELETE ON month_events
BEGIN SELECT RAISE(ABORT, 'month events are never deleted'); END;
"""


@dataclass(frozen=True, slots=True)
class MonthEvent:
    site: str
    month: str
    kind: Kind
    version: int
    record_sha256: str
    at: int
    by: str
    reason: str = ""
    receipt: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MonthEvents:
    """Append-only log of seals and submissions."""

    def __init__(self, database: Path | str) -> None:
        self._db = sqlite3.connect(Path(database), isolation_level=None, timeout=30)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MonthEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, e: MonthEvent) -> None:
        self._db.execute(
            "INSERT INTO month_events (site, month, kind, version, record_sha256, at, by, "
            "reason, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.site, e.month, e.kind, e.version, e.record_sha256, e.at, e.by, e.reason, e.receipt),
        )

    def list(self, site: str | None = None, month: str | None = None) -> list[MonthEvent]:
        rows = self._db.execute(
            "SELECT site, month, kind, version, record_sha256, at, by, reason, receipt "
            "FROM month_events WHERE (?1 IS NULL OR site = ?1) AND (?2 IS NULL OR month = ?2) "
            "ORDER BY site, month, id",
            (site, month),
        ).fetchall()
        return [MonthEvent(*r) for r in rows]

    def latest(self, site: str, month: str, kind: Kind) -> MonthEvent | None:
        row = self._db.execute(
            "SELECT site, month, kind, version, record_sha256, at, by, reason, receipt "
            "FROM month_events WHERE site = ? AND month = ? AND kind = ? ORDER BY id DESC LIMIT 1",
            (site, month, kind),
        ).fetchone()
        return None if row is None else MonthEvent(*row)
