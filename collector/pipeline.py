"""The verification pipeline: bytes and topic in, a decision out. No I/O.

Checks run in the contract's order (DESIGN.md, issue 6) and the first failure decides the
quarantine reason: size, JWS structure, kid enrolled and bound to exactly this site and agent
(topic and payload must agree), signature, payload schema, key validity at the batch's
creation time, then the batch's place in its agent's chain. The store is consulted only
through ``PipelineView`` so the same class serves tests, the benchmark and any backend.

Within the chain step a stored batch with the same seq is looked at first: same bytes is a
duplicate (acknowledged, not stored again), different bytes an equivocation. That comes before
the neighbour-link check because an equivocating batch usually links correctly to seq - 1
and would otherwise be reported as a mere chain fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from collector.models import EnrolledKey, StoredLink
from protocols.envelope import (
    MAX_ENVELOPE_BYTES,
    parse_envelope,
    payload_hash,
    verify_signature,
)
from protocols.errors import EnvelopeError, InvalidId
from protocols.payload import BatchPayload, parse_payload
from protocols.topics import parse_topic

#: Every quarantine reason the collector writes, in pipeline order.
REASONS: tuple[str, ...] = (
    "topic",  # not a v1 data topic with valid site and agent ids
    "too_large",
    "malformed",  # not JSON, not UTF-8, or not a flattened JWS
    "too_deep",  # JSON nested deeper than 32 (envelope, payload or status)
    "duplicate_member",  # a JSON object names a member twice
    "non_finite",  # NaN / Infinity
    "number_range",  # a number beyond IEEE double (1e400) or an integer beyond ±(2^53 - 1)
    "bad_alg",
    "unknown_kid",
    "kid_mismatch",  # kid enrolled for another site/agent, or payload names another
    "key_revoked",
    "bad_signature",
    "wrong_type",  # a JSON value of another type than the contract says ("420.5")
    "schema",
    "key_expired",  # batch created outside the key's validity period
    "equivocation",  # same seq, different bytes: alarm
    "chain",  # prev does not link to the stored neighbour
    "internal",  # processing failed unexpectedly; kept so that ingest goes on (a bug to fix)
    "document_too_large",  # a document message over 20 MB
    "document_digest_mismatch",  # document bytes do not hash to the topic's digest
    "document_unreferenced",  # no stored batch of that agent references the digest (yet)
)


class PipelineView(Protocol):
    """What the pipeline needs to know from the evidence store."""

    def key_for_kid(self, kid: str) -> EnrolledKey | None: ...

    def stored_link(self, site: str, agent: str, seq: int) -> StoredLink | None: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    site: str
    agent: str
    seq: int
    prev: str | None
    hash: str
    kid: str
    envelope: bytes
    payload: BatchPayload


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The same batch again (a resend or a replay): acknowledge, store nothing."""

    site: str
    agent: str
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Quarantined:
    reason: str
    message: str
    topic: str
    raw: bytes
    site: str | None = None
    agent: str | None = None
    kid: str | None = None
    seq: int | None = None

    @property
    def alarm(self) -> bool:
        """Equivocation means a key signed two different batches for one seq: page someone."""
        return self.reason == "equivocation"


Decision = Accepted | Duplicate | Quarantined


class VerificationPipeline:
    """Decide what to do with one message published on a data topic."""

    def __init__(self, *, max_envelope_bytes: int = MAX_ENVELOPE_BYTES) -> None:
        self.max_envelope_bytes = max_envelope_bytes

    def decide(self, topic: str, raw: bytes, view: PipelineView) -> Decision:
        try:
            where = parse_topic(topic)
        except InvalidId as exc:
            return Quarantined("topic", str(exc), topic, raw)
        site, agent = where.site, where.agent
        if where.kind != "data":
            return Quarantined(
                "topic", f"batches belong on data topics, not {where.kind}", topic, raw, site, agent
            )

        def reject(
            reason: str, message: str, kid: str | None = None, seq: int | None = None
        ) -> Quarantined:
            return Quarantined(reason, message, topic, raw, site, agent, kid, seq)

        try:
            parsed = parse_envelope(raw, max_bytes=self.max_envelope_bytes)
        except EnvelopeError as exc:
            return reject(exc.reason, str(exc))
        kid = parsed.kid

        key = view.key_for_kid(kid)
        if key is None:
            return reject("unknown_kid", f"kid {kid} is not enrolled", kid)
        if (key.site, key.agent) != (site, agent):
            return reject(
                "kid_mismatch",
                f"kid {kid} is enrolled for {key.site}/{key.agent}, not for topic {site}/{agent}",
                kid,
            )
        if key.revoked:
            return reject("key_revoked", f"kid {kid} was revoked", kid)

        try:
            verify_signature(parsed, key.public_key())
        except EnvelopeError as exc:
            return reject(exc.reason, str(exc), kid)

        try:
            payload = parse_payload(parsed.payload)
        except EnvelopeError as exc:
            return reject(exc.reason, str(exc), kid)
        seq = payload.seq
        if (payload.site, payload.agent) != (site, agent):
            return reject(
                "kid_mismatch",
                f"payload names {payload.site}/{payload.agent} but was signed with the key of "
                f"{site}/{agent}",
                kid,
                seq,
            )
        if not key.valid_at(payload.created):
            return reject(
                "key_expired",
                f"batch created at {payload.created} ms is outside the validity period of kid {kid}",
                kid,
                seq,
            )

        digest = payload_hash(parsed.payload)
        same = view.stored_link(site, agent, seq)
        if same is not None:
            if same.hash == digest:
                return Duplicate(site, agent, seq, digest)
            return reject(
                "equivocation",
                f"seq {seq} is already stored with hash {same.hash}; this batch has {digest}",
                kid,
                seq,
            )
        if seq > 1:
            before = view.stored_link(site, agent, seq - 1)
            if before is not None and payload.prev != before.hash:
                return reject(
                    "chain",
                    f"prev {payload.prev} does not match the stored seq {seq - 1} ({before.hash})",
                    kid,
                    seq,
                )
        after = view.stored_link(site, agent, seq + 1)
        if after is not None and after.prev != digest:
            return reject(
                "chain",
                f"stored seq {seq + 1} names prev {after.prev}, not this batch ({digest})",
                kid,
                seq,
            )
        return Accepted(site, agent, seq, payload.prev, digest, kid, raw, payload)
