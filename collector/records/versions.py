"""Record versions, kept forever in the evidence store's SQLite file.

The ``EvidenceStore`` interface has no records table, so this module owns one (``records``)
in the same database file, written through its own connection: append-only, one row per
(site, month, version), with the exact record.json and record.jws bytes. A rebuilt month
gets the next version and names its predecessor's hash; nothing is updated or deleted.
A PostgreSQL backend would carry the same table.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RecordVersion", "RecordVersions"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    site TEXT NOT NULL,
    month TEXT NOT NULL,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    reason TEXT NOT NULL,
    record_sha256 TEXT NOT NULL,
    bundle_dir TEXT,
    record_json BLOB NOT NULL,
    record_jws BLOB NOT NULL,
    PRIMARY KEY (site, month, version)
);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'record versions are never changed'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'record versions are never deleted'); END;
"""


@dataclass(frozen=True, slots=True)
class RecordVersion:
    site: str
    month: str
    version: int
    created: int
    reason: str
    record_sha256: str
    bundle_dir: str | None


class RecordVersions:
    """Append-only table of built records."""

    def __init__(self, database: Path | str) -> None:
        self.path = Path(database)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RecordVersions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def latest(self, site: str, month: str) -> RecordVersion | None:
        row = self._db.execute(
            "SELECT site, month, version, created, reason, record_sha256, bundle_dir "
            "FROM records WHERE site = ? AND month = ? ORDER BY version DESC LIMIT 1",
            (site, month),
        ).fetchone()
        return None if row is None else RecordVersion(*row)

    def list(self, site: str | None = None, month: str | None = None) -> list[RecordVersion]:
        rows = self._db.execute(
            "SELECT site, month, version, created, reason, record_sha256, bundle_dir "
            "FROM records WHERE (?1 IS NULL OR site = ?1) AND (?2 IS NULL OR month = ?2) "
            "ORDER BY site, month, version",
            (site, month),
        ).fetchall()
        return [RecordVersion(*r) for r in rows]

    def add(
        self,
        v: RecordVersion,
        record_json: bytes,
        record_jws: bytes,
    ) -> None:
        """Insert a new version; fails if that version already exists (never overwritten)."""
        self._db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                v.site,
                v.month,
                v.version,
                v.created,
                v.reason,
                v.record_sha256,
                v.bundle_dir,
                record_json,
                record_jws,
            ),
        )

    def files(self, site: str, month: str, version: int) -> tuple[bytes, bytes] | None:
        """The stored record.json and record.jws bytes of one version."""
        row = self._db.execute(
            "SELECT record_json, record_jws FROM records WHERE site = ? AND month = ? "
            "AND version = ?",
            (site, month, version),
        ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))
