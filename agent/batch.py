"""Batch building: reading tuples → payload bytes → one Ed25519 signature → envelope.

The hot path stays on plain tuples and dicts; the payload is serialized once by
``protocols.payload.encode_payload`` and those exact bytes are signed and hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.derived.base import ReadingTuple
from protocols.envelope import payload_hash, sign_envelope
from protocols.keys import Ed25519PrivateKey
from protocols.payload import PAYLOAD_VERSION, encode_payload


@dataclass(frozen=True, slots=True)
class SignedBatch:
    seq: int
    prev: str | None
    hash: str
    created_ms: int
    readings: int
    payload: bytes
    envelope: bytes


def reading_dicts(readings: Sequence[ReadingTuple]) -> list[dict[str, Any]]:
    """Tuples to the wire shape ``{"id","ts","value","quality"[,"reason"][,aggregates]}``."""
    out: list[dict[str, Any]] = []
    append = out.append
    for rid, ts, value, quality, reason, extra in readings:
        if reason is None and extra is None:
            append({"id": rid, "ts": ts, "value": value, "quality": quality})
            continue
        d: dict[str, Any] = {"id": rid, "ts": ts, "value": value, "quality": quality}
        if reason is not None:
            d["reason"] = reason
        if extra:
            d.update(extra)
        append(d)
    return out


class BatchSigner:
    """Builds and signs the batches of one agent."""

    def __init__(self, site: str, agent: str, key: Ed25519PrivateKey, kid: str) -> None:
        self.site = site
        self.agent = agent
        self.key = key
        self.kid = kid

    def build(
        self,
        seq: int,
        prev: str | None,
        created_ms: int,
        clock: dict[str, Any],
        readings: Sequence[ReadingTuple],
        events: Sequence[dict[str, Any]] = (),
    ) -> SignedBatch:
        payload = encode_payload(
            {
                "v": PAYLOAD_VERSION,
                "site": self.site,
                "agent": self.agent,
                "seq": seq,
                "prev": prev,
                "created": created_ms,
                "clock": clock,
                "readings": reading_dicts(readings),
                "events": list(events),
            }
        )
        return SignedBatch(
            seq,
            prev,
            payload_hash(payload),
            created_ms,
            len(readings),
            payload,
            sign_envelope(payload, self.key, self.kid),
        )
