"""Real signed batches for record tests: an agent key, a hash chain, flattened JWS."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.compact import encode_series
from protocols.envelope import payload_hash, sign_envelope
from protocols.keys import Ed25519PrivateKey, generate_private_key, public_jwk
from protocols.payload import encode_payload

Reading = dict[str, Any]


def reading(pid: str, ts: int, value: float | None, quality: str = "good", **extra: Any) -> Reading:
    r: Reading = {"id": pid, "ts": ts, "value": value, "quality": quality}
    if quality != "good":
        r["reason"] = extra.pop("reason", "test")
    r.update(extra)
    return r


@dataclass
class FakeAgent:
    """Signs batches like the edge agent: seq 1, 2, … each naming its predecessor's hash."""

    site: str
    agent: str
    key: Ed25519PrivateKey = field(default_factory=generate_private_key)
    seq: int = 0
    prev: str | None = None
    envelopes: list[bytes] = field(default_factory=list)
    version: int = 1  # 2: the compact form (protocols.compact), as agents emit it

    @property
    def jwk(self) -> dict[str, str]:
        return public_jwk(self.key)

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def batch(
        self,
        readings: Sequence[Reading],
        events: Iterable[dict[str, Any]] = (),
        *,
        clock: dict[str, Any] | None = None,
        created: int | None = None,
    ) -> bytes:
        self.seq += 1
        payload = encode_payload(
            {
                "v": 1,
                "site": self.site,
                "agent": self.agent,
                "seq": self.seq,
                "prev": self.prev,
                "created": created
                if created is not None
                else max((r["ts"] for r in readings), default=0),
                "clock": clock or {"source": "ntp", "synced": True, "offset_ms": 1.0},
                "readings": list(readings),
                "events": list(events),
            }
        )
        if self.version == 2:
            payload = _as_v2(payload)
        self.prev = payload_hash(payload)
        env = sign_envelope(payload, self.key, self.kid)
        self.envelopes.append(env)
        return env

    def publish(self, readings: Sequence[Reading], per_batch: int, **kw: Any) -> list[bytes]:
        """Split readings (time-ordered) into batches of ``per_batch``."""
        return [
            self.batch(readings[i : i + per_batch], **kw)
            for i in range(0, len(readings), per_batch)
        ]


def _as_v2(payload: bytes) -> bytes:
    """The same batch as payload v2: every reading in a series (none here needs v1)."""
    p = json.loads(payload)
    tuples = [
        (
            r["id"], r["ts"], r["value"], r["quality"], r.get("reason"),
            {k: r[k] for k in ("count", "expected", "min", "max") if k in r} or None,
        )
        for r in p.pop("readings")
    ]  # fmt: skip
    body, rest = encode_series(tuples)
    assert not rest
    p["v"] = 2
    head = json.dumps(p, separators=(",", ":"), ensure_ascii=False)[:-1]
    return f'{head},"series":[{body.decode()}]}}'.encode()
