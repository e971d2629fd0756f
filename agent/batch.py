"""Batch building: reading tuples → payload bytes → one Ed25519 signature → envelope.

The hot path stays on plain tuples and dicts; the payload is serialized once by
``protocols.payload.encode_payload`` and those exact bytes are signed and hashed.
"""

from __future__ import annotations

import json
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


_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_PREFIX_CACHE_MAX = 100_000


class ReadingsEncoder:
    """Readings → the JSON array body, fast: the common good reading is one f-string.

    Produces exactly what ``json.dumps`` would for the same dicts (float and int ``repr``
    are JSON's own), without building a dict per reading. Anything unusual (a reason,
    aggregate fields, a non-finite number) takes the ordinary ``json`` path.
    """

    def __init__(self) -> None:
        self._prefix: dict[str, str] = {}

    def prefix(self, rid: str) -> str:
        p = self._prefix.get(rid)
        if p is None:
            p = '{"id":' + _encode(rid) + ',"ts":'
            if len(self._prefix) < _PREFIX_CACHE_MAX:
                self._prefix[rid] = p
        return p

    def encode(self, readings: Sequence[ReadingTuple]) -> bytes:
        parts: list[str] = []
        append = parts.append
        prefix = self._prefix
        for r in readings:
            rid, ts, value, quality, reason, extra = r
            tv = type(value)
            if (
                reason is None
                and extra is None
                and quality == "good"
                and (tv is int or (tv is float and value - value == 0.0))  # finite
            ):
                p = prefix.get(rid) or self.prefix(rid)
                append(f'{p}{ts},"value":{value!r},"quality":"good"}}')
            else:
                append(_encode(reading_dicts((r,))[0]))
        return ",".join(parts).encode("utf-8")


class BatchSigner:
    """Builds and signs the batches of one agent."""

    def __init__(self, site: str, agent: str, key: Ed25519PrivateKey, kid: str) -> None:
        self.site = site
        self.agent = agent
        self.key = key
        self.kid = kid
        self.readings_encoder = ReadingsEncoder()

    def build(
        self,
        seq: int,
        prev: str | None,
        created_ms: int,
        clock: dict[str, Any],
        readings: Sequence[ReadingTuple],
        events: Sequence[dict[str, Any]] = (),
    ) -> SignedBatch:
        head = encode_payload(
            {
                "v": PAYLOAD_VERSION,
                "site": self.site,
                "agent": self.agent,
                "seq": seq,
                "prev": prev,
                "created": created_ms,
                "clock": clock,
            }
        )
        # Same bytes as encode_payload of the whole dict, without a dict per reading.
        payload = b"".join(
            (
                head[:-1],
                b',"readings":[',
                self.readings_encoder.encode(readings),
                b'],"events":',
                encode_payload(list(events)),
                b"}",
            )
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
