"""The evidence store on PostgreSQL (psycopg 3, a connection pool): several collectors may
share one database.

Same tables and meaning as the SQLite backend. An ingest transaction names the agents it
may touch (the site/agent of its messages' topics) and first takes one transaction-scoped
advisory lock per agent (``AGENT_LOCKS``, keys in ascending order, so two transactions
never wait on each other in a cycle). Transactions of the collectors of a group for
different agents commit in parallel; those for the same agent are serialised: each batch is
stored exactly once (the unique (agent, seq) key backs this up) and each agent's chain is
extended in seq order whichever collector received which batch; a batch arriving ahead of
its predecessor is stored and held beyond the contiguous head until the gap fills, exactly
as on SQLite. A transaction that names no agents locks the whole store (``INGEST_LOCK``
exclusive; per-agent transactions hold it shared). The chain state is read from the tables
inside the lock, never cached across transactions (another collector may have moved it).
Reads take a pooled connection each and see only committed data.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

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

#: pg_advisory_xact_lock key of the whole store ("MRV1" as an int): exclusive for an ingest
#: transaction that names no agents, shared for one that names its agents
INGEST_LOCK = 0x4D525631
#: first key of the two-key advisory locks of one agent's chain ("MRVA")
AGENT_LOCKS = 0x4D525641
#: first key of the two-key advisory locks that elect one collector per role ("MRVL")
LEAD_LOCKS = 0x4D52564C

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id BIGSERIAL PRIMARY KEY,
    site TEXT NOT NULL,
    agent TEXT NOT NULL,
    contiguous_through BIGINT NOT NULL DEFAULT 0,
    head_hash TEXT,
    acked_through BIGINT NOT NULL DEFAULT 0,
    last_seen BIGINT,
    online BOOLEAN,
    status TEXT,
    status_at BIGINT,
    UNIQUE (site, agent)
);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    agent TEXT NOT NULL,
    jwk TEXT NOT NULL,
    valid_from BIGINT,
    valid_to BIGINT,
    revoked_at BIGINT,
    enrolled_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_agent ON keys (site, agent);
CREATE TABLE IF NOT EXISTS envelopes (
    id BIGSERIAL PRIMARY KEY,
    agent_id BIGINT NOT NULL REFERENCES agents (id),
    seq BIGINT NOT NULL,
    prev TEXT,
    hash TEXT NOT NULL,
    kid TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    created BIGINT NOT NULL,
    n_readings BIGINT NOT NULL,
    first_ts BIGINT,
    last_ts BIGINT,
    envelope BYTEA NOT NULL,
    form SMALLINT NOT NULL DEFAULT 0,
    UNIQUE (agent_id, seq)
);
CREATE INDEX IF NOT EXISTS envelopes_time ON envelopes (agent_id, first_ts, last_ts);
CREATE TABLE IF NOT EXISTS series (
    id BIGSERIAL PRIMARY KEY,
    agent_id BIGINT NOT NULL REFERENCES agents (id),
    param TEXT NOT NULL,
    UNIQUE (agent_id, param)
);
CREATE TABLE IF NOT EXISTS readings (
    series_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    value DOUBLE PRECISION,
    quality TEXT NOT NULL,
    reason TEXT,
    count BIGINT,
    expected BIGINT,
    min DOUBLE PRECISION,
    max DOUBLE PRECISION,
    PRIMARY KEY (series_id, ts, seq)
);
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    agent_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    t BIGINT,
    ts BIGINT,
    start BIGINT,
    "end" BIGINT,
    cell TEXT,
    peak_v DOUBLE PRECISION,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (agent_id, t);
CREATE TABLE IF NOT EXISTS quarantine (
    id BIGSERIAL PRIMARY KEY,
    received_at BIGINT NOT NULL,
    topic TEXT NOT NULL,
    site TEXT,
    agent TEXT,
    kid TEXT,
    seq BIGINT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    raw BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_agent ON quarantine (site, agent, reason);
CREATE TABLE IF NOT EXISTS mirror_cursor (name TEXT PRIMARY KEY, envelope_id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    site TEXT NOT NULL,
    month TEXT NOT NULL,
    version BIGINT NOT NULL,
    created BIGINT NOT NULL,
    reason TEXT NOT NULL,
    record_sha256 TEXT NOT NULL,
    bundle_dir TEXT,
    record_json BYTEA NOT NULL,
    record_jws BYTEA NOT NULL,
    PRIMARY KEY (site, month, version)
);
CREATE OR REPLACE FUNCTION records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'record versions are never changed or deleted'; END $$;
DROP TRIGGER IF EXISTS records_no_change ON records;
CREATE TRIGGER records_no_change BEFORE UPDATE OR DELETE ON records
FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TABLE IF NOT EXISTS month_events (
    id BIGSERIAL PRIMARY KEY,
    site TEXT NOT NULL,
    month TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('sealed', 'submitted')),
    version BIGINT NOT NULL,
    record_sha256 TEXT NOT NULL,
    at BIGINT NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS month_events_site_month ON month_events (site, month, kind, id);
CREATE OR REPLACE FUNCTION month_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'month events are never changed or deleted'; END $$;
DROP TRIGGER IF EXISTS month_events_no_change ON month_events;
CREATE TRIGGER month_events_no_change BEFORE UPDATE OR DELETE ON month_events
FOR EACH ROW EXECUTE FUNCTION month_events_append_only();
CREATE TABLE IF NOT EXISTS web_tokens (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'verifier', 'admin')),
    sites TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
"""

_ENV_COLS = (
    "a.site, a.agent, e.seq, e.prev, e.hash, e.kid, e.received_at, e.created, "
    "e.n_readings, e.first_ts, e.last_ts, e.envelope, e.id, e.form"
)
_Q_COLS = f"id, {QUARANTINE_COLS}"
_DOCS = DocumentSql("%s")
_KEY_COLS = "site, agent, kid, jwk, valid_from, valid_to, revoked_at, enrolled_at"
_FAR = 2**62
_READING_TYPES = [
    "int8",
    "int8",
    "int8",
    "float8",
    "text",
    "text",
    "int8",
    "int8",
    "float8",
    "float8",
]


def _key(row: tuple[Any, ...]) -> EnrolledKey:
    site, agent, kid, jwk, vf, vt, rev, enrolled = row
    return EnrolledKey(site, agent, kid, json.loads(jwk), vf, vt, rev, enrolled)


def agent_lock_key(site: str, agent: str) -> int:
    """The second key of an agent's ingest lock: a stable signed 32-bit hash of its ids
    (the same in every collector process; a collision only serialises two agents)."""
    digest = hashlib.blake2b(f"{site}/{agent}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _envelope(row: tuple[Any, ...]) -> StoredEnvelope:
    env = received_envelope(bytes(row[11]), row[13])
    return StoredEnvelope(*row[:11], envelope=env, id=row[12])  # type: ignore[misc]


class _PgIngest(DocumentIngest):
    """One open ingest transaction, holding the locks of its agents (``agents``; None: the
    whole store)."""

    docs = _DOCS
    db: psycopg.Connection[Any]

    def __init__(
        self,
        store: PostgresEvidenceStore,
        db: psycopg.Connection[Any],
        agents: frozenset[tuple[str, str]] | None,
    ) -> None:
        self.store = store
        self.db = db
        self.agents = agents
        self.trackers: dict[tuple[str, str], ChainTracker] = {}

    def _locked(self, site: str, agent: str) -> None:
        """Refuse to touch an agent whose lock this transaction does not hold: another
        collector could be extending the same chain."""
        if self.agents is not None and (site, agent) not in self.agents:
            raise StoreError(f"ingest transaction did not lock agent {site}/{agent}")

    def key_for_kid(self, kid: str) -> EnrolledKey | None:
        row = self.db.execute(f"SELECT {_KEY_COLS} FROM keys WHERE kid = %s", (kid,)).fetchone()
        return None if row is None else _key(row)

    def stored_link(self, site: str, agent: str, seq: int) -> StoredLink | None:
        self._locked(site, agent)
        row = self.db.execute(
            "SELECT e.seq, e.prev, e.hash FROM envelopes e JOIN agents a ON a.id = e.agent_id "
            "WHERE a.site = %s AND a.agent = %s AND e.seq = %s",
            (site, agent, seq),
        ).fetchone()
        return None if row is None else StoredLink(*row)

    def _tracker(self, site: str, agent: str) -> tuple[int, ChainTracker]:
        self._locked(site, agent)
        agent_id = self.store._agent_id(self.db, site, agent)
        tracker = self.trackers.get((site, agent))
        if tracker is None:
            through, head = self.db.execute(
                "SELECT contiguous_through, head_hash FROM agents WHERE id = %s", (agent_id,)
            ).fetchone()  # type: ignore[misc]
            tracker = ChainTracker(through, head, {})
            for seq, prev, h in self.db.execute(
                "SELECT seq, prev, hash FROM envelopes WHERE agent_id = %s AND seq > %s "
                "ORDER BY seq",
                (agent_id, through),
            ):
                tracker.add(ChainLink(seq, prev, h))
            self.trackers[(site, agent)] = tracker
        return agent_id, tracker

    def contiguous_through(self, site: str, agent: str) -> int:
        return self._tracker(site, agent)[1].contiguous_through

    def seen(self, site: str, agent: str, at: int) -> None:
        self._locked(site, agent)
        agent_id = self.store._agent_id(self.db, site, agent)
        self.db.execute(
            "UPDATE agents SET last_seen = GREATEST(coalesce(last_seen, 0), %s) WHERE id = %s",
            (at, agent_id),
        )

    def mark_acked(self, site: str, agent: str, through: int) -> None:
        self._locked(site, agent)
        agent_id = self.store._agent_id(self.db, site, agent)
        self.db.execute(
            "UPDATE agents SET acked_through = GREATEST(acked_through, %s) WHERE id = %s",
            (through, agent_id),
        )

    def store_batch(self, batch: Accepted, received_at: int) -> None:
        agent_id, tracker = self._tracker(batch.site, batch.agent)
        p = batch.payload
        readings = p.readings
        columns = readings if isinstance(readings, BatchReadings) else None
        first_ts, last_ts = ts_range(readings)
        self.db.execute(
            "INSERT INTO envelopes (agent_id, seq, prev, hash, kid, received_at, created, "
            "n_readings, first_ts, last_ts, envelope, form) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
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
        seq = batch.seq
        series_id = self.store._series_id
        rows: list[Any] = []
        if columns is not None:  # a v2 batch: rows a column at a time, no object per reading
            for c in columns.series:
                n = len(c.value)
                sids: Iterable[int]
                if type(c.id) is str:
                    sids = repeat(series_id(self.db, agent_id, c.id), n)
                else:  # plain v1 readings, in payload order
                    sids = [series_id(self.db, agent_id, i) for i in c.id]
                rows.extend(
                    zip(
                        sids, c.ts, repeat(seq, n), c.value, c.quality, c.reason,
                        c.count, c.expected, c.min, c.max, strict=True,
                    )
                )  # fmt: skip
            readings = columns.rest
        for r in readings:
            sid = series_id(self.db, agent_id, r.id)
            rows.append(
                (sid, r.ts, seq, r.value, r.quality, r.reason, r.count, r.expected, r.min, r.max)
            )
        if rows:
            # the same (series, ts) twice in one batch is legal; the first one is kept (COPY
            # has no ON CONFLICT, so drop the later ones here; rare, checked in one pass)
            if len({(r[0], r[1]) for r in rows}) != len(rows):
                rows = list({(r[0], r[1]): r for r in reversed(rows)}.values())
            with (
                self.db.cursor() as cur,
                cur.copy(
                    "COPY readings (series_id, ts, seq, value, quality, reason, count, expected, "
                    "min, max) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                # binary: the server copies the numbers instead of parsing their text
                copy.set_types(_READING_TYPES)
                for row in rows:
                    copy.write_row(row)
        if p.events:
            ev_rows = []
            for ev in p.events:
                data = ev.model_dump(mode="json", exclude_none=True)
                t = ev.start if ev.start is not None else ev.ts
                cell = None if ev.cell is None else str(ev.cell)
                ev_rows.append(
                    (agent_id, seq, ev.type, t, ev.ts, ev.start, ev.end, cell, ev.peak_v,
                     json.dumps(data))
                )  # fmt: skip
            with self.db.cursor() as cur:
                cur.executemany(
                    'INSERT INTO events (agent_id, seq, type, t, ts, start, "end", cell, peak_v, '
                    "data) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    ev_rows,
                )
        before = tracker.contiguous_through
        tracker.add(ChainLink(seq, batch.prev, batch.hash))
        if tracker.contiguous_through != before:
            self.db.execute(
                "UPDATE agents SET contiguous_through = %s, head_hash = %s WHERE id = %s",
                (tracker.contiguous_through, tracker.head_hash, agent_id),
            )

    def quarantine(self, rejected: Quarantined, received_at: int) -> None:
        self.db.execute(
            f"INSERT INTO quarantine ({QUARANTINE_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            quarantine_row(rejected, received_at, self.store.quarantine_keep_bytes),
        )

    def restore_quarantine(self, entry: QuarantineEntry) -> None:
        self.db.execute(
            f"INSERT INTO quarantine ({QUARANTINE_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            restored_quarantine_row(entry, self.store.quarantine_keep_bytes),
        )


class PostgresEvidenceStore:
    """``EvidenceStore`` on a PostgreSQL database; safe to share between threads and
    between collector processes."""

    url_scheme = "postgresql"

    def __init__(
        self, url: str, *, quarantine_keep_bytes: int = 1024 * 1024, max_size: int = 8
    ) -> None:
        self.url = url
        self.quarantine_keep_bytes = quarantine_keep_bytes
        try:
            self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url, min_size=1, max_size=max_size, open=True, timeout=30,
                kwargs={"autocommit": True},
            )  # fmt: skip
            self.pool.wait(timeout=30)
        except Exception as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store: {exc}") from None
        with self.pool.connection() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))  # one creator
            db.execute(_SCHEMA)
            db.execute(documents_schema("BYTEA"))
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            old = schema_upgrade(None if row is None else row[0], "the PostgreSQL store")
            if old is not None and old < 2:  # envelopes.form (rules.SCHEMA_VERSION)
                db.execute(
                    "ALTER TABLE envelopes ADD COLUMN IF NOT EXISTS form SMALLINT NOT NULL "
                    "DEFAULT 0"
                )
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        self._agent_ids: dict[tuple[str, str], int] = {}
        self._series_ids: dict[tuple[int, str], int] = {}
        self.records = _PgRecords(self)
        self.tokens = _PgTokens(self)
        self.month_events = _PgMonthEvents(self)
        self.documents = DocumentTable(_DOCS, self.pool.connection, self._whole_store)
        self._closed = False
        self._lead_lock = threading.Lock()
        self._lead_db: psycopg.Connection[Any] | None = None
        self._leading: set[str] = set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with self._lead_lock:
                if self._lead_db is not None:
                    with contextlib.suppress(psycopg.Error):
                        self._lead_db.close()
                    self._lead_db = None
            self.pool.close()

    def __enter__(self) -> PostgresEvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ids (stable once created: agents and series are never deleted) -----------------
    def _agent_id(self, db: psycopg.Connection[Any], site: str, agent: str) -> int:
        found = self._agent_ids.get((site, agent))
        if found is not None:
            return found
        row = db.execute(
            "SELECT id FROM agents WHERE site = %s AND agent = %s", (site, agent)
        ).fetchone()
        if row is None:
            validate_id(site, "site id")
            validate_id(agent, "agent id")
            db.execute(
                "INSERT INTO agents (site, agent) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (site, agent),
            )
            row = db.execute(
                "SELECT id FROM agents WHERE site = %s AND agent = %s", (site, agent)
            ).fetchone()
        assert row is not None
        self._agent_ids[(site, agent)] = int(row[0])
        return int(row[0])

    def _series_id(self, db: psycopg.Connection[Any], agent_id: int, param: str) -> int:
        found = self._series_ids.get((agent_id, param))
        if found is not None:
            return found
        db.execute(
            "INSERT INTO series (agent_id, param) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (agent_id, param),
        )
        row = db.execute(
            "SELECT id FROM series WHERE agent_id = %s AND param = %s", (agent_id, param)
        ).fetchone()
        assert row is not None
        self._series_ids[(agent_id, param)] = int(row[0])
        return int(row[0])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StoreError("evidence store is closed")
        with self.pool.connection() as db:
            try:
                with db.transaction():
                    yield db
            except BaseException:
                # ids created in a rolled-back transaction do not exist
                self._agent_ids.clear()
                self._series_ids.clear()
                raise

    @contextlib.contextmanager
    def _whole_store(self) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction holding the whole-store lock exclusively (no ingest runs
        meanwhile), for writes outside ingest that ingest decisions read: documents added
        by ``store copy`` or the folder import."""
        with self._transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
            yield db

    def _rows(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        with self.pool.connection() as db:
            return db.execute(sql, args).fetchall()

    def _row(self, sql: str, args: Any = ()) -> tuple[Any, ...] | None:
        with self.pool.connection() as db:
            return db.execute(sql, args).fetchone()

    # -- ingest ------------------------------------------------------------------------
    @contextlib.contextmanager
    def ingest(self, agents: Iterable[tuple[str, str]] | None = None) -> Iterator[_PgIngest]:
        with self._transaction() as db:
            if agents is None:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
                yield _PgIngest(self, db, None)
                return
            named = frozenset(agents)
            # shared before the agents' locks: a whole-store transaction waiting for the
            # shared holders never sits between an agent lock and its holder
            db.execute("SELECT pg_advisory_xact_lock_shared(%s)", (INGEST_LOCK,))
            keys = sorted({agent_lock_key(site, agent) for site, agent in named})
            if keys:
                # one row per key in array order: the locks are taken in ascending order
                db.execute(
                    "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int4[]) AS k",
                    (AGENT_LOCKS, keys),
                )
            yield _PgIngest(self, db, named)

    def record_status(
        self, site: str, agent: str, online: bool, status: dict[str, Any] | None, at: int
    ) -> None:
        with self._transaction() as db:
            agent_id = self._agent_id(db, site, agent)
            if online:
                db.execute(
                    "UPDATE agents SET online = true, status = %s, status_at = %s, "
                    "last_seen = GREATEST(coalesce(last_seen, 0), %s) WHERE id = %s",
                    (json.dumps(status), at, at, agent_id),
                )
            else:
                db.execute(
                    "UPDATE agents SET online = false, status_at = %s WHERE id = %s",
                    (at, agent_id),
                )

    def mark_acked(self, site: str, agent: str, through: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE agents SET acked_through = GREATEST(acked_through, %s) "
                "WHERE site = %s AND agent = %s",
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
        kid, clean = enrolment(site, agent, jwk, valid_from, valid_to)
        with self._transaction() as db:
            row = db.execute(
                "SELECT site, agent, revoked_at FROM keys WHERE kid = %s FOR UPDATE", (kid,)
            ).fetchone()
            if row is not None:
                check_reenrolment(kid, site, agent, row)
                db.execute(
                    "UPDATE keys SET valid_from = %s, valid_to = %s WHERE kid = %s",
                    (valid_from, valid_to, kid),
                )
            else:
                db.execute(
                    "INSERT INTO keys VALUES (%s,%s,%s,%s,%s,%s,NULL,%s)",
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
            self._agent_id(db, site, agent)
        key = self.key(kid)
        assert key is not None
        return key

    def revoke_key(self, kid: str, *, at: int | None = None) -> EnrolledKey:
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE keys SET revoked_at = coalesce(revoked_at, %s) WHERE kid = %s",
                (at if at is not None else now_ms(), kid),
            )
            if cur.rowcount == 0:
                raise StoreError(f"kid {kid} is not enrolled")
        key = self.key(kid)
        assert key is not None
        return key

    def key(self, kid: str) -> EnrolledKey | None:
        row = self._row(f"SELECT {_KEY_COLS} FROM keys WHERE kid = %s", (kid,))
        return None if row is None else _key(row)

    def keys(self, site: str | None = None, agent: str | None = None) -> list[EnrolledKey]:
        rows = self._rows(
            f"SELECT {_KEY_COLS} FROM keys WHERE (%(s)s::text IS NULL OR site = %(s)s) "
            "AND (%(a)s::text IS NULL OR agent = %(a)s) ORDER BY site, agent, enrolled_at",
            {"s": site, "a": agent},
        )
        return [_key(r) for r in rows]

    # -- queries -----------------------------------------------------------------------
    def sites(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT site FROM agents ORDER BY site")]

    def _agent_states(self, site: str | None, agent: str | None) -> list[AgentState]:
        out = []
        with self.pool.connection() as db:
            rows = db.execute(
                "SELECT id, site, agent, contiguous_through, head_hash, acked_through, "
                "last_seen, online, status, status_at FROM agents "
                "WHERE (%(s)s::text IS NULL OR site = %(s)s) "
                "AND (%(a)s::text IS NULL OR agent = %(a)s) ORDER BY site, agent",
                {"s": site, "a": agent},
            ).fetchall()
            for row in rows:
                agent_id, a_site, a_agent, through, head, acked, last_seen = row[:7]
                online, status, status_at = row[7:]
                seqs = [
                    r[0]
                    for r in db.execute(
                        "SELECT seq FROM envelopes WHERE agent_id = %s AND seq > %s ORDER BY seq",
                        (agent_id, through),
                    )
                ]
                gaps = gaps_above(through, seqs)
                (stored,) = db.execute(  # type: ignore[misc]
                    "SELECT count(*) FROM envelopes WHERE agent_id = %s", (agent_id,)
                ).fetchone()
                quarantined, equivocations = db.execute(  # type: ignore[misc]
                    "SELECT count(*), count(*) FILTER (WHERE reason = 'equivocation') "
                    "FROM quarantine WHERE site = %s AND agent = %s",
                    (a_site, a_agent),
                ).fetchone()
                kids = [
                    r[0]
                    for r in db.execute(
                        "SELECT kid FROM keys WHERE site = %s AND agent = %s "
                        "AND revoked_at IS NULL ORDER BY kid",
                        (a_site, a_agent),
                    )
                ]
                out.append(
                    AgentState(
                        site=a_site,
                        agent=a_agent,
                        contiguous_through=through,
                        head_hash=head,
                        acked_through=acked,
                        highest_seq=seqs[-1] if seqs else through,
                        stored_batches=stored,
                        gaps=gaps,
                        quarantined=quarantined,
                        equivocations=equivocations,
                        last_seen=last_seen,
                        online=online,
                        status=json.loads(status) if status else None,
                        status_at=status_at,
                        kids=kids,
                    )
                )
        return out

    def agents(self, site: str | None = None) -> list[AgentState]:
        return self._agent_states(site, None)

    def agent_state(self, site: str, agent: str) -> AgentState | None:
        found = self._agent_states(site, agent)
        return found[0] if found else None

    def series(self, site: str, agent: str | None = None) -> list[SeriesInfo]:
        rows = self._rows(
            "SELECT a.site, a.agent, s.param, "
            "(SELECT count(*) FROM readings r WHERE r.series_id = s.id), "
            "(SELECT min(ts) FROM readings r WHERE r.series_id = s.id), "
            "(SELECT max(ts) FROM readings r WHERE r.series_id = s.id) "
            "FROM series s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.site = %(s)s AND (%(a)s::text IS NULL OR a.agent = %(a)s) "
            "ORDER BY a.agent, s.param",
            {"s": site, "a": agent},
        )
        return [SeriesInfo(*r) for r in rows]

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
        lo = start if start is not None else -_FAR
        hi = end if end is not None else _FAR
        series = self._rows(
            "SELECT s.id, a.agent, s.param FROM series s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.site = %(s)s AND (%(a)s::text IS NULL OR a.agent = %(a)s) "
            "AND (%(p)s::text IS NULL OR s.param = %(p)s) ORDER BY a.agent, s.param",
            {"s": site, "a": agent, "p": param},
        )
        for sid, a_agent, a_param in series:
            rows = self._rows(
                "SELECT ts, value, quality, reason, count, expected, min, max, seq "
                "FROM readings WHERE series_id = %s AND ts >= %s AND ts < %s ORDER BY ts, seq",
                (sid, lo, hi),
            )
            for ts, value, quality, reason, count, expected, mn, mx, seq in rows:
                yield StoredReading(
                    site, a_agent, a_param, ts, value, quality, reason, count, expected, mn, mx,
                    seq,
                )  # fmt: skip

    def events(
        self,
        site: str,
        start: int | None = None,
        end: int | None = None,
        *,
        type: str | None = None,
        agent: str | None = None,
    ) -> list[StoredEvent]:
        rows = self._rows(
            'SELECT a.site, a.agent, e.seq, e.type, e.ts, e.start, e."end", e.cell, e.peak_v, '
            "e.data FROM events e JOIN agents a ON a.id = e.agent_id "
            "WHERE a.site = %(s)s AND (%(a)s::text IS NULL OR a.agent = %(a)s) "
            "AND (%(t)s::text IS NULL OR e.type = %(t)s) AND e.t >= %(lo)s AND e.t < %(hi)s "
            "ORDER BY e.t, a.agent, e.seq",
            {"s": site, "a": agent, "t": type, "lo": start if start is not None else -_FAR,
             "hi": end if end is not None else _FAR},
        )  # fmt: skip
        return [StoredEvent(*r[:9], data=json.loads(r[9])) for r in rows]  # type: ignore[misc]

    def envelopes(
        self, site: str, agent: str, first_seq: int = 1, last_seq: int | None = None
    ) -> Iterator[StoredEnvelope]:
        lo, hi = first_seq, last_seq if last_seq is not None else _FAR
        while True:  # pages of 256, so a month never sits in memory at once
            rows = self._rows(
                f"SELECT {_ENV_COLS} FROM envelopes e JOIN agents a ON a.id = e.agent_id "
                "WHERE a.site = %s AND a.agent = %s AND e.seq >= %s AND e.seq <= %s "
                "ORDER BY e.seq LIMIT 256",
                (site, agent, lo, hi),
            )
            yield from (_envelope(r) for r in rows)
            if len(rows) < 256:
                return
            lo = rows[-1][2] + 1

    def envelopes_in_range(
        self, site: str, start: int, end: int, *, agent: str | None = None
    ) -> Iterator[StoredEnvelope]:
        with self.pool.connection() as db, db.transaction():
            cur = db.cursor(name="envelopes_in_range")  # server-side: streamed
            cur.execute(
                f"SELECT {_ENV_COLS} FROM envelopes e JOIN agents a ON a.id = e.agent_id "
                "WHERE a.site = %(s)s AND (%(a)s::text IS NULL OR a.agent = %(a)s) "
                "AND e.first_ts < %(end)s AND e.last_ts >= %(start)s ORDER BY a.agent, e.seq",
                {"s": site, "a": agent, "start": start, "end": end},
            )
            while chunk := cur.fetchmany(256):
                yield from (_envelope(r) for r in chunk)
            cur.close()

    def envelopes_after(self, after_id: int, limit: int) -> list[StoredEnvelope]:
        rows = self._rows(
            f"SELECT {_ENV_COLS} FROM envelopes e JOIN agents a ON a.id = e.agent_id "
            "WHERE e.id > %s ORDER BY e.id LIMIT %s",
            (after_id, limit),
        )
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
        rows = self._rows(
            f"SELECT {_Q_COLS} FROM quarantine WHERE (%(s)s::text IS NULL OR site = %(s)s) "
            "AND (%(a)s::text IS NULL OR agent = %(a)s) "
            "AND (%(r)s::text IS NULL OR reason = %(r)s) "
            "AND (%(b)s::bigint IS NULL OR id < %(b)s) ORDER BY id DESC LIMIT %(n)s",
            {"s": site, "a": agent, "r": reason, "b": before_id, "n": limit},
        )
        return [QuarantineEntry(*r[:11], raw=bytes(r[11])) for r in rows]  # type: ignore[misc]

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None:
        row = self._row(f"SELECT {_Q_COLS} FROM quarantine WHERE id = %s", (entry_id,))
        if row is None:
            return None
        return QuarantineEntry(*row[:11], raw=bytes(row[11]))  # type: ignore[misc]

    def status_summary(self) -> StatusSummary:
        by_reason = {
            r[0]: r[1]
            for r in self._rows(
                "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason"
            )
        }
        row = self._row("SELECT count(*) FROM quarantine WHERE site IS NULL OR agent IS NULL")
        assert row is not None
        return StatusSummary(self.agents(), by_reason, row[0])

    # -- mirror cursor -----------------------------------------------------------------
    def mirror_cursor(self, name: str) -> int:
        row = self._row("SELECT envelope_id FROM mirror_cursor WHERE name = %s", (name,))
        return 0 if row is None else int(row[0])

    def try_lead(self, role: str) -> bool:
        """A session-level advisory lock on a connection of its own (outside the pool):
        held until this process closes the store or dies."""
        with self._lead_lock:
            if self._lead_db is not None:
                try:
                    self._lead_db.execute("SELECT 1")
                except psycopg.Error:  # the server restarted: the lock is gone with it
                    with contextlib.suppress(psycopg.Error):
                        self._lead_db.close()
                    self._lead_db, self._leading = None, set()
            if role in self._leading:
                return True
            try:
                if self._lead_db is None:
                    self._lead_db = psycopg.connect(self.url, autocommit=True)
                row = self._lead_db.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LEAD_LOCKS, role)
                ).fetchone()
            except psycopg.Error:
                return False
            if row is not None and row[0]:
                self._leading.add(role)
                return True
            return False

    def set_mirror_cursor(self, name: str, envelope_id: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO mirror_cursor VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                "SET envelope_id = GREATEST(mirror_cursor.envelope_id, excluded.envelope_id)",
                (name, envelope_id),
            )

    # -- time-series reads for the web UI -------------------------------------------------
    def _where(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> tuple[str, dict[str, Any]]:
        ids = [
            r[0]
            for r in self._rows(
                "SELECT s.id FROM series s JOIN agents a ON a.id = s.agent_id "
                "WHERE a.site = %(s)s AND s.param = %(p)s "
                "AND (%(a)s::text IS NULL OR a.agent = %(a)s) ORDER BY a.agent",
                {"s": site, "p": param, "a": agent},
            )
        ]
        return (
            "series_id = ANY(%(ids)s) AND ts >= %(start)s AND ts < %(end)s",
            {"ids": ids, "start": start, "end": end},
        )

    def series_names(self, site: str) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self._rows(
                "SELECT a.agent, s.param FROM series s JOIN agents a ON a.id = s.agent_id "
                "WHERE a.site = %s ORDER BY a.agent, s.param",
                (site,),
            )
        ]

    def latest_ts(self, site: str) -> int | None:
        row = self._row(
            "SELECT max((SELECT max(ts) FROM readings r WHERE r.series_id = s.id)) "
            "FROM series s JOIN agents a ON a.id = s.agent_id WHERE a.site = %s",
            (site,),
        )
        return None if row is None or row[0] is None else int(row[0])

    def recent_times(
        self, site: str, param: str, agent: str | None = None, limit: int = 64
    ) -> list[int]:
        _, args = self._where(site, param, agent, -_FAR, _FAR)
        if not args["ids"]:
            return []
        rows = self._rows(
            "SELECT DISTINCT ts FROM readings WHERE series_id = %(first)s "
            "ORDER BY ts DESC LIMIT %(n)s",
            {"first": args["ids"][0], "n": limit},
        )
        return [r[0] for r in reversed(rows)]

    def bucket_stats(
        self, site: str, param: str, agent: str | None, start: int, end: int, width: int
    ) -> list[SeriesBucket]:
        where, args = self._where(site, param, agent, start, end)
        rows = self._rows(
            "SELECT (ts - %(start)s) / %(w)s AS b, avg(value), "
            "min(CASE WHEN value IS NULL THEN NULL ELSE coalesce(min, value) END), "
            "max(CASE WHEN value IS NULL THEN NULL ELSE coalesce(max, value) END), "
            "count(value), count(*) FILTER (WHERE quality <> 'good'), count(*) "
            f"FROM readings WHERE {where} GROUP BY b ORDER BY b",
            {**args, "w": width},
        )
        return [SeriesBucket(*r) for r in rows]

    def points(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> list[SeriesPoint]:
        where, args = self._where(site, param, agent, start, end)
        rows = self._rows(
            "SELECT ts, value, quality, CASE WHEN value IS NULL THEN NULL "
            "ELSE coalesce(min, value) END, CASE WHEN value IS NULL THEN NULL "
            f"ELSE coalesce(max, value) END FROM readings WHERE {where} ORDER BY ts",
            args,
        )
        return [SeriesPoint(*r) for r in rows]

    def reading_times(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> Iterator[int]:
        where, args = self._where(site, param, agent, start, end)
        for (ts,) in self._rows(f"SELECT ts FROM readings WHERE {where} ORDER BY ts", args):
            yield ts

    def flagged_readings(
        self, site: str, param: str, agent: str | None, start: int, end: int, limit: int
    ) -> list[tuple[int, float | None, str, str | None]]:
        where, args = self._where(site, param, agent, start, end)
        rows = self._rows(
            f"SELECT ts, value, quality, reason FROM readings WHERE {where} "
            "AND quality <> 'good' ORDER BY ts LIMIT %(n)s",
            {**args, "n": limit},
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def completeness_counts(
        self, site: str, param: str, start: int, end: int, valid_fraction: float
    ) -> tuple[int, int, int | None]:
        where, args = self._where(site, param, None, start, end)
        row = self._row(
            "SELECT count(DISTINCT CASE WHEN value IS NOT NULL AND quality <> 'bad' AND "
            "(expected IS NULL OR expected = 0 OR count >= %(f)s * expected) THEN ts END), "
            f"count(*), max(ts) FROM readings WHERE {where}",
            {**args, "f": valid_fraction - 1e-9},
        )
        assert row is not None
        return int(row[0]), int(row[1]), None if row[2] is None else int(row[2])


_RECORD_COLS = "site, month, version, created, reason, record_sha256, bundle_dir"


class _PgRecords:
    def __init__(self, store: PostgresEvidenceStore) -> None:
        self._store = store

    def latest(self, site: str, month: str) -> RecordVersion | None:
        row = self._store._row(
            f"SELECT {_RECORD_COLS} FROM records WHERE site = %s AND month = %s "
            "ORDER BY version DESC LIMIT 1",
            (site, month),
        )
        return None if row is None else RecordVersion(*row)

    def list(self, site: str | None = None, month: str | None = None) -> list[RecordVersion]:
        rows = self._store._rows(
            f"SELECT {_RECORD_COLS} FROM records WHERE (%(s)s::text IS NULL OR site = %(s)s) "
            "AND (%(m)s::text IS NULL OR month = %(m)s) ORDER BY site, month, version",
            {"s": site, "m": month},
        )
        return [RecordVersion(*r) for r in rows]

    def add(self, v: RecordVersion, record_json: bytes, record_jws: bytes) -> None:
        try:
            with self._store._transaction() as db:
                db.execute(
                    "INSERT INTO records VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (v.site, v.month, v.version, v.created, v.reason, v.record_sha256,
                     v.bundle_dir, record_json, record_jws),
                )  # fmt: skip
        except psycopg.errors.UniqueViolation:
            raise StoreError(
                f"record {v.site} {v.month} version {v.version} already exists"
            ) from None

    def files(self, site: str, month: str, version: int) -> tuple[bytes, bytes] | None:
        row = self._store._row(
            "SELECT record_json, record_jws FROM records WHERE site = %s AND month = %s "
            "AND version = %s",
            (site, month, version),
        )
        return None if row is None else (bytes(row[0]), bytes(row[1]))


_MONTH_EVENT_COLS = "site, month, kind, version, record_sha256, at, by, reason, receipt"


class _PgMonthEvents:
    """``MonthEventLog`` in ``month_events`` (a trigger forbids UPDATE and DELETE)."""

    def __init__(self, store: PostgresEvidenceStore) -> None:
        self._store = store

    def add(self, e: MonthEvent) -> None:
        with self._store._transaction() as db:
            db.execute(
                f"INSERT INTO month_events ({_MONTH_EVENT_COLS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (e.site, e.month, e.kind, e.version, e.record_sha256, e.at, e.by, e.reason,
                 e.receipt),
            )  # fmt: skip

    def list(self, site: str | None = None, month: str | None = None) -> list[MonthEvent]:
        rows = self._store._rows(
            f"SELECT {_MONTH_EVENT_COLS} FROM month_events "
            "WHERE (%(s)s::text IS NULL OR site = %(s)s) "
            "AND (%(m)s::text IS NULL OR month = %(m)s) ORDER BY site, month, id",
            {"s": site, "m": month},
        )
        return [MonthEvent(*r) for r in rows]

    def latest(self, site: str, month: str, kind: MonthEventKind) -> MonthEvent | None:
        row = self._store._row(
            f"SELECT {_MONTH_EVENT_COLS} FROM month_events WHERE site = %s AND month = %s "
            "AND kind = %s ORDER BY id DESC LIMIT 1",
            (site, month, kind),
        )
        return None if row is None else MonthEvent(*row)


_TOKEN_COLS = "id, name, role, sites, hint, created_at, revoked_at, last_used_at"


def _token(row: tuple[Any, ...]) -> TokenInfo:
    tid, name, role, sites, hint, created, revoked, used = row
    return TokenInfo(tid, name, role, tuple(json.loads(sites)), hint, created, revoked, used)


class _PgTokens:
    def __init__(self, store: PostgresEvidenceStore) -> None:
        self._store = store

    def add(
        self, name: str, role: str, sites: tuple[str, ...], token_hash: str, hint: str, at: int
    ) -> TokenInfo:
        with self._store._transaction() as db:
            row = db.execute(
                "INSERT INTO web_tokens (name, role, sites, token_hash, hint, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (name, role, json.dumps(list(sites)), token_hash, hint, at),
            ).fetchone()
        assert row is not None
        return _token((row[0], name, role, json.dumps(list(sites)), hint, at, None, None))

    def list(self, *, include_revoked: bool = True) -> builtins.list[TokenInfo]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return [
            _token(r)
            for r in self._store._rows(f"SELECT {_TOKEN_COLS} FROM web_tokens{where} ORDER BY id")
        ]

    def by_id(self, token_id: int) -> TokenInfo | None:
        row = self._store._row(f"SELECT {_TOKEN_COLS} FROM web_tokens WHERE id = %s", (token_id,))
        return None if row is None else _token(row)

    def active_named(self, name: str) -> builtins.list[TokenInfo]:
        rows = self._store._rows(
            f"SELECT {_TOKEN_COLS} FROM web_tokens WHERE name = %s AND revoked_at IS NULL "
            "ORDER BY id",
            (name,),
        )
        return [_token(r) for r in rows]

    def by_hash(self, token_hash: str) -> tuple[str, TokenInfo] | None:
        row = self._store._row(
            f"SELECT token_hash, {_TOKEN_COLS} FROM web_tokens WHERE token_hash = %s",
            (token_hash,),
        )
        return None if row is None else (row[0], _token(row[1:]))

    def stored_hash(self, token_id: int) -> str | None:
        row = self._store._row("SELECT token_hash FROM web_tokens WHERE id = %s", (token_id,))
        return None if row is None else str(row[0])

    def revoke(self, token_id: int, at: int) -> TokenInfo | None:
        with self._store._transaction() as db:
            db.execute(
                "UPDATE web_tokens SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s",
                (at, token_id),
            )
        return self.by_id(token_id)

    def touch(self, token_id: int, at: int) -> None:
        with contextlib.suppress(psycopg.Error), self._store._transaction() as db:
            db.execute("SET LOCAL lock_timeout = '200ms'")
            db.execute("UPDATE web_tokens SET last_used_at = %s WHERE id = %s", (at, token_id))
