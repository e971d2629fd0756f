"""The evidence store's interface: the collector's only door to durable storage.

Every table (evidence, quarantine, keys, records and their versions, web tokens, mirror
cursors) and every query lives behind this interface; one backend per module of this
package implements it (``sqlite``, ``postgresql``), and ``open_store(url)`` picks one.
Nothing outside ``collector/store/`` writes SQL against the store.

Records and tokens are sub-objects (``store.records``, ``store.tokens``) so their small
vocabularies (``add``, ``list``, ``latest``) stay readable; a new table joins the same way.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, Self

from collector.models import (
    AgentState,
    DocumentRef,
    EnrolledKey,
    MonthEvent,
    MonthEventKind,
    QuarantineEntry,
    RecordVersion,
    SeriesBucket,
    SeriesInfo,
    SeriesPoint,
    StatusSummary,
    StoredDocument,
    StoredEnvelope,
    StoredEvent,
    StoredReading,
    TokenInfo,
)
from collector.pipeline import Accepted, PipelineView, Quarantined
from protocols.errors import MrvError


class StoreError(MrvError):
    reason = "store"


class IngestTransaction(PipelineView, Protocol):
    """One open write transaction: the pipeline's view plus the writes of an ingest group."""

    def store_batch(self, batch: Accepted, received_at: int) -> None: ...

    def quarantine(self, rejected: Quarantined, received_at: int) -> None: ...

    def restore_quarantine(self, entry: QuarantineEntry) -> None:
        """Insert an entry copied from another store as it was recorded (``store copy``)."""
        ...

    def seen(self, site: str, agent: str, at: int) -> None: ...

    def contiguous_through(self, site: str, agent: str) -> int: ...

    def mark_acked(self, site: str, agent: str, through: int) -> None:
        """Note the ack through ``through`` as sent, in this transaction: the collector
        publishes a group's acks right after its commit (and every ack again after each
        reconnect), so one transaction per group serves both."""
        ...

    # documents (collector.store.documents): decided inside the same transaction
    def reference_documents(self, refs: Iterable[DocumentRef]) -> None:
        """Record which documents a stored batch references (idempotent)."""
        ...

    def document_referenced(self, site: str, agent: str, sha256: str) -> bool:
        """Whether a stored batch of that agent references the digest."""
        ...

    def store_document(self, sha256: str, data: bytes, at: int) -> bool:
        """Store the bytes under their digest (``StoreError`` if they do not hash to it);
        False if already stored."""
        ...

    def documents_from_quarantine(self, refs: Iterable[DocumentRef], at: int) -> list[str]:
        """Store the referenced documents whose whole bytes were quarantined as
        unreferenced (they beat their batch, e.g. to another collector of the group)."""
        ...

    def ack_limit(self, site: str, agent: str, through: int) -> int:
        """``through`` lowered to just before the first batch whose documents are not all
        stored: the ack never lets an agent delete what the store lacks."""
        ...


class EvidenceStore(Protocol):
    """The collector's only door to durable storage."""

    # -- ingest ------------------------------------------------------------------------
    def ingest(
        self, agents: Iterable[tuple[str, str]] | None = None
    ) -> contextlib.AbstractContextManager[IngestTransaction]:
        """A write transaction; it commits when the block exits normally.

        ``agents``: the (site, agent) pairs whose chains, documents and acks the transaction
        may touch (those of its messages' topics; quarantining needs none). Transactions for
        disjoint agents may then commit in parallel (several collectors on PostgreSQL); those
        sharing an agent are serialised. None: the transaction may touch any agent and
        excludes every other ingest transaction."""
        ...

    def record_status(
        self, site: str, agent: str, online: bool, status: dict[str, Any] | None, at: int
    ) -> None: ...

    def mark_acked(self, site: str, agent: str, through: int) -> None: ...

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
    ) -> EnrolledKey: ...

    def revoke_key(self, kid: str, *, at: int | None = None) -> EnrolledKey: ...

    def key(self, kid: str) -> EnrolledKey | None: ...

    def keys(self, site: str | None = None, agent: str | None = None) -> list[EnrolledKey]: ...

    # -- queries -----------------------------------------------------------------------
    def sites(self) -> list[str]: ...

    def agents(self, site: str | None = None) -> list[AgentState]: ...

    def agent_state(self, site: str, agent: str) -> AgentState | None: ...

    def series(self, site: str, agent: str | None = None) -> list[SeriesInfo]: ...

    def readings(
        self,
        site: str,
        start: int | None = None,
        end: int | None = None,
        *,
        param: str | None = None,
        agent: str | None = None,
    ) -> Iterator[StoredReading]: ...

    def events(
        self,
        site: str,
        start: int | None = None,
        end: int | None = None,
        *,
        type: str | None = None,
        agent: str | None = None,
    ) -> list[StoredEvent]: ...

    def envelopes(
        self, site: str, agent: str, first_seq: int = 1, last_seq: int | None = None
    ) -> Iterator[StoredEnvelope]: ...

    def envelopes_in_range(
        self, site: str, start: int, end: int, *, agent: str | None = None
    ) -> Iterator[StoredEnvelope]: ...

    def envelopes_after(self, after_id: int, limit: int) -> list[StoredEnvelope]: ...

    def quarantine_entries(
        self,
        *,
        site: str | None = None,
        agent: str | None = None,
        reason: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[QuarantineEntry]: ...

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None: ...

    def status_summary(self) -> StatusSummary: ...

    # -- InfluxDB mirror cursor --------------------------------------------------------
    def mirror_cursor(self, name: str) -> int: ...

    def set_mirror_cursor(self, name: str, envelope_id: int) -> None: ...

    def try_lead(self, role: str) -> bool:
        """True while this store instance holds ``role`` (e.g. the InfluxDB mirror) among all
        collectors sharing the store; asked again each round. A holder that dies releases
        it (its database session ends), so another collector takes over."""
        ...

    # -- time-series reads the web UI needs (aggregated inside the database) ----------
    def series_names(self, site: str) -> list[tuple[str, str]]:
        """(agent, param) of every stored series of a site, by agent then param."""
        ...

    def latest_ts(self, site: str) -> int | None:
        """Timestamp of the site's newest reading."""
        ...

    def recent_times(
        self, site: str, param: str, agent: str | None = None, limit: int = 64
    ) -> list[int]:
        """The newest ``limit`` distinct timestamps of the first matching series, ascending."""
        ...

    def bucket_stats(
        self, site: str, param: str, agent: str | None, start: int, end: int, width: int
    ) -> list[SeriesBucket]:
        """Readings in ``[start, end)`` grouped by ``(ts - start) // width``, in bucket order."""
        ...

    def points(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> list[SeriesPoint]:
        """Every reading in ``[start, end)`` as a chart point, by ts."""
        ...

    def reading_times(
        self, site: str, param: str, agent: str | None, start: int, end: int
    ) -> Iterator[int]:
        """Timestamps of the readings in ``[start, end)``, ascending (for gap finding)."""
        ...

    def flagged_readings(
        self, site: str, param: str, agent: str | None, start: int, end: int, limit: int
    ) -> list[tuple[int, float | None, str, str | None]]:
        """(ts, value, quality, reason) of readings whose quality is not good, by ts."""
        ...

    def completeness_counts(
        self, site: str, param: str, start: int, end: int, valid_fraction: float
    ) -> tuple[int, int, int | None]:
        """(distinct valid timestamps, readings, newest ts) in ``[start, end)``: a reading is
        valid with a value, quality not bad, and ``count >= valid_fraction * expected``."""
        ...

    # -- records and their versions, web tokens ---------------------------------------
    @property
    def records(self) -> RecordStore: ...

    @property
    def tokens(self) -> TokenTable: ...

    @property
    def month_events(self) -> MonthEventLog: ...

    @property
    def documents(self) -> DocumentStore: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class RecordStore(Protocol):
    """Built monthly records, append-only: one row per (site, month, version) with the
    exact record.json and record.jws bytes; nothing is ever updated or deleted."""

    def latest(self, site: str, month: str) -> RecordVersion | None: ...

    def list(self, site: str | None = None, month: str | None = None) -> list[RecordVersion]:
        """By site, month, version."""
        ...

    def add(self, v: RecordVersion, record_json: bytes, record_jws: bytes) -> None:
        """Insert a new version; ``StoreError`` if that version already exists."""
        ...

    def files(self, site: str, month: str, version: int) -> tuple[bytes, bytes] | None:
        """The stored record.json and record.jws bytes of one version."""
        ...


class MonthEventLog(Protocol):
    """Seals and submissions of site-months (``collector.months``), append-only: nothing is
    ever updated or deleted; the latest event of each kind counts."""

    def add(self, e: MonthEvent) -> None: ...

    def list(self, site: str | None = None, month: str | None = None) -> builtins.list[MonthEvent]:
        """By site, month, then the order they were added."""
        ...

    def latest(self, site: str, month: str, kind: MonthEventKind) -> MonthEvent | None: ...


class TokenTable(Protocol):
    """Web/API tokens, stored only as the SHA-256 of the token (``collector.web.tokens``)."""

    def add(
        self, name: str, role: str, sites: tuple[str, ...], token_hash: str, hint: str, at: int
    ) -> TokenInfo: ...

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]: ...

    def by_id(self, token_id: int) -> TokenInfo | None: ...

    def active_named(self, name: str) -> builtins.list[TokenInfo]: ...

    def by_hash(self, token_hash: str) -> tuple[str, TokenInfo] | None:
        """(stored hash, info) for a token hash, revoked or not."""
        ...

    def stored_hash(self, token_id: int) -> str | None:
        """The SHA-256 kept for a token (``store copy`` moves it; the token stays unknown)."""
        ...

    def revoke(self, token_id: int, at: int) -> TokenInfo | None:
        """Set ``revoked_at`` unless already set; None if there is no such token."""
        ...

    def touch(self, token_id: int, at: int) -> None:
        """Record use; best effort, never waits long for a busy store."""
        ...


class DocumentStore(Protocol):
    """Supporting documents (lab reports, settlement slips) and the batches that reference
    them, shared by every collector of the store (``collector.store.documents``)."""

    def add(self, sha256: str, data: bytes, stored_at: int) -> bool:
        """Store bytes under their digest, outside ingest (``store copy``, the one-time
        import of a collector's old documents folder); ``StoreError`` if they do not hash
        to it; False if already stored."""
        ...

    def add_refs(self, refs: Iterable[DocumentRef]) -> None:
        """Record references outside ingest (``store copy``, the import); idempotent."""
        ...

    def read(self, sha256: str) -> bytes | None: ...

    def info(self, sha256: str) -> StoredDocument | None: ...

    def list(self) -> builtins.list[StoredDocument]:
        """Every stored document, by digest."""
        ...

    def refs(
        self,
        site: str | None = None,
        *,
        agent: str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> builtins.list[DocumentRef]:
        """References by site, agent, seq, digest; ``start``/``end`` bound the referencing
        reading's ts (``[start, end)``, e.g. one month)."""
        ...
