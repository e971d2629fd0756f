"""Plain records the evidence store hands out and the pipeline consults.

They carry names, not database ids, so a PostgreSQL backend can return the same objects.
Times are UTC epoch milliseconds throughout, like the wire contract.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from protocols.keys import Ed25519PublicKey, public_key_from_jwk


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@lru_cache(maxsize=4096)
def _public_key(x: str) -> Ed25519PublicKey:
    return public_key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})


@dataclass(frozen=True, slots=True)
class EnrolledKey:
    """An agent's public key, bound to exactly one site and agent, with a validity period."""

    site: str
    agent: str
    kid: str
    jwk: dict[str, Any]
    valid_from: int | None = None
    valid_to: int | None = None
    revoked_at: int | None = None
    enrolled_at: int = 0

    def public_key(self) -> Ed25519PublicKey:
        return _public_key(self.jwk["x"])

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_dict(self) -> dict[str, Any]:
        """The one JSON form of an enrolled key (CLI ``--json``, HTTP API, ``keys.json``)."""
        return {
            "site": self.site,
            "agent": self.agent,
            "kid": self.kid,
            "jwk": self.jwk,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "revoked_at": self.revoked_at,
            "enrolled_at": self.enrolled_at,
        }

    def valid_at(self, ms: int) -> bool:
        """True if a batch created at ``ms`` falls inside the key's validity period."""
        if self.valid_from is not None and ms < self.valid_from:
            return False
        return not (self.valid_to is not None and ms >= self.valid_to)


@dataclass(frozen=True, slots=True)
class StoredLink:
    """What the chain check needs of a stored batch."""

    seq: int
    prev: str | None
    hash: str


@dataclass(frozen=True, slots=True)
class StoredEnvelope:
    """A stored batch: the envelope bytes exactly as received, plus what was read from them."""

    site: str
    agent: str
    seq: int
    prev: str | None
    hash: str
    kid: str
    received_at: int
    created: int
    n_readings: int
    first_ts: int | None
    last_ts: int | None
    envelope: bytes
    id: int = 0  # store-local insertion order (the mirror's cursor)


class StoredReading(NamedTuple):
    """One reading as stored; a tuple because the record builder iterates millions."""

    site: str
    agent: str
    param: str
    ts: int
    value: float | None
    quality: str
    reason: str | None
    count: int | None  # type: ignore[assignment]  # shadows tuple.count, as the column is named
    expected: int | None
    min: float | None
    max: float | None
    seq: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    site: str
    agent: str
    seq: int
    type: str
    ts: int | None
    start: int | None
    end: int | None
    cell: str | None
    peak_v: float | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A parameter series of one agent: what the UI lists and the record builder walks."""

    site: str
    agent: str
    param: str
    count: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A rejected message: kept with its reason, never dropped unseen."""

    id: int
    received_at: int
    topic: str
    site: str | None
    agent: str | None
    kid: str | None
    seq: int | None
    reason: str
    message: str
    size: int
    sha256: str
    raw: bytes  # the first ``limits.quarantine_keep_bytes`` bytes

    @property
    def truncated(self) -> bool:
        return len(self.raw) < self.size

    def as_dict(self) -> dict[str, Any]:
        """The one JSON form of an entry (HTTP API, ``mrv-collector quarantine --json``);
        the raw bytes themselves are fetched separately."""
        return {
            "id": self.id,
            "received_at": self.received_at,
            "topic": self.topic,
            "site": self.site,
            "agent": self.agent,
            "kid": self.kid,
            "seq": self.seq,
            "reason": self.reason,
            "message": self.message,
            "size": self.size,
            "sha256": self.sha256,
            "kept_bytes": len(self.raw),
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class AgentState:
    """Per agent: chain position, gaps, quarantine, liveness (``mrv-collector status``)."""

    site: str
    agent: str
    contiguous_through: int
    head_hash: str | None
    acked_through: int
    highest_seq: int
    stored_batches: int
    gaps: list[tuple[int, int]]
    quarantined: int
    equivocations: int
    last_seen: int | None
    online: bool | None
    status: dict[str, Any] | None
    status_at: int | None
    kids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "agent": self.agent,
            "contiguous_through": self.contiguous_through,
            "head_hash": self.head_hash,
            "acked_through": self.acked_through,
            "highest_seq": self.highest_seq,
            "stored_batches": self.stored_batches,
            "gaps": [list(g) for g in self.gaps],
            "quarantined": self.quarantined,
            "equivocations": self.equivocations,
            "last_seen": self.last_seen,
            "online": self.online,
            "status_at": self.status_at,
            "kids": self.kids,
        }


@dataclass(frozen=True, slots=True)
class StatusSummary:
    agents: list[AgentState]
    quarantine_by_reason: dict[str, int]
    unattributed_quarantine: int  # rejected messages whose topic named no valid agent

    def as_dict(self) -> dict[str, Any]:
        return {
            "agents": [a.as_dict() for a in self.agents],
            "quarantine_by_reason": self.quarantine_by_reason,
            "unattributed_quarantine": self.unattributed_quarantine,
        }


@dataclass(frozen=True, slots=True)
class RecordVersion:
    """One built monthly record. ``in_store`` is False for a bundle directory found on disk
    that the store does not list (the web UI shows those too)."""

    site: str
    month: str
    version: int
    created: int | None  # UTC epoch ms
    reason: str | None
    record_sha256: str | None
    bundle_dir: str | None
    in_store: bool = True

    @property
    def created_at(self) -> str | None:
        from datetime import UTC, datetime

        if self.created is None:
            return None
        return datetime.fromtimestamp(self.created / 1000, UTC).isoformat(timespec="seconds")

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "month": self.month,
            "version": self.version,
            "created_at": self.created_at,
            "reason": self.reason,
        }


MonthEventKind = Literal["sealed", "submitted"]


@dataclass(frozen=True, slots=True)
class MonthEvent:
    """A seal or a submission of one site-month's record version (``collector.months``).

    Append-only: a month sealed again after a rebuild, or submitted again, has another
    event; the latest of each kind is the one that counts."""

    site: str
    month: str
    kind: MonthEventKind
    version: int
    record_sha256: str
    at: int  # UTC epoch ms
    by: str
    reason: str = ""
    receipt: str | None = None  # the platform's receipt number, if the operator entered one

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "month": self.month,
            "kind": self.kind,
            "version": self.version,
            "record_sha256": self.record_sha256,
            "at": self.at,
            "by": self.by,
            "reason": self.reason,
            "receipt": self.receipt,
        }


Role = Literal["viewer", "verifier", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "verifier", "admin")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored web/API token's metadata (never the token itself)."""

    id: int
    name: str
    role: Role
    sites: tuple[str, ...]
    hint: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def can_read(self, site: str) -> bool:
        return self.role == "admin" or site in self.sites

    def can_download(self, site: str) -> bool:
        """Raw evidence (bundles, quarantined bytes) is for verifiers and admins only."""
        return self.role == "admin" or (self.role == "verifier" and site in self.sites)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "sites": list(self.sites) if self.role != "admin" else ["*"],
            "hint": self.hint,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True, slots=True)
class SeriesBucket:
    """One time bucket of a series, aggregated in the database (web UI charts)."""

    index: int  # (ts - start) // width
    mean: float | None
    min: float | None  # widened by an interval reading's own min/max
    max: float | None
    n: int  # readings with a value
    flagged: int  # readings whose quality is not good
    count: int  # all readings


class SeriesPoint(NamedTuple):
    ts: int
    value: float | None
    quality: str
    min: float | None  # the reading's own min (else its value); None without a value
    max: float | None


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A signed batch's reference to a supporting document (lab report, settlement slip):
    the digest, name, media type and size its submission reading names, and that reading's
    timestamp (so a month's documents are found without parsing batches)."""

    site: str
    agent: str
    seq: int
    sha256: str
    name: str
    media_type: str
    size: int
    ts: int


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document's bytes as stored: content-addressed, once however many batches name it."""

    sha256: str
    size: int
    stored_at: int
