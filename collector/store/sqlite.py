"""The evidence store on one SQLite file in WAL mode (the default backend, no server).

Writes of one ingest group share one transaction (``ingest()``), so one commit covers many
batches; the caller publishes acks only after the ``with`` block has committed. Reads use a
connection per thread and see only committed data, so the web UI and the record builder can
read while ingest writes. One collector process writes at a time; several collectors share
a PostgreSQL store instead (``collector.store.postgresql``).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from itertools import repeat
from pathlib import Path
from typing import Any

from collector.models import (
    AgentState,
    EnrolledKey,
    MonthEvent,
    MonthEventKind,
    QuarantineEntry,
    RecordVersion,
    SeriesBucket,
    SeriesInfo,
    SeriesPoint,
    StatusSummary,
    StoredEnvelope,
    StoredEvent,
    StoredLink,
    StoredReading,
    TokenInfo,
    now_ms,
)
from collector.pipeline import Accepted, Quarantined
from collector.store.documents import DocumentIngest, DocumentSql, DocumentTable
from collector.store.documents import schema as documents_schema
from collector.store.interface import StoreError
from collector.store.rules import (
    QUARANTINE_COLS,
    SCHEMA_VERSION,
    check_reenrolment,
    enrolment,
    gaps_above,
    quarantine_row,
    received_envelope,
    restored_quarantine_row,
    schema_upgrade,
    stored_envelope,
    ts_range,
)
from protocols.chain import ChainLink, ChainTracker
from protocols.compact import BatchReadings
from protocols.ids import validate_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    agent TEXT NOT NULL,
    contiguous_through INTEGER NOT NULL DEFAULT 0,
    head_hash TEXT,
    acked_through INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER,
    online INTEGER,
    status TEXT,
    status_at INTEGER,
    UNIQUE (site, agent)
);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    agent TEXT NOT NULL,
    jwk TEXT NOT NULL,
    valid_from INTEGER,
    valid_to INTEGER,
    revoked_at INTEGER,
    enrolled_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_agent ON keys (site, agent);
CREATE TABLE IF NOT EXISTS envelopes (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    seq INTEGER NOT NULL,
    prev TEXT,
    hash TEXT NOT NULL,
    kid TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    created INTEGER NOT NULL,
    n_readings INTEGER NOT NULL,
    first_ts INTEGER,
    last_ts INTEGER,
    envelope BLOB NOT NULL,
    form INTEGER NOT NULL DEFAULT 0,
    UNIQUE (agent_id, seq)
);
CREATE INDEX IF NOT EXISTS envelopes_time ON envelopes (agent_id, first_ts, last_ts);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    param TEXT NOT NULL,
    UNIQUE (agent_id, param)
);
CREATE TABLE IF NOT EXISTS readings (
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    value REAL,
    quality TEXT NOT NULL,
    reason TEXT,
    count INTEGER,
    expected INTEGER,
    min REAL,
    max REAL,
    PRIMARY KEY (series_id, ts, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    agent_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    t INTEGER,
    ts INTEGER,
    start INTEGER,
    "end" INTEGER,
    cell TEXT,
    peak_v REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (agent_id, t);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    topic TEXT NOT NULL,
    site TEXT,
    agent TEXT,
    kid TEXT,
    seq INTEGER,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_agent ON quarantine (site, agent, reason);
CREATE TABLE IF NOT EXISTS mirror_cursor (name TEXT PRIMARY KEY, envelope_id INTEGER NOT NULL);
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
CREATE TABLE IF NOT EXISTS web_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'verifier', 'admin')),
    sites       TEXT NOT NULL,            -- JSON list of site ids; ignored for admin
    token_hash  TEXT NOT NULL UNIQUE,     -- lowercase hex SHA-256 of the token
    hint        TEXT NOT NULL,            -- first characters, to tell tokens apart in lists
    created_at  INTEGER NOT NULL,         -- UTC epoch ms
    revoked_at  INTEGER,
    last_used_at INTEGER
);
"""

_ENV_COLS = (
    "a.site, a.agent, e.seq, e.prev, e.hash, e.kid, e.received_at, e.created, "
    "e.n_readings, e.first_ts, e.last_ts, e.envelope, e.id, e.form"
)
_Q_COLS = f"id, {QUARANTINE_COLS}"
_DOCS = DocumentSql("?")
_FULL_ROW = "INSERT OR IGNORE INTO readings VALUES (?,?,?,?,?,?,?,?,?,?)"
_PLAIN_ROW = (
    "INSERT OR IGNORE INTO readings (series_id, ts, seq, value, quality) VALUES (?,?,?,?,?)"
)


def _key_from_row(row: sqlite3.Row | tuple[Any, ...]) -> EnrolledKey:
    site, agent, kid, jwk, vf, vt, rev, enrolled = row
    return EnrolledKey(site, agent, kid, json.loads(jwk), vf, vt, rev, enrolled)


def _envelope(row: tuple[Any, ...]) -> StoredEnvelope:
    env = received_envelope(row[11], row[13])
    return StoredEnvelope(*row[:11], envelope=env, id=row[12])  # type: ignore[misc]


class _SqliteIngest(DocumentIngest):
    """The open transaction of ``SqliteEvidenceStore.ingest``; holds the write lock."""

    docs = _DOCS
    db: sqlite3.Connection

    def __init__(self, store: SqliteEvidenceStore, keep_bytes: int) -> None:
        self.store = store
        self.db = store._write
        self.keep_bytes = keep_bytes
        self.touched: set[tuple[str, str]] = set()

    def key_for_kid(self, kid: str) -> EnrolledKey | None:
        row = self.db.execute(
            "SELECT site, agent, kid, jwk, valid_from, valid_to, revoked_at, enrolled_at "
            "FROM keys WHERE kid = ?",
            (kid,),
        ).fetchone()
        return None if row is None else _key_from_row(row)

    def stored_link(self, site: str, agent: str, seq: int) -> StoredLink | None:
        agent_id = self.store._agent_ids.get((site, agent))
        if agent_id is None:
            row = self.db.execute(
                "SELECT id FROM agents WHERE site = ? AND agent = ?", (site, agent)
            ).fetchone()
            if row is None:
                return None
            agent_id = row[0]
        row = self.db.execute(
            "SELECT seq, prev, hash FROM envelopes WHERE agent_id = ? AND seq = ?",
            (agent_id, seq),
        ).fetchone()
        return None if row is None else StoredLink(*row)

    def contiguous_through(self, site: str, agent: str) -> int:
        return self.store._tracker(site, agent).contiguous_through

    def seen(self, site: str, agent: str, at: int) -> None:
        agent_id = self.store._agent_id(site, agent)
        self.db.execute(
            "UPDATE agents SET last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?",
            (at, agent_id),
        )

    def mark_acked(self, site: str, agent: str, through: int) -> None:
        agent_id = self.store._agent_id(site, agent)
        self.db.execute(
            "UPDATE agents SET acked_through = max(acked_through, ?) WHERE id = ?",
            (through, agent_id),
        )

    def store_batch(self, batch: Accepted, received_at: int) -> None:
        store = self.store
        agent_id = store._agent_id(batch.site, batch.agent)
        p = batch.payload
        readings = p.readings
        columns = readings if isinstance(readings, BatchReadings) else None
        first_ts, last_ts = ts_range(readings)
        cur = self.db.execute(
            "INSERT INTO envelopes (agent_id, seq, prev, hash, kid, received_at, created, "
            "n_readings, first_ts, last_ts, envelope, form) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                agent_id,
                batch.seq,
                batch.prev,
                batch.hash,
                batch.kid,
                received_at,
                p.created,
                len(readings),
                first_ts,
                last_ts,
                *stored_envelope(batch.envelope),
            ),
        )
        del cur
        series_ids = store._series_ids
        seq = batch.seq
        # Rows in payload order, in runs of one shape: a reading without reason and
        # aggregates is bound as 5 values, not 10 (binding is most of executemany's cost).
        runs: list[tuple[str, list[Any]]] = []

        def run(sql: str) -> list[Any]:
            if not runs or runs[-1][0] is not sql:
                runs.append((sql, []))
            return runs[-1][1]

        if columns is not None:  # a v2 batch: rows a column at a time, no object per reading
            for c in columns.series:
                n = len(c.value)
                sids: Iterable[int]
                if type(c.id) is str:
                    sid = series_ids.get((agent_id, c.id))
                    sids = repeat(store._series_id(agent_id, c.id) if sid is None else sid, n)
                else:  # plain v1 readings, in payload order
                    sids = [
                        series_ids.get((agent_id, i)) or store._series_id(agent_id, i) for i in c.id
                    ]
                if all(
                    col.count(None) == n for col in (c.reason, c.count, c.expected, c.min, c.max)
                ):
                    run(_PLAIN_ROW).extend(
                        zip(sids, c.ts, repeat(seq, n), c.value, c.quality, strict=True)
                    )
                    continue
                run(_FULL_ROW).extend(
                    zip(
                        sids, c.ts, repeat(seq, n), c.value, c.quality, c.reason, c.count,
                        c.expected, c.min, c.max, strict=True,
                    )
                )  # fmt: skip
            readings = columns.rest
        if readings:
            rows = run(_FULL_ROW)
            for r in readings:
                sid = series_ids.get((agent_id, r.id))
                if sid is None:
                    sid = store._series_id(agent_id, r.id)
                rows.append(
                    (sid, r.ts, seq, r.value, r.quality, r.reason, r.count, r.expected, r.min,
                     r.max)
                )  # fmt: skip
        # The same (series, ts) twice in one batch is legal but the key needs it unique:
        # the first is kept (the runs are inserted in payload order).
        for sql, rows in runs:
            self.db.executemany(sql, rows)
        if p.events:
            ev_rows = []
            for ev in p.events:
                data = ev.model_dump(mode="json", exclude_none=True)
                t = ev.start if ev.start is not None else ev.ts
                cell = None if ev.cell is None else str(ev.cell)
                ev_rows.append(
                    (
                        agent_id,
                        seq,
                        ev.type,
                        t,
                        ev.ts,
                        ev.start,
                        ev.end,
                        cell,
                        ev.peak_v,
                        json.dumps(data),
                    )
                )
            self.db.executemany(
                'INSERT INTO events (agent_id, seq, type, t, ts, start, "end", cell, peak_v, data) '
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                ev_rows,
            )
        tracker = store._tracker(batch.site, batch.agent)
        before = tracker.contiguous_through
        tracker.add(ChainLink(seq, batch.prev, batch.hash))
        self.touched.add((batch.site, batch.agent))
        if tracker.contiguous_through != before:
            self.db.execute(
                "UPDATE agents SET contiguous_through = ?, head_hash = ? WHERE id = ?",
                (tracker.contiguous_through, tracker.head_hash, agent_id),
            )

    def quarantine(self, rejected: Quarantined, received_at: int) -> None:
        self.db.execute(
            f"INSERT INTO quarantine ({QUARANTINE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            quarantine_row(rejected, received_at, self.keep_bytes),
        )

    def restore_quarantine(self, entry: QuarantineEntry) -> None:
        self.db.execute(
            f"INSERT INTO quarantine ({QUARANTINE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            restored_quarantine_row(entry, self.keep_bytes),
        )


class SqliteEvidenceStore:
    """``EvidenceStore`` on one SQLite file in WAL mode; safe to share between threads."""

    url_scheme = "sqlite"

    def __init__(self, path: Path | str, *, quarantine_keep_bytes: int = 1024 * 1024) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.quarantine_keep_bytes = quarantine_keep_bytes
        self._lock = threading.RLock()
        self._write = self._connect()
        self._write.execute("PRAGMA journal_mode = WAL")
        with self._lock:
            self._write.executescript(_SCHEMA)  # idempotent: CREATE ... IF NOT EXISTS
            self._write.executescript(documents_schema("BLOB"))
            self._migrate()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._agent_ids: dict[tuple[str, str], int] = {}
        self._series_ids: dict[tuple[int, str], int] = {}
        self._trackers: dict[tuple[str, str], ChainTracker] = {}
        self._closed = False
        self.records = _SqliteRecords(self)
        self.tokens = _SqliteTokens(self)
        self.month_events = _SqliteMonthEvents(self)
        self.documents = DocumentTable(
            _DOCS, lambda: contextlib.nullcontext(self._read), self._transaction
        )

    def _migrate(self) -> None:
        """Bring a store made by an older collector to ``SCHEMA_VERSION`` (in one write
        transaction, so two collectors opening it at once migrate it once)."""
        db = self._write
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            old = schema_upgrade(None if row is None else row[0], str(self.path))
            if old is not None and old < 2:
                cols = {r[1] for r in db.execute("PRAGMA table_info(envelopes)")}
                if "form" not in cols:
                    db.execute("ALTER TABLE envelopes ADD COLUMN form INTEGER NOT NULL DEFAULT 0")
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA busy_timeout = 30000")
        # FULL, not WAL's usual NORMAL: an ack tells the agent to delete its copy, so a
        # committed batch must survive power loss too, not only a process crash.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = OFF")
        return db

    @property
    def _read(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only = ON")
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for db in self._readers:
                db.close()
            self._write.close()

    def __enter__(self) -> SqliteEvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- caches (only touched under the write lock) ----------------------------------
    def _agent_id(self, site: str, agent: str) -> int:
        agent_id = self._agent_ids.get((site, agent))
        if agent_id is not None:
            return agent_id
        row = self._write.execute(
            "SELECT id FROM agents WHERE site = ? AND agent = ?", (site, agent)
        ).fetchone()
        if row is None:
            validate_id(site, "site id")
            validate_id(agent, "agent id")
            row = self._write.execute(
                "INSERT INTO agents (site, agent) VALUES (?, ?) RETURNING id", (site, agent)
            ).fetchone()
        self._agent_ids[(site, agent)] = row[0]
        return int(row[0])

    def _series_id(self, agent_id: int, param: str) -> int:
        row = self._write.execute(
            "SELECT id FROM series WHERE agent_id = ? AND param = ?", (agent_id, param)
        ).fetchone()
        if row is None:
            row = self._write.execute(
                "INSERT INTO series (agent_id, param) VALUES (?, ?) RETURNING id",
                (agent_id, param),
            ).fetchone()
        self._series_ids[(agent_id, param)] = row[0]
        return int(row[0])

    def _tracker(self, site: str, agent: str) -> ChainTracker:
        """The agent's chain, rebuilt from the table on first use after start or rollback."""
        tracker = self._trackers.get((site, agent))
        if tracker is not None:
            return tracker
        agent_id = self._agent_id(site, agent)
        through, head = self._write.execute(
            "SELECT contiguous_through, head_hash FROM agents WHERE id = ?", (agent_id,)
        ).fetchone()
        tracker = ChainTracker(through, head, {})
        for seq, prev, h in self._write.execute(
            "SELECT seq, prev, hash FROM envelopes WHERE agent_id = ? AND seq > ? ORDER BY seq",
            (agent_id, through),
        ):
            tracker.add(ChainLink(seq, prev, h))
        if tracker.contiguous_through != through:
            self._write.execute(
                "UPDATE agents SET contiguous_through = ?, head_hash = ? WHERE id = ?",
                (tracker.contiguous_through, tracker.head_hash, agent_id),
            )
        self._trackers[(site, agent)] = tracker
        return tracker

    def _forget_caches(self) -> None:
        self._agent_ids.clear()
        self._series_ids.clear()
        self._trackers.clear()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("evidence store is closed")
            self._write.execute("BEGIN IMMEDIATE")
            try:
                yield self._write
            except BaseException:
                self._write.rollback()
                self._forget_caches()
                raise
            try:
                self._write.commit()
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._write.rollback()
                self._forget_caches()
                raise

    # -- ingest ------------------------------------------------------------------------
    @contextlib.contextmanager
    def ingest(self, agents: Iterable[tuple[str, str]] | None = None) -> Iterator[_SqliteIngest]:
        # one writer at a time on SQLite: the agents named need no locks of their own
        with self._transaction():
            yield _SqliteIngest(self, self.quarantine_keep_bytes)

    def record_status(
        self, site: str, agent: str, online: bool, status: dict[str, Any] | None, at: int
    ) -> None:
        with self._transaction() as db:
            agent_id = self._agent_id(site, agent)
            if online:
                db.execute(
                    "UPDATE agents SET online = 1, status = ?, status_at = ?, "
                    "last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?",
                    (json.dumps(status), at, at, agent_id),
                )
            else:
                db.execute(
                    "UPDATE agents SET online = 0, status_at = ? WHERE id = ?", (at, agent_id)
                )

    def mark_acked(self, site: str, agent: str, through: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE agents SET acked_through = max(acked_through, ?) WHERE site = ? AND agent = ?",
                (through, site, agent),
            )

    # -- keys --------------------------------------------------------------------------
    def enroll_key(
        self,
        site: str,
        agent: str,
        jwk: dict[str, Any],
        *,
        valid_from: int | None = None,
        valid_to: int | None = None,
        enrolled_at: int | None = None,
    ) -> EnrolledKey:
        """Bind a public key to exactly one site and agent; re-enrolling updates its period."""
        kid, clean = enrolment(site, agent, jwk, valid_from, valid_to)
        with self._transaction() as db:
            row = db.execute(
                "SELECT site, agent, revoked_at FROM keys WHERE kid = ?", (kid,)
            ).fetchone()
            if row is not None:
                check_reenrolment(kid, site, agent, row)
                db.execute(
                    "UPDATE keys SET valid_from = ?, valid_to = ? WHERE kid = ?",
                    (valid_from, valid_to, kid),
                )
            else:
                db.execute(
                    "INSERT INTO keys VALUES (?,?,?,?,?,?,NULL,?)",
                    (
                        kid,
                        site,
                        agent,
                        json.dumps(clean),
                        valid_from,
                        valid_to,
                        enrolled_at or now_ms(),
                    ),
                )
            self._agent_id(site, agent)
        key = self.key(kid)
        assert key is not None
        return key

    def revoke_key(self, kid: str, *, at: int | None = None) -> EnrolledKey:
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE keys SET revoked_at = coalesce(revoked_at, ?) WHERE kid = ?",
                (at if at is not None else now_ms(), kid),
            )
            if cur.rowcount == 0:
                raise StoreError(f"kid {kid} is not enrolled")
        key = self.key(kid)
        assert key is not None
        return key

    def key(self, kid: str) -> EnrolledKey | None:
        row = self._read.execute(
            "SELECT site, agent, kid, jwk, valid_from, valid_to, revoked_at, enrolled_at "
            "FROM keys WHERE kid = ?",
            (kid,),
        ).fetchone()
        return None if row is None else _key_from_row(row)

    def keys(self, site: str | None = None, agent: str | None = None) -> list[EnrolledKey]:
        rows = self._read.execute(
            "SELECT site, agent, kid, jwk, valid_from, valid_to, revoked_at, enrolled_at "
            "FROM keys WHERE (?1 IS NULL OR site = ?1) AND (?2 IS NULL OR agent = ?2) "
            "ORDER BY site, agent, enrolled_at",
            (site, agent),
        ).fetchall()
        return [_key_from_row(r) for r in rows]

    # -- queries -----------------------------------------------------------------------
    def sites(self) -> list[str]:
        return [r[0] for r in self._read.execute("SELECT DISTINCT site FROM agents ORDER BY site")]

    def _agent_rows(self, site: str | None, agent: str | None) -> list[tuple[Any, ...]]:
        return self._read.execute(
            "SELECT id, site, agent, contiguous_through, head_hash, acked_through, last_seen, "
            "online, status, status_at FROM agents "
            "WHERE (?1 IS NULL OR site = ?1) AND (?2 IS NULL OR agent = ?2) ORDER BY site, agent",
            (site, agent),
        ).fetchall()

    def _agent_state(self, row: tuple[Any, ...]) -> AgentState:
        db = self._read
        agent_id, site, agent, through, head, acked, last_seen, online, status, status_at = row
        seqs = [
            r[0]
            for r in db.execute(
                "SELECT seq FROM envelopes WHERE agent_id = ? AND seq > ? ORDER BY seq",
                (agent_id, through),
            )
        ]
        gaps = gaps_above(through, seqs)
        (stored,) = db.execute(
            "SELECT count(*) FROM envelopes WHERE agent_id = ?", (agent_id,)
        ).fetchone()
        quarantined, equivocations = db.execute(
            "SELECT count(*), coalesce(sum(reason = 'equivocation'), 0) FROM quarantine "
            "WHERE site = ? AND agent = ?",
            (site, agent),
        ).fetchone()
        kids = [
            r[0]
            for r in db.execute(
                "SELECT kid FROM keys WHERE site = ? AND agent = ? AND revoked_at IS NULL",
                (site, agent),
            )
        ]
        return AgentState(
            site=site,
            agent=agent,
            contiguous_through=through,
            head_hash=head,
            acked_through=acked,
            highest_seq=seqs[-1] if seqs else through,
            stored_batches=stored,
            gaps=gaps,
            quarantined=quarantined,
            equivocations=equivocations,
            last_seen=last_seen,
            online=None if online is None else bool(online),
            status=json.loads(status) if status else None,
            status_at=status_at,
            kids=kids,
        )

    def agents(self, site: str | None = None) -> list[AgentState]:
        return [self._agent_state(r) for r in self._agent_rows(site, None)]

    def agent_state(self, site: str, agent: str) -> AgentState | None:
        rows = self._agent_rows(site, agent)
        return self._agent_state(rows[0]) if rows else None

    def series(self, site: str, agent: str | None = None) -> list[SeriesInfo]:
        out = []
        for sid, a_site, a_agent, param in self._read.execute(
            "SELECT s.id, a.site, a.agent, s.param FROM series s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.site = ?1 AND (?2 IS NULL OR a.agent = ?2) ORDER BY a.agent, s.param",
            (site, agent),
        ).fetchall():
            count, first, last = self._read.execute(
                "SELECT count(*), min(ts), max(ts) FROM readings WHERE series_id = ?", (sid,)
            ).fetchone()
            out.append(SeriesInfo(a_site, a_agent, param, count, first, last))
        return out

    def readings(
        self,
        site: str,
        start: int | None = None,
        end: int | None = None,
        *,
        param: str | None = None,
        agent: str | None = None,
    ) -> Iterator[StoredReading]:
        """Readings with ``start <= ts < end``, ordered by agent, parameter, ts, seq."""
        lo = start if start is not None else -(2**62)
        hi = end if end is not None else 2**62
        series = self._read.execute(
            "SELECT s.id, a.agent, s.param FROM series s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.site = ?1 AND (?2 IS NULL OR a.agent = ?2) AND (?3 IS NULL OR s.param = ?3) "
            "ORDER BY a.agent, s.param",
            (site, agent, param),
        ).fetchall()
        for sid, a_agent, a_param in series:
            cur = self._read.execute(
                "SELECT ts, value, quality, reason, count, expected, min, max, seq FROM readings "
                "WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts, seq",
                (sid, lo, hi),
            )
            while chunk := cur.fetchmany(4096):
                for ts, value, quality, reason, count, expected, mn, mx, seq in chunk:
                    yield StoredReading(
                        site,
                        a_agent,
                        a_param,
                        ts,
                        value,
                        quality,
                        reason,
                        count,
                        expected,
                        mn,
                        mx,
                        seq,
                    )

    def events(
        self,
        site: str,
        start: int | None = None,
        end: int | None = None,
        *,
        type: str | None = None,
        agent: str | None = None,
    ) -> list[StoredEvent]:
        """Events whose start (or ts) lies in ``[start, end)``, in time order."""
        lo = start if start is not None else -(2**62)
        hi = end if end is not None else 2**62
        rows = self._read.execute(
            'SELECT a.site, a.agent, e.seq, e.type, e.ts, e.start, e."end", e.cell, e.peak_v, e.data '
            "FROM events e JOIN agents a ON a.id = e.agent_id "
            "WHERE a.site = ?1 AND (?2 IS NULL OR a.agent = ?2) AND (?3 IS NULL OR e.type = ?3) "
            "AND e.t >= ?4 AND e.t < ?5 ORDER BY e.t, a.agent, e.seq",
            (site, agent, type, lo, hi),
        ).fetchall()
        return [StoredEvent(*r[:9], data=json.loads(r[9])) for r in rows]  # type: ignore[misc]

    def envelopes(
        self, site: str, agent: str, first_seq: int = 1, last_seq: int | None = None
    ) -> Iterator[StoredEnvelope]:
        """Stored envelopes of one agent in seq order (gaps simply absent)."""
        cur = self._read.execute(
            f"SELECT {_ENV_COLS} FROM envelopes e JOIN agents a ON a.id = e.agent_id "
            "WHERE a.site = ? AND a.agent = ? AND e.seq >= ? AND e.seq <= ? ORDER BY e.seq",
            (site, agent, first_seq, last_seq if last_seq is not None else 2**62),
        )
        while chunk := cur.fetchmany(256):
            yield from (_envelope(r) for r in chunk)

    def envelopes_in_range(
        self, site: str, start: int, end: int, *, agent: str | None = None
    ) -> Iterator[StoredEnvelope]:
        """Envelopes holding at least one reading with ``start <= ts < end``, per agent by seq."""
        cur = self._read.execute(
            f"SELECT {_ENV_COLS} FROM envelopes e JOIN agents a ON a.id = e.agent_id "
            "WHERE a.site = ?1 AND (?2 IS NULL OR a.agent = ?2) "
            "AND e.first_ts < ?4 AND e.last_ts >= ?3 ORDER BY a.agent, e.seq",
            (site, agent, start, end),
        )
        while chunk := cur.fetchmany(256):
            yield from (_envelope(r) for r in chunk)

    def envelopes_after(self, after_id: int, limit: int) -> list[StoredEnvelope]:
        """Envelopes in storage order after ``after_id``: the mirror's feed."""
        rows = self._read.execute(
            f"SELECT {_ENV_COLS} FROM envelopes e JOIN agents a ON a.id = e.agent_id "
            "WHERE e.id > ? ORDER BY e.id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [_envelope(r) for r in rows]

    def quarantine_entries(
        self,
        *,
        site: str | None = None,
        agent: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[QuarantineEntry]:
        """Newest first; page with ``before_id`` = the last id of the previous page."""
        rows = self._read.execute(
            f"SELECT {_Q_COLS} FROM quarantine WHERE (?1 IS NULL OR site = ?1) "
            "AND (?2 IS NULL OR agent = ?2) AND (?3 IS NULL OR reason = ?3) "
            "AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5",
            (site, agent, reason, before_id, limit),
        ).fetchall()
        return [QuarantineEntry(*r[:11], raw=bytes(r[11])) for r in rows]  # type: ignore[misc]

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None:
        row = self._read.execute(
            f"SELECT {_Q_COLS} FROM quarantine WHERE id = ?", (entry_id,)
        ).fetchone()
        return None if row is None else QuarantineEntry(*row[:11], raw=bytes(row[11]))  # type: ignore[misc]

    def status_summary(self) -> StatusSummary:
        by_reason = dict(
            self._read.execute(
                "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason"
            ).fetchall()
        )
        (unattributed,) = self._read.execute(
            "SELECT count(*) FROM quarantine WHERE site IS NULL OR agent IS NULL"
        ).fetchone()
        return StatusSummary(self.agents(), by_reason, unattributed)

    # -- mirror cursor -----------------------------------------------------------------
    def mirror_cursor(self, name: str) -> int:
        row = self._read.execute(
            "SELECT envelope_id FROM mirror_cursor WHERE name = ?", (name,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def try_lead(self, role: str) -> bool:
        """One collector writes a SQLite store: it leads every role."""
        return True

    def set_mirror_cursor(self, name: str, envelope_id: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO mirror_cursor VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                "SET envelope_id = max(envelope_id, excluded.envelope_id)",
                (name, envelope_id),
            )

    # -- time-series reads for the web UI -------------------------------------------------
    # GROUP BY bucket with MIN/MAX/AVG/COUNT inside SQLite, walking the readings primary key
    # (series_id, ts, seq): a month of one-minute data comes back as ~1000 buckets in
    # milliseconds instead of 43 200 Python objects.
    def _series_of(self, site: str, param: str, agent: str | None) -> list[int]:
        return [
            r[0]
            for r in self._read.execute(
                "SELECT s.id FROM series s JOIN agents a ON a.id = s.agent_id "
                "WHERE a.site = ?1 AND s.param = ?2 AND (?3 IS NULL OR a.agent = ?3) "
                "ORDER BY a.agent",
                (site, param, agent),
            )
        ]

    def _where(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> tuple[str, list[Any]]:
        ids = self._series_of(site, param, agent)
        marks = ",".join("?" * len(ids))
        return f"series_id IN ({marks}) AND ts >= ? AND ts < ?", [*ids, start, end]

    def series_names(self, site: str) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self._read.execute(
                "SELECT a.agent, s.param FROM series s JOIN agents a ON a.id = s.agent_id "
                "WHERE a.site = ? ORDER BY a.agent, s.param",
                (site,),
            )
        ]

    def latest_ts(self, site: str) -> int | None:
        """One index probe per series."""
        (last,) = self._read.execute(
            "SELECT max((SELECT max(ts) FROM readings r WHERE r.series_id = s.id)) "
            "FROM series s JOIN agents a ON a.id = s.agent_id WHERE a.site = ?",
            (site,),
        ).fetchone()
        return None if last is None else int(last)

    def recent_times(
        self, site: str, param: str, agent: str | None = None, limit: int = 64
    ) -> list[int]:
        ids = self._series_of(site, param, agent)
        if not ids:
            return []
        times = [
            r[0]
            for r in self._read.execute(
                "SELECT DISTINCT ts FROM readings WHERE series_id = ? ORDER BY ts DESC LIMIT ?",
                (ids[0], limit),
            )
        ]
        times.reverse()
        return times

    def bucket_stats(
        self, site: str, param: str, agent: str | None, start: int, end: int, width: int
    ) -> list[SeriesBucket]:
        where, args = self._where(site, param, agent, start, end)
        rows = self._read.execute(
            # An interval reading's own min/max (of its samples) widen the band: a spike
            # shorter than the interval still shows.
            f"SELECT (ts - ?) / ? AS b, avg(value), "
            f"min(CASE WHEN value IS NULL THEN NULL ELSE coalesce(min, value) END), "
            f"max(CASE WHEN value IS NULL THEN NULL ELSE coalesce(max, value) END), "
            f"count(value), coalesce(sum(quality != 'good'), 0), count(*) "
            f"FROM readings WHERE {where} GROUP BY b ORDER BY b",
            [start, width, *args],
        ).fetchall()
        return [SeriesBucket(*r) for r in rows]

    def points(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> list[SeriesPoint]:
        where, args = self._where(site, param, agent, start, end)
        rows = self._read.execute(
            f"SELECT ts, value, quality, CASE WHEN value IS NULL THEN NULL "
            f"ELSE coalesce(min, value) END, CASE WHEN value IS NULL THEN NULL "
            f"ELSE coalesce(max, value) END FROM readings WHERE {where} ORDER BY ts",
            args,
        ).fetchall()
        return [SeriesPoint(*r) for r in rows]

    def reading_times(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> Iterator[int]:
        where, args = self._where(site, param, agent, start, end)
        cur = self._read.execute(f"SELECT ts FROM readings WHERE {where} ORDER BY ts", args)
        while chunk := cur.fetchmany(4096):
            for (ts,) in chunk:
                yield ts

    def flagged_readings(
        self, site: str, param: str, agent: str | None, start: int, end: int, limit: int
    ) -> list[tuple[int, float | None, str, str | None]]:
        where, args = self._where(site, param, agent, start, end)
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._read.execute(
                f"SELECT ts, value, quality, reason FROM readings WHERE {where} "
                f"AND quality != 'good' ORDER BY ts LIMIT ?",
                [*args, limit],
            )
        ]

    def completeness_counts(
        self, site: str, param: str, start: int, end: int, valid_fraction: float
    ) -> tuple[int, int, int | None]:
        where, args = self._where(site, param, None, start, end)
        valid, n, last = self._read.execute(
            f"SELECT count(DISTINCT CASE WHEN value IS NOT NULL AND quality != 'bad' AND "
            f"(expected IS NULL OR expected = 0 OR count >= ? * expected) THEN ts END), "
            f"count(*), max(ts) FROM readings WHERE {where}",
            [valid_fraction - 1e-9, *args],
        ).fetchone()
        return int(valid), int(n), None if last is None else int(last)


_RECORD_COLS = "site, month, version, created, reason, record_sha256, bundle_dir"


class _SqliteRecords:
    """``RecordStore`` in the ``records`` table (triggers forbid UPDATE and DELETE)."""

    def __init__(self, store: SqliteEvidenceStore) -> None:
        self._store = store

    def latest(self, site: str, month: str) -> RecordVersion | None:
        row = self._store._read.execute(
            f"SELECT {_RECORD_COLS} FROM records WHERE site = ? AND month = ? "
            "ORDER BY version DESC LIMIT 1",
            (site, month),
        ).fetchone()
        return None if row is None else RecordVersion(*row)

    def list(self, site: str | None = None, month: str | None = None) -> list[RecordVersion]:
        rows = self._store._read.execute(
            f"SELECT {_RECORD_COLS} FROM records WHERE (?1 IS NULL OR site = ?1) "
            "AND (?2 IS NULL OR month = ?2) ORDER BY site, month, version",
            (site, month),
        ).fetchall()
        return [RecordVersion(*r) for r in rows]

    def add(self, v: RecordVersion, record_json: bytes, record_jws: bytes) -> None:
        try:
            with self._store._transaction() as db:
                db.execute(
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
        except sqlite3.IntegrityError:
            raise StoreError(
                f"record {v.site} {v.month} version {v.version} already exists"
            ) from None

    def files(self, site: str, month: str, version: int) -> tuple[bytes, bytes] | None:
        row = self._store._read.execute(
            "SELECT record_json, record_jws FROM records WHERE site = ? AND month = ? "
            "AND version = ?",
            (site, month, version),
        ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))


_MONTH_EVENT_COLS = "site, month, kind, version, record_sha256, at, by, reason, receipt"


class _SqliteMonthEvents:
    """``MonthEventLog`` in ``month_events`` (triggers forbid UPDATE and DELETE)."""

    def __init__(self, store: SqliteEvidenceStore) -> None:
        self._store = store

    def add(self, e: MonthEvent) -> None:
        with self._store._transaction() as db:
            db.execute(
                f"INSERT INTO month_events ({_MONTH_EVENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (e.site, e.month, e.kind, e.version, e.record_sha256, e.at, e.by, e.reason,
                 e.receipt),
            )  # fmt: skip

    def list(self, site: str | None = None, month: str | None = None) -> list[MonthEvent]:
        rows = self._store._read.execute(
            f"SELECT {_MONTH_EVENT_COLS} FROM month_events WHERE (?1 IS NULL OR site = ?1) "
            "AND (?2 IS NULL OR month = ?2) ORDER BY site, month, id",
            (site, month),
        ).fetchall()
        return [MonthEvent(*r) for r in rows]

    def latest(self, site: str, month: str, kind: MonthEventKind) -> MonthEvent | None:
        row = self._store._read.execute(
            f"SELECT {_MONTH_EVENT_COLS} FROM month_events WHERE site = ? AND month = ? "
            "AND kind = ? ORDER BY id DESC LIMIT 1",
            (site, month, kind),
        ).fetchone()
        return None if row is None else MonthEvent(*row)


_TOKEN_COLS = "id, name, role, sites, hint, created_at, revoked_at, last_used_at"


def _token(row: tuple[Any, ...]) -> TokenInfo:
    tid, name, role, sites, hint, created, revoked, used = row
    return TokenInfo(tid, name, role, tuple(json.loads(sites)), hint, created, revoked, used)


class _SqliteTokens:
    """``TokenTable`` in ``web_tokens``."""

    def __init__(self, store: SqliteEvidenceStore) -> None:
        self._store = store

    def add(
        self, name: str, role: str, sites: tuple[str, ...], token_hash: str, hint: str, at: int
    ) -> TokenInfo:
        with self._store._transaction() as db:
            cur = db.execute(
                "INSERT INTO web_tokens (name, role, sites, token_hash, hint, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, role, json.dumps(list(sites)), token_hash, hint, at),
            )
            token_id = int(cur.lastrowid or 0)
        return TokenInfo(token_id, name, role, sites, hint, at, None, None)  # type: ignore[arg-type]

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._store._read.execute(
            f"SELECT {_TOKEN_COLS} FROM web_tokens{where} ORDER BY id"
        ).fetchall()
        return [_token(r) for r in rows]

    def by_id(self, token_id: int) -> TokenInfo | None:
        row = self._store._read.execute(
            f"SELECT {_TOKEN_COLS} FROM web_tokens WHERE id = ?", (token_id,)
        ).fetchone()
        return None if row is None else _token(row)

    def active_named(self, name: str) -> builtins.list[TokenInfo]:
        rows = self._store._read.execute(
            f"SELECT {_TOKEN_COLS} FROM web_tokens WHERE name = ? AND revoked_at IS NULL "
            "ORDER BY id",
            (name,),
        ).fetchall()
        return [_token(r) for r in rows]

    def by_hash(self, token_hash: str) -> tuple[str, TokenInfo] | None:
        row = self._store._read.execute(
            f"SELECT token_hash, {_TOKEN_COLS} FROM web_tokens WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        return None if row is None else (row[0], _token(row[1:]))

    def stored_hash(self, token_id: int) -> str | None:
        row = self._store._read.execute(
            "SELECT token_hash FROM web_tokens WHERE id = ?", (token_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def revoke(self, token_id: int, at: int) -> TokenInfo | None:
        with self._store._transaction() as db:
            db.execute(
                "UPDATE web_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (at, token_id),
            )
        return self.by_id(token_id)

    def touch(self, token_id: int, at: int) -> None:
        # Its own short-lived connection with a short busy timeout: the last-use time is
        # only informative and must not queue a web request behind an ingest commit.
        with contextlib.suppress(sqlite3.Error):
            db = sqlite3.connect(self._store.path, timeout=0.2, isolation_level=None)
            try:
                db.execute("UPDATE web_tokens SET last_used_at = ? WHERE id = ?", (at, token_id))
            finally:
                db.close()
