"""A month of simulated one-minute data, stored through the real collector path.

Batches are signed with a real Ed25519 key, decided by the real ``VerificationPipeline`` and
written with ``SqliteEvidenceStore.ingest``; rejected messages land in the real quarantine.
Shared by the web tests and ``bench/timeseries_query.py``.

The month (Asia/Shanghai, 2025-03) has: a 3-hour outage of every parameter on 2025-03-10
from 08:00 local (no readings), flagged readings (substituted / bad without value), anode
effects with a voltage spike, one missing batch (an open sequence gap), and garbage in
quarantine.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from collector.pipeline import Accepted, Quarantined, VerificationPipeline
from collector.store.sqlite import SqliteEvidenceStore
from protocols.envelope import payload_hash, sign_envelope
from protocols.keys import generate_private_key, public_jwk
from protocols.payload import encode_payload

TZ = ZoneInfo("Asia/Shanghai")
MONTH = "2025-03"
MONTH_START = int(datetime(2025, 3, 1, tzinfo=TZ).timestamp() * 1000)
MONTH_END = int(datetime(2025, 4, 1, tzinfo=TZ).timestamp() * 1000)
OUTAGE_START = int(datetime(2025, 3, 10, 8, 0, tzinfo=TZ).timestamp() * 1000)
OUTAGE_END = OUTAGE_START + 3 * 3600_000
MINUTE = 60_000
SITE = "smelter-a"
AGENT = "potline-1"
OTHER_SITE = "cement-b"
PARAMS = ("line_current_ka", "cell_voltage_avg_v", "active_power_mw")
#: The batch never delivered: an open gap in the agent's chain.
MISSING_SEQ = 700


@dataclass
class Filled:
    path: Path
    readings: int = 0
    batches: int = 0
    quarantined: int = 0
    anode_effects: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    nulls: list[int] = field(default_factory=list)


def _value(param: str, ts: int, rnd: random.Random) -> float:
    day = (ts - MONTH_START) / 86_400_000
    wave = math.sin(day * 2 * math.pi)
    if param == "line_current_ka":
        return 400.0 + 3.0 * wave + rnd.gauss(0, 0.4)
    if param == "cell_voltage_avg_v":
        return 4.05 + 0.03 * wave + rnd.gauss(0, 0.01)
    return 162.0 + 1.5 * wave + rnd.gauss(0, 0.3)


def fill_store(
    path: Path,
    *,
    days: int | None = None,
    params: tuple[str, ...] = PARAMS,
    per_batch_minutes: int = 60,
    seed: int = 7,
) -> Filled:
    """Create ``path`` and fill it with the simulated month (or its first ``days`` days)."""
    rnd = random.Random(seed)
    store = SqliteEvidenceStore(path)
    key = generate_private_key()
    jwk = public_jwk(key)
    kid = jwk["kid"]
    store.enroll_key(SITE, AGENT, jwk)
    other_key = generate_private_key()
    store.enroll_key(OTHER_SITE, "kiln-1", public_jwk(other_key))
    pipeline = VerificationPipeline()
    out = Filled(path)
    end = MONTH_END if days is None else MONTH_START + days * 86_400_000

    def batches() -> Any:
        seq = 0
        prev: str | None = None
        t = MONTH_START
        while t < end:
            readings: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for ts in range(t, min(end, t + per_batch_minutes * MINUTE), MINUTE):
                if OUTAGE_START <= ts < OUTAGE_END:
                    continue
                minute = (ts - MONTH_START) // MINUTE
                for p in params:
                    r: dict[str, Any] = {
                        "id": p,
                        "ts": ts,
                        "value": _value(p, ts, rnd),
                        "quality": "good",
                        "count": 60,
                        "expected": 60,
                    }
                    if p == "line_current_ka" and minute % 4001 == 17:
                        r["quality"] = "uncertain"
                        r["reason"] = "substituted: neighbour average"
                        out.flagged.append(ts)
                    if p == "line_current_ka" and minute % 9973 == 5:
                        r["value"] = None
                        r["quality"] = "bad"
                        r["reason"] = "device timeout"
                        r["count"] = 0
                        out.nulls.append(ts)
                    if p == "cell_voltage_avg_v" and minute % 2880 == 1000:
                        r["value"] = 31.5  # an anode effect shows as a spike
                        r["max"] = 38.0
                        ae = {
                            "type": "anode_effect",
                            "cell": f"A{minute % 240:03d}",
                            "start": ts,
                            "end": ts + 95_000,
                            "peak_v": 38.0,
                        }
                        events.append(ae)
                        out.anode_effects.append(ae)
                    readings.append(r)
            seq += 1
            payload = encode_payload(
                {
                    "v": 1,
                    "site": SITE,
                    "agent": AGENT,
                    "seq": seq,
                    "prev": prev,
                    "created": min(end, t + per_batch_minutes * MINUTE),
                    "clock": {"source": "ntp", "synced": True},
                    "readings": readings,
                    "events": events,
                }
            )
            prev = payload_hash(payload)
            yield seq, sign_envelope(payload, key, kid), len(readings)
            t += per_batch_minutes * MINUTE

    topic = f"mrv/v1/{SITE}/{AGENT}/data"
    group: list[tuple[bytes, int]] = []

    def flush() -> None:
        with store.ingest() as txn:
            for raw, n in group:
                decision = pipeline.decide(topic, raw, txn)
                if isinstance(decision, Accepted):
                    txn.store_batch(decision, decision.payload.created + 2_000)
                    out.readings += n
                    out.batches += 1
                elif isinstance(decision, Quarantined):
                    txn.quarantine(decision, MONTH_START)
                    out.quarantined += 1
        group.clear()

    for seq, raw, n in batches():
        if seq == MISSING_SEQ:
            continue
        group.append((raw, n))
        if len(group) >= 64:
            flush()
    for junk in (b"\x00garbage\xff", b'{"not": "a jws"}'):
        group.append((junk, 0))
    flush()
    store.record_status(
        SITE,
        AGENT,
        True,
        {"online": True, "agent_version": "0.1.0", "kid": kid, "catalogue": []},
        end,
    )
    # The other site: a little cement data so access across sites can be tested.
    payload = encode_payload(
        {
            "v": 1,
            "site": OTHER_SITE,
            "agent": "kiln-1",
            "seq": 1,
            "prev": None,
            "created": MONTH_START + 600_000,
            "clock": {"source": "ntp"},
            "readings": [
                {"id": "clinker_t", "ts": MONTH_START + i * MINUTE, "value": 1.5, "quality": "good"}
                for i in range(10)
            ],
        }
    )
    with store.ingest() as txn:
        decision = pipeline.decide(
            f"mrv/v1/{OTHER_SITE}/kiln-1/data",
            sign_envelope(payload, other_key, public_jwk(other_key)["kid"]),
            txn,
        )
        assert isinstance(decision, Accepted), decision
        txn.store_batch(decision, MONTH_START + 601_000)
        bad = pipeline.decide(f"mrv/v1/{OTHER_SITE}/kiln-1/data", b"not json", txn)
        assert isinstance(bad, Quarantined)
        txn.quarantine(bad, MONTH_START)
    store.close()
    return out
