"""Batch building: reading tuples → payload bytes → one Ed25519 signature → envelope.

The hot path stays on plain tuples and dicts. The payload bytes are exactly
``protocols.wire.encode_payload`` of the batch, produced in pieces that are hashed and
signed without ever being joined (``protocols.envelope.seal_pieces``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.derived.base import ReadingTuple
from protocols.compact import batch_readings, encode_series
from protocols.envelope import parse_envelope, seal_pieces
from protocols.keys import Ed25519PrivateKey
from protocols.wire import PAYLOAD_VERSION, encode_payload


@dataclass(frozen=True, slots=True)
class SignedBatch:
    seq: int
    prev: str | None
    hash: str
    created_ms: int
    readings: int
    envelope: bytes

    @property
    def payload(self) -> bytes:
        """The signed payload bytes, read back from the envelope (not kept twice)."""
        return parse_envelope(self.envelope, max_bytes=len(self.envelope)).payload


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
_PLAIN_CACHE_MAX = 100_000
_PIECE_READINGS = 500


class ReadingsEncoder:
    """Readings → the JSON array body, fast: the common good reading is one f-string.

    Produces exactly what ``json.dumps`` would for the same dicts (float and int ``repr``
    are JSON's own), without building a dict per reading. Anything unusual (a reason,
    aggregate fields, a non-finite number, an id JSON must escape) takes the ordinary
    ``json`` path.
    """

    def __init__(self) -> None:
        # id → whether JSON writes it as itself in quotes (true for every valid parameter
        # id); a flag per id instead of a cached '{"id":…,"ts":' string per id.
        self._plain: dict[str, bool] = {}

    def plain(self, rid: str) -> bool:
        ok = self._plain.get(rid)
        if ok is None:
            ok = _encode(rid) == f'"{rid}"'
            if len(self._plain) < _PLAIN_CACHE_MAX:
                self._plain[rid] = ok
        return ok

    def encode_pieces(self, readings: Sequence[ReadingTuple]) -> list[bytes]:
        """The JSON array body (without brackets) in pieces of ``_PIECE_READINGS`` readings;
        ``b"".join`` of them is ``encode(readings)``. No string per reading outlives its
        piece, and no buffer the size of the whole body is made."""
        pieces: list[bytes] = []
        plain = self._plain
        for start in range(0, len(readings), _PIECE_READINGS):
            parts: list[str] = [""] if start else []  # a leading "": the comma between pieces
            append = parts.append
            for r in readings[start : start + _PIECE_READINGS]:
                rid, ts, value, quality, reason, extra = r
                tv = type(value)
                if (
                    reason is None
                    and extra is None
                    and quality == "good"
                    # finite; mypy cannot narrow through ``tv``
                    and (tv is int or (tv is float and value - value == 0.0))  # type: ignore[operator]
                    and (plain.get(rid) or self.plain(rid))
                ):
                    append(f'{{"id":"{rid}","ts":{ts},"value":{value!r},"quality":"good"}}')
                else:
                    append(_encode(reading_dicts((r,))[0]))
            pieces.append(",".join(parts).encode("utf-8"))
        return pieces

    def encode(self, readings: Sequence[ReadingTuple]) -> bytes:
        return b"".join(self.encode_pieces(readings))


class BatchSigner:
    """Builds and signs the batches of one agent.

    With ``version`` 2 a batch is written in the compact form when it holds on average at
    least ``v2_min_per_param`` readings per parameter, else v1 (which every reader accepts).
    Since parameters sharing timestamps go into one table (ids once, one ``t``), one
    reading per parameter is a third of its v1 size too, so by default every batch is v2."""

    v2_min_per_param = 0

    def __init__(
        self,
        site: str,
        agent: str,
        key: Ed25519PrivateKey,
        kid: str,
        *,
        version: int = PAYLOAD_VERSION,
    ) -> None:
        if version not in (1, 2):
            raise ValueError(f"payload version {version} is not 1 or 2")
        self.version = version
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
        version = self.version
        if (
            version == 2
            and self.v2_min_per_param
            and len(readings) < self.v2_min_per_param * len({r[0] for r in readings})
        ):
            version = 1
        head = encode_payload(
            {
                "v": version,
                "site": self.site,
                "agent": self.agent,
                "seq": seq,
                "prev": prev,
                "created": created_ms,
                "clock": clock,
            }
        )
        # The bytes of encode_payload of the whole dict, in pieces and without a dict per
        # reading; hashed and signed piece by piece, never joined (see seal_pieces).
        tail = b'],"events":' + encode_payload(list(events)) + b"}"
        if version == 1:
            pieces = [
                head[:-1] + b',"readings":[',
                *self.readings_encoder.encode_pieces(readings),
                tail,
            ]
        else:  # v2: one series per parameter; readings that fit no series stay v1 readings
            series, rest = encode_series(readings)
            pieces = [head[:-1] + b',"series":[', series]
            if rest:
                pieces += [b'],"readings":[', *self.readings_encoder.encode_pieces(rest)]
            pieces.append(tail)
        hash_, envelope = seal_pieces(pieces, self.key, self.kid)
        return SignedBatch(seq, prev, hash_, created_ms, len(readings), envelope)


def resign(signer: BatchSigner, envelope: bytes, seq: int, prev: str) -> SignedBatch:
    """The batch in ``envelope`` signed again as ``seq`` after ``prev``, all else unchanged:
    how an agent continues its chain after a power cut lost commits the collector already
    holds (``Outbox.continue_after``)."""
    payload = json.loads(parse_envelope(envelope, max_bytes=len(envelope)).payload)
    payload["seq"], payload["prev"] = seq, prev
    hash_, env = seal_pieces([encode_payload(payload)], signer.key, signer.kid)
    return SignedBatch(seq, prev, hash_, int(payload["created"]), len(batch_readings(payload)), env)
