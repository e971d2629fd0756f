"""Supporting documents (lab reports, settlement slips): content-addressed, referenced by
signed batches, and holding back the ack until they are stored.

Transport (DESIGN.md "Evidence beyond meters"; README "Documents"): a batch's submission
readings name documents by SHA-256 (``evidence.documents``); the agent publishes each
document's raw bytes on ``mrv/v1/{site}/{agent}/document/{sha256}`` right after the batch,
and keeps both until the collector's ack covers the batch. The collector

* records, in the same ingest group as the batch, which documents each batch references;
* accepts a document only if its bytes hash to the topic's digest and a stored batch of
  that agent references it (anything else is quarantined with its reason);
* acks an agent only up to the last seq before the first batch whose documents are not all
  stored — so an agent never deletes a batch (or a document) the collector lacks, and a
  document lost anywhere on the way is republished with its batch.

Documents are files ``DIR/SHA256`` (written to a temporary name, fsynced, renamed), so the
same bytes are stored once however many batches reference them. The reference index lives
in a small SQLite file beside them (``documents.sqlite``), separate from the evidence store's
tables.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from protocols.payload import BatchPayload

__all__ = ["DocumentRef", "DocumentStore", "document_refs"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refs (
    site TEXT NOT NULL, agent TEXT NOT NULL, seq INTEGER NOT NULL, sha256 TEXT NOT NULL,
    name TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (site, agent, seq, sha256)
);
CREATE INDEX IF NOT EXISTS refs_sha ON refs (sha256);
CREATE TABLE IF NOT EXISTS documents (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, stored_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DocumentRef:
    site: str
    agent: str
    seq: int
    sha256: str
    name: str
    media_type: str
    size: int


def document_refs(site: str, agent: str, payload: BatchPayload) -> list[DocumentRef]:
    """The documents a batch's submission readings reference."""
    out: dict[str, DocumentRef] = {}
    for r in payload.readings:
        if r.evidence is None:
            continue
        for d in r.evidence.documents:
            out.setdefault(
                d.sha256,
                DocumentRef(site, agent, payload.seq, d.sha256, d.name, d.media_type, d.size),
            )
    return list(out.values())


class DocumentStore:
    """Content-addressed document files plus the index of which batch references which."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._path = self.dir / "documents.sqlite"
        self._local = threading.local()
        db = self._conn()
        db.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        """One connection per thread (ingest worker, web handlers, record builder)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    # -- writes --------------------------------------------------------------------------

    def add_refs(self, refs: Iterable[DocumentRef]) -> None:
        rows = [(r.site, r.agent, r.seq, r.sha256, r.name, r.media_type, r.size) for r in refs]
        if rows:
            db = self._conn()
            db.executemany("INSERT OR IGNORE INTO refs VALUES (?,?,?,?,?,?,?)", rows)

    def referenced(self, site: str, agent: str, sha256: str) -> DocumentRef | None:
        db = self._conn()
        row = db.execute(
            "SELECT site, agent, seq, sha256, name, media_type, size FROM refs "
            "WHERE site=? AND agent=? AND sha256=? ORDER BY seq LIMIT 1",
            (site, agent, sha256),
        ).fetchone()
        return None if row is None else DocumentRef(*row)

    def put(self, sha256: str, data: bytes, at_ms: int) -> bool:
        """Store the bytes under their digest (checked); False if already stored."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("bytes do not hash to the digest")
        dest = self.dir / sha256
        if self.has(sha256):
            return False
        tmp = self.dir / f".{sha256}.{threading.get_ident()}.tmp"
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        db = self._conn()
        db.execute("INSERT OR IGNORE INTO documents VALUES (?,?,?)", (sha256, len(data), at_ms))
        return True

    # -- reads ---------------------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        db = self._conn()
        row = db.execute("SELECT 1 FROM documents WHERE sha256=?", (sha256,)).fetchone()
        return row is not None and (self.dir / sha256).is_file()

    def read(self, sha256: str) -> bytes | None:
        if not self.has(sha256):
            return None
        return (self.dir / sha256).read_bytes()

    def ack_limit(self, site: str, agent: str, through: int) -> int:
        """``through`` lowered to just before the first batch ≤ ``through`` whose referenced
        documents are not all stored."""
        db = self._conn()
        row = db.execute(
            "SELECT MIN(r.seq) FROM refs r LEFT JOIN documents d ON d.sha256 = r.sha256 "
            "WHERE r.site=? AND r.agent=? AND r.seq <= ? AND d.sha256 IS NULL",
            (site, agent, through),
        ).fetchone()
        first_missing = row[0] if row else None
        return through if first_missing is None else min(through, first_missing - 1)

    def refs_of(self, site: str, agents: Iterable[str] | None = None) -> list[DocumentRef]:
        db = self._conn()
        rows = db.execute(
            "SELECT site, agent, seq, sha256, name, media_type, size FROM refs "
            "WHERE site=? ORDER BY agent, seq, sha256",
            (site,),
        ).fetchall()
        wanted = None if agents is None else set(agents)
        return [DocumentRef(*r) for r in rows if wanted is None or r[1] in wanted]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
