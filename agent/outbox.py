"""The durable outbox: every signed batch is committed here before it is published.

SQLite in WAL mode with ``synchronous=FULL``: in WAL mode FULL fsyncs the WAL on every
commit, so a committed batch survives kill -9 *and* power loss (NORMAL would survive kill -9
but could lose the last commits on power loss, which would let a restarted agent reuse a seq
it had already published — an equivocation). One commit per batch keeps the fsync cost small.

What is stored: per batch its seq, prev, payload hash, creation time, number of readings and
the envelope, from which the bytes exactly as published come back; the chain head (seq, hash)
and the highest acked seq in ``meta``; and a snapshot of derived-parameter state, committed in
the same transaction as the batch that reflects it, so a restart neither double-counts nor
forgets a running total.

The outbox is the agent's own, so while batches pile up (an outage: ``PACK_BACKLOG``) an
envelope is kept compact (``form`` 1): its protected header, its 64-byte signature and its
payload bytes (not their base64) deflated with a dictionary, an earlier payload of this
agent (``zdicts``: ids, keys and number prefixes then cost a few bits each). The envelope
is rebuilt byte for byte from those parts (``_unpack``); one whose bytes would not come
back so, and those committed while the collector keeps up, are kept as published
(``form`` 0).

Batches are deleted only by ``ack(through)``. Limits (``max_bytes``, ``max_age_days``, free
disk) never silently drop evidence: with ``on_full: keep`` the agent alarms and keeps
everything; with ``drop_oldest`` it deletes the oldest unacked batches and reports the range.

Not thread-safe by design: the agent uses it from one dedicated thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.packed import PACKED_HEAD as _PACKED_HEAD
from protocols.packed import pack as _pack
from protocols.packed import unpack as _unpack

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    prev TEXT,
    hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    committed_wall REAL NOT NULL,
    readings INTEGER NOT NULL,
    envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS derived_state (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zdicts (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    sha256 TEXT NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (sha256, seq)
);
"""
#: Columns added since the first schema (an outbox of an older agent gets them on open):
#: how the envelope is stored (0 as published, 1 packed) and the dictionary it was packed
#: with (None: none).
_ADDED_COLUMNS = (
    ("form", "INTEGER NOT NULL DEFAULT 0"),
    ("zdict", "INTEGER"),
)
_COLUMNS = "seq, prev, hash, created_ms, committed_wall, readings, envelope, form, zdict"

#: Deflate's window: a dictionary longer than this only costs memory.
_ZDICT_BYTES = 32 * 1024
#: A new dictionary (the payload being packed) after this many batches with the current
#: one, so one made before a configuration change does not stay forever.
ZDICT_BATCHES = 1024
#: Batches are packed once this many are unacked before them (an outage, a slow link).
PACK_BACKLOG = 2
#: SQLite page size of a new outbox file (bytes).
PAGE_SIZE = 1024


class OutboxError(Exception):
    """The outbox refused an operation (chain mismatch, identity mismatch)."""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    seq: int
    prev: str | None
    hash: str
    envelope: bytes
    #: The documents the batch references (published right after it), when read by
    #: ``unacked``.
    documents: tuple[DocumentRow, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchRow:
    """What the outbox keeps of a signed batch."""

    seq: int
    prev: str | None
    hash: str
    created_ms: int
    readings: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A document a batch references by digest; its bytes are ``documents/SHA256``."""

    sha256: str
    seq: int
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    batches: int
    bytes: int
    first_seq: int | None
    last_seq: int
    acked_through: int
    oldest_wall: float | None


class Outbox:
    def __init__(
        self,
        path: Path | str,
        *,
        site: str,
        agent: str,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Only a new file takes it (it must precede WAL mode; an older outbox keeps its 4 KiB
        # pages and works the same). 1 KiB pages: a packed one-minute batch (≈ 2 KB) would
        # leave most of a 4 KiB page empty, one row to a page (file 42 → 22 B/reading with
        # rows of 19.7, bench/payload_size.py); a larger row fills whole overflow pages.
        self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        self._db.execute("PRAGMA journal_mode=WAL")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # 256 KiB: an envelope is written once (blob I/O) and read back once by the publisher;
        # the cache need not hold batches, and every page it holds is resident memory.
        self._db.execute("PRAGMA cache_size=-256")
        self._db.executescript(SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(batches)")}
        for name, decl in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE batches ADD COLUMN {name} {decl}")
        self._identity(site, agent)
        self.head_seq, self.head_hash = self._load_head()
        #: The head when this process opened the outbox: batches up to it were committed
        #: (and perhaps published) by an earlier process; later ones only by this one.
        self.opened_head = self.head_seq
        self.acked_through = int(self._meta("acked_through") or 0)
        behind = self._meta("collector_ahead")
        self.collector_ahead: int | None = None if behind is None else int(behind)
        self._zdicts: dict[int, bytes] = {}  # the dictionaries read so far, by id
        #: The dictionary new batches are packed with (the newest; re-read under the write
        #: lock, as ``mrv-agent submit`` may append too), and how many batches used it.
        self._zdict: tuple[int, bytes] | None = None
        self._zdict_uses = 0
        #: Seqs up to this one are packed or were looked at for packing (in memory only: a
        #: rolled-back transaction or another process leaves a batch as published, no more).
        self._packed_through = 0

    # -- identity and head ---------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _identity(self, site: str, agent: str) -> None:
        """An outbox belongs to one (site, agent) chain; refuse to continue another's chain."""
        ident = f"{site}/{agent}"
        have = self._meta("identity")
        if have is None:
            self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (ident,))
        elif have != ident:
            raise OutboxError(
                f"outbox {self.path} holds the chain of {have}, not {ident}; use another data_dir"
            )

    def _load_head(self) -> tuple[int, str | None]:
        seq = self._meta("head_seq")
        return (int(seq), self._meta("head_hash")) if seq is not None else (0, None)

    # -- writing -------------------------------------------------------------------------

    def commit(
        self,
        seq: int,
        prev: str | None,
        hash_: str,
        created_ms: int,
        readings: int,
        envelope: bytes,
        derived_state: dict[str, Any] | None = None,
    ) -> None:
        """Durably append the next batch (and derived state) in one transaction."""
        self.commit_many(
            [BatchRow(seq, prev, hash_, created_ms, readings, envelope)], derived_state
        )

    def commit_many(
        self, rows: list[BatchRow], derived_state: dict[str, Any] | None = None
    ) -> None:
        """Durably append consecutive batches and the derived state in one transaction."""
        self.append(lambda seq, prev: rows, derived_state)

    def append(
        self,
        build: Callable[[int, str | None], list[BatchRow]],
        derived_state: dict[str, Any] | None = None,
        documents: list[DocumentRow] | None = None,
    ) -> list[BatchRow]:
        """Sign-and-append under SQLite's write lock: ``build(head_seq, head_hash)`` makes
        the rows from the head *as stored*, so two processes on one data directory
        (``mrv-agent run`` and ``mrv-agent submit``) extend one chain, one writer at a time.
        ``documents`` (which ``build`` may fill) are committed in the same transaction."""
        db = self._db
        zdict = self._zdict
        db.execute("BEGIN IMMEDIATE")
        try:
            self.head_seq, self.head_hash = self._load_head()
            rows = build(self.head_seq, self.head_hash)
            seq, head = self.head_seq, self.head_hash
            for row in rows:
                if row.seq != seq + 1 or row.prev != head:
                    raise OutboxError(
                        f"batch seq {row.seq} does not extend the chain head {seq} ({head})"
                    )
                seq, head = row.seq, row.hash
            self._newest_zdict()
            self._insert(rows, time.time())
            db.execute("INSERT OR REPLACE INTO meta VALUES ('head_seq', ?)", (str(seq),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('head_hash', ?)", (head or "",))
            if derived_state is not None:
                db.executemany(
                    "INSERT OR REPLACE INTO derived_state VALUES (?, ?)",
                    [(k, json.dumps(v, allow_nan=False)) for k, v in derived_state.items()],
                )
            if documents:
                db.executemany(
                    "INSERT OR IGNORE INTO documents VALUES (?,?,?,?)",
                    [(d.sha256, d.seq, d.name, d.size) for d in documents],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self.head_seq, self.head_hash = self._load_head()
            self._zdict = zdict  # a dictionary made in the rolled-back transaction is gone
            raise
        self.head_seq, self.head_hash = seq, head
        return rows

    def _insert(self, rows: list[BatchRow], now: float) -> None:
        """Insert ``rows`` (inside the caller's transaction), packed where they can be; a
        payload becomes the next dictionary when there is none or the current one is old."""
        db = self._db
        for r in rows:
            # while batches are acked as they come (backlog below PACK_BACKLOG) packing
            # would save no disk, only cost CPU (≈ 0.3 ms a batch of 1,000 readings)
            backlog = r.seq - 1 - self.acked_through >= PACK_BACKLOG
            if backlog:
                self._pack_backlog_start(r.seq)
            blob, form, zid = self._packed(r.envelope) if backlog else (r.envelope, 0, None)
            # The envelope goes into its row through incremental blob I/O: bound as a
            # parameter, SQLite would copy it and keep that copy in the cached statement
            # until the next commit.
            db.execute(
                f"INSERT INTO batches ({_COLUMNS}) VALUES (?,?,?,?,?,?,zeroblob(?),?,?)",
                (r.seq, r.prev, r.hash, r.created_ms, now, r.readings, len(blob), form, zid),
            )
            if blob:
                with db.blobopen("batches", "envelope", r.seq) as b:
                    b.write(blob)
            if form == 1:
                self._packed_through = r.seq

    def _packed(self, envelope: bytes) -> tuple[bytes, int, int | None]:
        """(stored bytes, form, dictionary id) of ``envelope`` packed with the current
        dictionary, or as it is (form 0) when it does not pack; makes a new dictionary of
        its payload when there is none or the current one is old."""
        zd = self._zdict
        packed = _pack(envelope, zd[1] if zd else None)
        if packed is None:
            return envelope, 0, None
        self._zdict_uses += 1
        if zd is None or self._zdict_uses >= ZDICT_BATCHES:
            data = packed[1][-_ZDICT_BYTES:]
            cur = self._db.execute("INSERT INTO zdicts (data) VALUES (?)", (data,))
            assert cur.lastrowid is not None
            self._zdict, self._zdict_uses = (cur.lastrowid, data), 0
        return packed[0], 1, zd[0] if zd else None

    def _pack_backlog_start(self, seq: int) -> None:
        """A backlog has begun (``seq`` is packed): pack the first ``PACK_BACKLOG``
        batches after the acked one too, kept as published while an ack was still
        expected (a 30-minute outage of the demo's batches: 33 → 27 B a reading on disk).
        Once per backlog: the seqs up to one packed already are not looked at again."""
        start = max(self.acked_through, self._packed_through)
        end = min(seq, self.acked_through + PACK_BACKLOG + 1)
        if start + 1 >= end:
            return
        db = self._db
        rows = db.execute(
            "SELECT seq, envelope FROM batches WHERE seq > ? AND seq < ? AND form = 0 ORDER BY seq",
            (start, end),
        ).fetchall()
        for old, envelope in rows:
            blob, form, zid = self._packed(bytes(envelope))
            if form == 1:
                db.execute(
                    "UPDATE batches SET envelope = zeroblob(?), form = 1, zdict = ? WHERE seq = ?",
                    (len(blob), zid, old),
                )
                with db.blobopen("batches", "envelope", old) as b:
                    b.write(blob)
        self._packed_through = end - 1

    def _newest_zdict(self) -> None:
        """Pack with the newest dictionary in the file (another process may have made it)."""
        (zid,) = self._db.execute("SELECT MAX(id) FROM zdicts").fetchone()
        if zid is None:
            self._zdict = None
        elif self._zdict is None or self._zdict[0] != zid:
            data = self._zdict_data(zid)
            assert data is not None
            self._zdict, self._zdict_uses = (zid, data), 0

    def _zdict_data(self, zid: int | None) -> bytes | None:
        if zid is None:
            return None
        data = self._zdicts.get(zid)
        if data is None:
            row = self._db.execute("SELECT data FROM zdicts WHERE id=?", (zid,)).fetchone()
            if row is None:
                raise OutboxError(f"outbox {self.path}: dictionary {zid} of a batch is missing")
            data = self._zdicts[zid] = bytes(row[0])
        return data

    def _envelope(self, blob: bytes, form: int, zid: int | None) -> bytes:
        """The envelope exactly as published, from its stored form."""
        return _unpack(blob, self._zdict_data(zid)) if form == 1 else blob

    def _drop_unused_zdicts(self) -> None:
        """Delete the dictionaries no batch needs any more (inside the caller's
        transaction): batches use ever newer ones, so those older than the oldest batch's,
        but never the current one."""
        row = self._db.execute(
            "SELECT zdict FROM batches WHERE zdict IS NOT NULL ORDER BY seq LIMIT 1"
        ).fetchone()
        (newest,) = self._db.execute("SELECT MAX(id) FROM zdicts").fetchone()
        ids = [x for x in (row and row[0], newest) if x]
        keep = min(ids) if ids else None
        if keep is None:
            self._db.execute("DELETE FROM zdicts")
        else:
            self._db.execute("DELETE FROM zdicts WHERE id < ?", (keep,))
        for zid in [z for z in self._zdicts if keep is None or z < keep]:
            del self._zdicts[zid]

    def refresh(self) -> bool:
        """Re-read head and ack state another process (``mrv-agent submit``) may have moved;
        True when the head moved."""
        before = self.head_seq
        self.head_seq, self.head_hash = self._load_head()
        self.acked_through = max(self.acked_through, int(self._meta("acked_through") or 0))
        return self.head_seq != before

    # -- documents -----------------------------------------------------------------------

    @property
    def documents_dir(self) -> Path:
        return self.path.parent / "documents"

    def documents_of(self, seq: int) -> list[DocumentRow]:
        """The documents batch ``seq`` references (published right after it)."""
        return [
            DocumentRow(*r)
            for r in self._db.execute(
                "SELECT sha256, seq, name, size FROM documents WHERE seq=? ORDER BY sha256",
                (seq,),
            )
        ]

    def pending_documents(self) -> list[DocumentRow]:
        """Documents of unacked batches: kept until the collector's ack covers them."""
        return [
            DocumentRow(*r)
            for r in self._db.execute(
                "SELECT sha256, seq, name, size FROM documents ORDER BY seq, sha256"
            )
        ]

    def ack(self, through: int) -> int:
        """Delete every batch with seq ≤ ``through``; return how many were deleted."""
        through = min(through, self.head_seq)  # an ack beyond our head is someone else's
        if through <= self.acked_through:
            return 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute("DELETE FROM batches WHERE seq <= ?", (through,))
            gone = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT sha256 FROM documents WHERE seq <= ?", (through,)
                )
            ]
            db.execute("DELETE FROM documents WHERE seq <= ?", (through,))
            keep = {r[0] for r in db.execute("SELECT DISTINCT sha256 FROM documents")}
            db.execute("INSERT OR REPLACE INTO meta VALUES ('acked_through', ?)", (str(through),))
            self._drop_unused_zdicts()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.acked_through = through
        for sha in gone:
            if sha not in keep:  # the collector's ack covers the batch and its documents
                with contextlib.suppress(FileNotFoundError):
                    (self.documents_dir / sha).unlink()
        return cur.rowcount

    def ack_if_held(self, through: int, hash_: str) -> int | None:
        """``ack(through)`` if the batch this outbox holds at ``through`` (if any) has the
        payload hash the collector's ack names; None, deleting nothing, if it has another
        (one call on the outbox thread for what the publisher does with every ack)."""
        held = self.batch_hash(through)
        if held is not None and held != hash_:
            return None
        return self.ack(through)

    def mark_collector_ahead(self, through: int) -> None:
        """The collector holds batches up to ``through`` beyond this outbox's head: commits
        that were published were lost (power cut with unsynced writes, a restored or wiped
        data dir). Reusing those seqs would be an equivocation, so the mark is persisted and
        the publisher stops publishing until an operator resolves it (new chain identity)."""
        if self.collector_ahead is not None and self.collector_ahead >= through:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('collector_ahead', ?)", (str(through),)
        )
        self.collector_ahead = through

    def batch_hash(self, seq: int) -> str | None:
        """The payload hash of the batch this outbox holds at ``seq`` (None if not held)."""
        if seq == self.head_seq and self.head_hash:
            return self.head_hash
        row = self._db.execute("SELECT hash FROM batches WHERE seq=?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def continue_after(
        self,
        through: int,
        hash_: str,
        resign: Callable[[bytes, int, str], BatchRow],
    ) -> list[tuple[int, int]]:
        """The collector holds (signed ack) every batch up to ``through``, beyond this
        outbox's head: a power cut took commits it had already stored. Continue the chain at
        ``through + 1`` with ``prev = hash_`` (DESIGN.md "Delivery"), no operator needed.

        Batches up to ``opened_head`` were committed by an earlier process and published as
        committed, so the collector's copies are these bytes: they are acknowledged. Batches
        this process committed since (new readings under seqs the collector already holds)
        are signed again, unchanged but for seq and prev, by ``resign(envelope, seq, prev)``
        and kept: nothing is lost and no seq is reused. Returns ``(old seq, new seq)`` pairs.
        """
        if through <= self.head_seq:
            raise OutboxError(f"ack {through} is not beyond the head {self.head_seq}")
        rows = self._db.execute(
            "SELECT seq, envelope, form, zdict FROM batches WHERE seq > ? ORDER BY seq",
            (max(self.opened_head, self.acked_through),),
        ).fetchall()
        seq, head = through, hash_
        new: list[BatchRow] = []
        moved: list[tuple[int, int]] = []
        for old_seq, blob, form, zid in rows:
            row = resign(self._envelope(bytes(blob), form, zid), seq + 1, head)
            new.append(row)
            moved.append((old_seq, row.seq))
            seq, head = row.seq, row.hash
        db = self._db
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM batches")
            self._insert(new, now)
            for k, v in (
                ("head_seq", str(seq)),
                ("head_hash", head),
                ("acked_through", str(through)),
            ):
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, v))
            db.execute("DELETE FROM meta WHERE k = 'collector_ahead'")
            self._drop_unused_zdicts()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.head_seq, self.head_hash = seq, head
        self.acked_through = through
        self.opened_head = through
        self.collector_ahead = None
        return moved

    def drop_oldest(self, count: int) -> tuple[int, int] | None:
        """Delete the ``count`` oldest unacked batches (limit policy); return the seq range."""
        rows = self._db.execute("SELECT seq FROM batches ORDER BY seq LIMIT ?", (count,)).fetchall()
        if not rows:
            return None
        first, last = rows[0][0], rows[-1][0]
        self._db.execute("DELETE FROM batches WHERE seq BETWEEN ? AND ?", (first, last))
        self._drop_unused_zdicts()
        return first, last

    # -- reading -------------------------------------------------------------------------

    def unacked(
        self, after: int = 0, limit: int = 100, max_bytes: int | None = None
    ) -> list[StoredBatch]:
        """Unacked batches with seq > ``after``, in seq order.

        At most ``limit`` batches and, with ``max_bytes``, no more envelope bytes than that
        (but always at least one batch): 5,000-reading envelopes are up to ~0.6 MB each, so a
        count limit alone would hold megabytes in memory while they are published one by one.
        """
        after = max(after, self.acked_through)
        # Stored lengths first (length() does not load a blob), then each chosen blob read
        # straight into its bytes object: a SELECT of the blob would first load it into an
        # SQLite buffer and copy it from there, and would load one more only to drop it.
        out: list[StoredBatch] = []
        size = 0
        for seq, prev, hash_, n, form, zid in self._db.execute(
            "SELECT seq, prev, hash, length(envelope), form, zdict FROM batches WHERE seq > ? "
            "ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall():
            with self._db.blobopen("batches", "envelope", seq, readonly=True) as blob:
                if form == 1:  # the budget counts envelopes as published
                    n = _PACKED_HEAD.unpack(blob.read(_PACKED_HEAD.size))[0]
                    blob.seek(0)
                if out and max_bytes is not None and size + n > max_bytes:
                    break
                out.append(StoredBatch(seq, prev, hash_, self._envelope(blob.read(), form, zid)))
            size += n
        if out and self._has_documents():
            docs: dict[int, list[DocumentRow]] = {}
            for r in self._db.execute(
                "SELECT sha256, seq, name, size FROM documents WHERE seq BETWEEN ? AND ? "
                "ORDER BY seq, sha256",
                (out[0].seq, out[-1].seq),
            ):
                docs.setdefault(r[1], []).append(DocumentRow(*r))
            out = [
                StoredBatch(b.seq, b.prev, b.hash, b.envelope, tuple(docs.get(b.seq, ())))
                for b in out
            ]
        return out

    def _has_documents(self) -> bool:
        return self._db.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is not None

    def iter_all(self) -> Iterator[StoredBatch]:
        for r in self._db.execute(
            "SELECT seq, prev, hash, envelope, form, zdict FROM batches ORDER BY seq"
        ):
            yield StoredBatch(r[0], r[1], r[2], self._envelope(bytes(r[3]), r[4], r[5]))

    def derived_state(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT k, v FROM derived_state")}

    def stats(self) -> OutboxStats:
        n, size, first, oldest = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(envelope)), 0), MIN(seq), MIN(committed_wall) "
            "FROM batches"
        ).fetchone()
        return OutboxStats(n, size, first, self.head_seq, self.acked_through, oldest)

    def free_disk_bytes(self) -> int:
        """Room for new batches: the disk's free bytes and the outbox file's own free pages
        (SQLite reuses them before it grows the file; a drained backlog leaves its pages
        free, the file does not shrink), so they do not read as a full disk — with
        ``on_full: drop_oldest`` that would delete unacked batches for nothing."""
        (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
        (size,) = self._db.execute("PRAGMA page_size").fetchone()
        return shutil.disk_usage(self.path.parent).free + int(free) * int(size)

    def close(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def outbox_path(data_dir: Path) -> Path:
    return Path(os.fspath(data_dir)) / "outbox.sqlite3"


@dataclass(frozen=True, slots=True)
class OutboxHead:
    """What an outbox holds, as another process sees it: highest committed seq, highest
    acked seq, batches still held."""

    head_seq: int
    acked_through: int
    pending: int


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to a live outbox (None before the agent created it)."""
    if not path.exists():
        yield None
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        yield None
        return
    try:
        db.execute("PRAGMA query_only = 1")
        yield db
    finally:
        db.close()


def read_head(path: Path) -> OutboxHead | None:
    """Read a live outbox's head without writing to it (None before the agent created it).

    For observers in other processes (the demo stack, tests); the agent itself uses
    ``Outbox``.
    """
    with _read_only(path) as db:
        if db is None:
            return None
        try:
            meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
            (pending,) = db.execute("SELECT count(*) FROM batches").fetchone()
        except sqlite3.OperationalError:
            return None
    return OutboxHead(
        int(meta.get("head_seq") or 0), int(meta.get("acked_through") or 0), int(pending)
    )


def read_held_hashes(path: Path) -> dict[int, str]:
    """seq → payload hash of every batch a live outbox still holds (not yet acked), read
    without writing to it; empty before the agent created it.

    For observers in other processes: a fault test compares them with what the collector
    stored, to prove no seq was ever signed twice with different contents.
    """
    with _read_only(path) as db:
        if db is None:
            return {}
        try:
            rows = db.execute("SELECT seq, hash FROM batches ORDER BY seq").fetchall()
        except sqlite3.OperationalError:
            return {}
    return {int(seq): str(h) for seq, h in rows}
