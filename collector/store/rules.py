"""What every backend decides alike, kept out of the SQL: the form of an enrolled key, the
gaps above an agent's contiguous head, the stored form of a quarantine entry and of an
envelope, and the schema version."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from collector.models import QuarantineEntry
from collector.pipeline import Quarantined
from collector.store.interface import StoreError
from protocols.compact import BatchReadings
from protocols.ids import validate_id
from protocols.keys import jwk_thumbprint, public_key_from_jwk
from protocols.packed import pack, unpack


def check_reenrolment(kid: str, site: str, agent: str, existing: Any) -> None:
    """A kid already stored may be enrolled again only for its own agent and if not revoked.

    ``existing`` is the stored ``(site, agent, revoked_at)`` row of ``kid``.
    """
    if (existing[0], existing[1]) != (site, agent):
        raise StoreError(f"kid {kid} is already enrolled for {existing[0]}/{existing[1]}")
    if existing[2] is not None:
        raise StoreError(f"kid {kid} was revoked; a revoked key cannot be enrolled again")


def enrolment(
    site: str, agent: str, jwk: dict[str, Any], valid_from: int | None, valid_to: int | None
) -> tuple[str, dict[str, str]]:
    """(kid, the JWK as stored) for a key to enroll; ``StoreError`` naming what is wrong."""
    validate_id(site, "site id")
    validate_id(agent, "agent id")
    try:
        public_key_from_jwk(jwk)
        kid = jwk_thumbprint(jwk)
    except ValueError as exc:
        raise StoreError(f"not an Ed25519 public JWK: {exc}") from None
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise StoreError("key validity ends before it starts")
    clean = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwk["x"],
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }
    return kid, clean


def gaps_above(through: int, seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Missing seq ranges between the contiguous head and the stored seqs (ascending)."""
    gaps: list[tuple[int, int]] = []
    cursor = through + 1
    for s in seqs:
        if s > cursor:
            gaps.append((cursor, s - 1))
        cursor = s + 1
    return gaps


#: Columns of ``quarantine_row``, in order.
QUARANTINE_COLS = "received_at, topic, site, agent, kid, seq, reason, message, size, sha256, raw"


def quarantine_row(rejected: Quarantined, received_at: int, keep_bytes: int) -> tuple[Any, ...]:
    """A rejected message as stored: the size and SHA-256 of all of its bytes, and only the
    first ``keep_bytes`` of them (hostile input must not fill the disk)."""
    raw = rejected.raw
    return (
        received_at, rejected.topic, rejected.site, rejected.agent, rejected.kid, rejected.seq,
        rejected.reason, rejected.message, len(raw), hashlib.sha256(raw).hexdigest(),
        raw[:keep_bytes],
    )  # fmt: skip


def restored_quarantine_row(q: QuarantineEntry, keep_bytes: int) -> tuple[Any, ...]:
    """An entry copied from another store (``store copy``): size and digest stay those of
    the message as received, not of the bytes the source kept (else a truncated entry
    would look changed)."""
    return (
        q.received_at, q.topic, q.site, q.agent, q.kid, q.seq, q.reason, q.message, q.size,
        q.sha256, q.raw[:keep_bytes],
    )  # fmt: skip


#: The evidence store's schema version. 2: ``envelopes.form`` (0: the envelope as received;
#: 1: packed by ``protocols.packed``). A version 1 store gains the column on open; its
#: envelopes stay as received and read back the same.
SCHEMA_VERSION = 2
#: deflate level of a stored envelope's payload: 1 costs ≈ 0.2 µs CPU per v2 reading at
#: ingest and keeps ≈ 90 % of level 6's saving
PACK_LEVEL = 1


def stored_envelope(envelope: bytes) -> tuple[bytes, int]:
    """(bytes to store, form) of an envelope as received: packed when it comes back byte
    for byte from its parts, else as it is. The record bundle carries what
    ``received_envelope`` gives back: the exact bytes received."""
    packed = pack(envelope, level=PACK_LEVEL)
    return (envelope, 0) if packed is None else (packed[0], 1)


def received_envelope(stored: bytes, form: int) -> bytes:
    return unpack(stored) if form == 1 else stored


def schema_upgrade(found: str | None, where: str) -> int | None:
    """The version to migrate from (None: nothing to do); ``StoreError`` for a store this
    collector cannot read (newer, or not one of ours)."""
    if found is None or found == str(SCHEMA_VERSION):
        return None
    if not found.isdigit() or int(found) > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has evidence store schema version {found!r}; this collector reads up "
            f"to {SCHEMA_VERSION}: run a newer collector, or move the evidence with "
            "`mrv-collector store copy --from URL --to URL` using one that reads it"
        )
    return int(found)


def ts_range(readings: Sequence[Any]) -> tuple[int | None, int | None]:
    """(first, last) reading timestamp of a batch (None, None without readings): the
    envelope's time span, by which the record build selects a month's batches."""
    if isinstance(readings, BatchReadings):
        return readings.ts_range() or (None, None)
    return (
        min((r.ts for r in readings), default=None),
        max((r.ts for r in readings), default=None),
    )
