"""Supporting documents in the evidence store, one implementation for both backends.

Two tables: ``documents`` (the bytes, content-addressed by SHA-256, stored once however many
batches name them) and ``document_refs`` (which signed batch references which digest, with
the name, media type and size it signed and the reading's timestamp); a third, small one,
``document_waits``, holds the references whose bytes are not stored yet, so the ack check
every ingest group makes is one query over a table that is almost always empty, not one
join per agent over every reference ever made (it is brought in line with the other two
when the store opens, and a wait whose document is stored meanwhile is ignored: two agents'
transactions, under their own locks, may reference and store one shared digest at once). Both live in the
evidence store's database, so every collector of a group sharing a PostgreSQL store sees
the documents any of them received, and the record build finds them wherever it runs.

The SQL is the subset SQLite and PostgreSQL share (``ON CONFLICT DO NOTHING``,
``length()`` of a blob); only the placeholder and the blob type differ, so both backends
run this module's statements on their own connection instead of keeping two copies.

Concurrency: writes from ingest run inside the backend's ingest transaction. On PostgreSQL
that transaction holds the ingest lock of every agent of its topics (a document topic names
its site and agent), so a document arriving at one collector and the batch referencing it
at another are decided one after the other: either the batch's references are committed
when the document is checked (stored), or the document's quarantined copy is committed when
the references are added (taken from there, ``from_quarantine``). The bytes are
content-addressed and shared: two agents' transactions inserting the same digest at once
meet on its primary key (the second waits, then inserts nothing).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from collector.models import DocumentRef, StoredDocument
from collector.store.interface import StoreError

__all__ = ["UNREFERENCED", "DocumentIngest", "DocumentSql", "DocumentTable", "ack_limit", "schema"]

#: Quarantine reason of a document no stored batch of its agent referenced (yet).
UNREFERENCED = "document_unreferenced"

_REF_COLS = "site, agent, seq, sha256, name, media_type, size, ts"


def schema(blob: str) -> str:
    """The two tables, in the backend's blob type (``BLOB`` / ``BYTEA``)."""
    return f"""
CREATE TABLE IF NOT EXISTS documents (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    stored_at BIGINT NOT NULL,
    data {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS document_refs (
    site TEXT NOT NULL,
    agent TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (site, agent, seq, sha256)
);
CREATE INDEX IF NOT EXISTS document_refs_sha ON document_refs (sha256);
CREATE INDEX IF NOT EXISTS document_refs_time ON document_refs (site, ts);
CREATE TABLE IF NOT EXISTS document_waits (
    site TEXT NOT NULL,
    agent TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (site, agent, seq, sha256)
);
INSERT INTO document_waits (site, agent, seq, sha256)
SELECT r.site, r.agent, r.seq, r.sha256 FROM document_refs r
WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.sha256 = r.sha256)
ON CONFLICT DO NOTHING;
DELETE FROM document_waits WHERE sha256 IN (SELECT sha256 FROM documents);
"""


def _ref(row: tuple[Any, ...]) -> DocumentRef:
    return DocumentRef(*row)


class DocumentSql:
    """The document statements on one connection (``sqlite3`` or ``psycopg``); ``ph`` is
    the backend's placeholder. Stateless: safe to share between threads."""

    def __init__(self, ph: str) -> None:
        self.ph = ph

    def _q(self, sql: str) -> str:
        return sql if self.ph == "?" else sql.replace("?", self.ph)

    # -- writes ------------------------------------------------------------------------
    def add_refs(self, db: Any, refs: Iterable[DocumentRef]) -> None:
        sql = self._q(
            f"INSERT INTO document_refs ({_REF_COLS}) VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT DO NOTHING"
        )
        wait = self._q(
            "INSERT INTO document_waits (site, agent, seq, sha256) SELECT ?, ?, ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM documents WHERE sha256 = ?) ON CONFLICT DO NOTHING"
        )
        for r in refs:
            db.execute(sql, (r.site, r.agent, r.seq, r.sha256, r.name, r.media_type, r.size, r.ts))
            db.execute(wait, (r.site, r.agent, r.seq, r.sha256, r.sha256))

    def put(self, db: Any, sha256: str, data: bytes, at: int) -> bool:
        """Store the bytes under their digest (checked first); False if already stored."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"document {sha256[:16]}…: the bytes do not hash to the digest")
        cur = db.execute(
            self._q(
                "INSERT INTO documents (sha256, size, stored_at, data) VALUES (?,?,?,?) "
                "ON CONFLICT DO NOTHING"
            ),
            (sha256, len(data), at, data),
        )
        if cur.rowcount != 1:
            return False
        db.execute(self._q("DELETE FROM document_waits WHERE sha256 = ?"), (sha256,))
        return True

    def from_quarantine(self, db: Any, refs: Iterable[DocumentRef], at: int) -> list[str]:
        """Store every referenced, not yet stored document whose whole bytes wait in the
        quarantine as ``document_unreferenced`` from the same agent (it arrived, at this
        collector or another of the group, before its batch); the digests stored."""
        out: list[str] = []
        for r in refs:
            if r.sha256 in out or self.has(db, r.sha256):
                continue
            row = db.execute(
                self._q(
                    "SELECT raw FROM quarantine WHERE site = ? AND agent = ? AND reason = ? "
                    "AND sha256 = ? AND size = length(raw) ORDER BY id LIMIT 1"
                ),
                (r.site, r.agent, UNREFERENCED, r.sha256),
            ).fetchone()
            if row is not None and self.put(db, r.sha256, bytes(row[0]), at):
                out.append(r.sha256)
        return out

    # -- reads -------------------------------------------------------------------------
    def referenced(self, db: Any, site: str, agent: str, sha256: str) -> bool:
        row = db.execute(
            self._q(
                "SELECT 1 FROM document_refs WHERE site = ? AND agent = ? AND sha256 = ? LIMIT 1"
            ),
            (site, agent, sha256),
        ).fetchone()
        return row is not None

    def has(self, db: Any, sha256: str) -> bool:
        row = db.execute(self._q("SELECT 1 FROM documents WHERE sha256 = ?"), (sha256,))
        return row.fetchone() is not None

    def read(self, db: Any, sha256: str) -> bytes | None:
        row = db.execute(self._q("SELECT data FROM documents WHERE sha256 = ?"), (sha256,))
        found = row.fetchone()
        return None if found is None else bytes(found[0])

    def info(self, db: Any, sha256: str) -> StoredDocument | None:
        row = db.execute(
            self._q("SELECT sha256, size, stored_at FROM documents WHERE sha256 = ?"), (sha256,)
        ).fetchone()
        return None if row is None else StoredDocument(*row)

    def list(self, db: Any) -> builtins.list[StoredDocument]:
        rows = db.execute("SELECT sha256, size, stored_at FROM documents ORDER BY sha256")
        return [StoredDocument(*r) for r in rows.fetchall()]

    def refs(
        self,
        db: Any,
        site: str | None,
        agent: str | None,
        start: int | None,
        end: int | None,
    ) -> builtins.list[DocumentRef]:
        where, args = [], []
        for cond, value in (
            ("site = ?", site),
            ("agent = ?", agent),
            ("ts >= ?", start),
            ("ts < ?", end),
        ):
            if value is not None:
                where.append(cond)
                args.append(value)
        sql = f"SELECT {_REF_COLS} FROM document_refs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY site, agent, seq, sha256"
        return [_ref(r) for r in db.execute(self._q(sql), tuple(args)).fetchall()]

    def held(self, db: Any) -> dict[tuple[str, str], int]:
        """Per agent, the first seq whose referenced documents are not all stored (agents
        with every document stored are absent)."""
        rows = db.execute(
            "SELECT w.site, w.agent, MIN(w.seq) FROM document_waits w "
            "WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.sha256 = w.sha256) "
            "GROUP BY w.site, w.agent"
        ).fetchall()
        return {(site, agent): int(seq) for site, agent, seq in rows}


def ack_limit(held: dict[tuple[str, str], int], site: str, agent: str, through: int) -> int:
    """``through`` lowered to just before the first batch ≤ ``through`` whose referenced
    documents are not all stored (the agent keeps both until the ack covers them)."""
    first_missing = held.get((site, agent))
    return through if first_missing is None else min(through, first_missing - 1)


class DocumentIngest:
    """The document writes and reads of an ingest transaction (``IngestTransaction``), for
    a backend's transaction class that has ``db`` (its open connection) and sets ``docs``.

    ``ack_limit`` reads the waiting documents once per transaction (every agent of a group
    is then answered from memory) and again after a document write."""

    db: Any
    docs: ClassVar[DocumentSql]
    _held: dict[tuple[str, str], int] | None = None

    def _locked(self, site: str, agent: str) -> None:
        """Raise unless this transaction holds the agent's ingest lock (PostgreSQL's
        per-agent locks; SQLite has one writer and holds them all)."""

    def reference_documents(self, refs: Iterable[DocumentRef]) -> None:
        refs = builtins.list(refs)
        for r in refs:
            self._locked(r.site, r.agent)
        self._held = None
        self.docs.add_refs(self.db, refs)

    def document_referenced(self, site: str, agent: str, sha256: str) -> bool:
        self._locked(site, agent)
        return self.docs.referenced(self.db, site, agent, sha256)

    def store_document(self, sha256: str, data: bytes, at: int) -> bool:
        # content-addressed and shared between agents: a concurrent insert of the same
        # digest waits for the other transaction, then inserts nothing
        self._held = None
        return self.docs.put(self.db, sha256, data, at)

    def documents_from_quarantine(self, refs: Iterable[DocumentRef], at: int) -> builtins.list[str]:
        refs = builtins.list(refs)
        for r in refs:
            self._locked(r.site, r.agent)
        self._held = None
        return self.docs.from_quarantine(self.db, refs, at)

    def ack_limit(self, site: str, agent: str, through: int) -> int:
        """Answered for agents whose locks this transaction holds; their waits cannot change
        under it (another agent's may, and are not asked here)."""
        self._locked(site, agent)
        if self._held is None:
            self._held = self.docs.held(self.db)
        return ack_limit(self._held, site, agent, through)


class DocumentTable:
    """``store.documents`` on either backend: ``reader()`` lends a connection that sees
    committed data, ``writer()`` one inside a write transaction."""

    def __init__(
        self,
        sql: DocumentSql,
        reader: Callable[[], contextlib.AbstractContextManager[Any]],
        writer: Callable[[], contextlib.AbstractContextManager[Any]],
    ) -> None:
        self._sql = sql
        self._reader = reader
        self._writer = writer

    def add(self, sha256: str, data: bytes, stored_at: int) -> bool:
        with self._writer() as db:
            return self._sql.put(db, sha256, data, stored_at)

    def add_refs(self, refs: Iterable[DocumentRef]) -> None:
        refs = builtins.list(refs)
        if refs:
            with self._writer() as db:
                self._sql.add_refs(db, refs)

    def read(self, sha256: str) -> bytes | None:
        with self._reader() as db:
            return self._sql.read(db, sha256)

    def info(self, sha256: str) -> StoredDocument | None:
        with self._reader() as db:
            return self._sql.info(db, sha256)

    def list(self) -> builtins.list[StoredDocument]:
        with self._reader() as db:
            return self._sql.list(db)

    def refs(
        self,
        site: str | None = None,
        *,
        agent: str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> builtins.list[DocumentRef]:
        with self._reader() as db:
            return self._sql.refs(db, site, agent, start, end)
