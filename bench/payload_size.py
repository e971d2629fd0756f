"""Benchmark: bytes per reading on the wire, in the agent's outbox and in the evidence store.

Not a test. The agent's own ``BatchSigner`` signs the same readings as payload v1 and v2;
each envelope is committed to a real agent ``Outbox`` (SQLite) and ingested by the real
``VerificationPipeline`` into a fresh ``SqliteEvidenceStore``; files are measured after a
WAL checkpoint. Also printed: the size the envelope would have with RFC 7797's unencoded
payload (``b64: false``: the payload as a JSON string instead of base64url). Nothing is
acked, as in an outage, so the outbox packs the envelopes (``agent/outbox.py``); its file
size (after VACUUM, with SQLite's pages and the deflate dictionary) and the bytes its rows
hold are both printed.

Workloads:

* ``key-1min``: the demo's key parameters: 100 one-minute interval aggregates (time-weighted
  mean, ``count``/``expected``, float32 ``min``/``max``), one batch per ``--publish`` s
  (the demo publishes every 60 s: one reading of each parameter per batch);
* ``cells-1hz``: raw cell voltages, 300 cells at 1 Hz, float32 values, 60 s batches.

    .venv/bin/python bench/payload_size.py --minutes 60
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.batch import BatchSigner
from agent.outbox import Outbox
from collector.pipeline import Accepted, VerificationPipeline
from collector.store.sqlite import SqliteEvidenceStore
from protocols.envelope import parse_envelope
from protocols.keys import generate_private_key, public_jwk
from protocols.topics import data_topic

SITE, AGENT = "smelter-1", "pot-room-1"
T0 = 1_793_379_600_000


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def key_1min(minutes: int, publish_s: int) -> list[list[tuple[Any, ...]]]:
    rnd = random.Random(1)
    per = publish_s // 60
    batches = []
    for b in range(max(1, minutes // per)):
        rs = []
        for m in range(per):
            ts = T0 + (b * per + m + 1) * 60_000
            for p in range(100):
                lo, hi = sorted(f32(400 + rnd.uniform(-5, 5)) for _ in range(2))
                mean = lo + (hi - lo) * rnd.random()
                extra = {"count": 6, "expected": 6, "min": lo, "max": hi}
                rs.append(
                    (f"potline{p // 20 + 1}.key_param_{p:02d}", ts, mean, "good", None, extra)
                )
        batches.append(rs)
    return batches


def cells_1hz(minutes: int) -> list[list[tuple[Any, ...]]]:
    rnd = random.Random(2)
    batches = []
    for b in range(minutes):
        rs = []
        for c in range(300):
            for s in range(60):
                ts = T0 + (b * 60 + s) * 1000
                rs.append(
                    (f"cell_{c:03d}_v", ts, f32(4.2 + rnd.uniform(-0.1, 0.1)), "good", None, None)
                )
        batches.append(rs)
    return batches


def measure(
    name: str, batches: list[list[tuple[Any, ...]]], version: int, tmp: Path
) -> dict[str, Any]:
    key = generate_private_key()
    jwk = public_jwk(key)
    signer = BatchSigner(SITE, AGENT, key, jwk["kid"], version=version)
    work = tmp / f"{name}-v{version}"
    outbox = Outbox(work / "outbox.sqlite3", site=SITE, agent=AGENT)
    store = SqliteEvidenceStore(work / "evidence.sqlite3")
    store.enroll_key(SITE, AGENT, jwk)
    pipeline = VerificationPipeline(max_envelope_bytes=16 * 1024 * 1024)
    topic = data_topic(SITE, AGENT)
    prev = None
    wire = unencoded = payload_bytes = n = 0
    for seq, rs in enumerate(batches, 1):
        b = signer.build(seq, prev, rs[-1][1], {"source": "ntp", "synced": True}, rs)
        prev = b.hash
        outbox.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
        with store.ingest() as tx:
            d = pipeline.decide(topic, b.envelope, tx)
            assert isinstance(d, Accepted), d
            tx.store_batch(d, 0)
        payload = parse_envelope(b.envelope).payload
        wire += len(b.envelope)
        payload_bytes += len(payload)
        # RFC 7797 flattened JSON with b64:false: the payload member is a JSON string
        env = json.loads(b.envelope)
        unencoded += (
            len(b.envelope)
            - len(env["payload"])
            + len(json.dumps(payload.decode(), ensure_ascii=False).encode())
            - 2
        )  # the quotes around the base64 text were already counted
        n += len(rs)
    # what the outbox's rows hold (packed envelopes, as during an outage: nothing is acked
    # here), without SQLite's pages and the deflate dictionary
    (blobs,) = outbox._db.execute("SELECT SUM(LENGTH(envelope)) FROM batches").fetchone()
    outbox.close()
    store.close()
    sizes = {}
    for f in ("outbox", "evidence"):
        path = work / f"{f}.sqlite3"
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.close()
        sizes[f] = path.stat().st_size
    return {
        "workload": name,
        "payload_v": version,
        "readings": n,
        "batches": len(batches),
        "payload_B_per_reading": round(payload_bytes / n, 1),
        "wire_B_per_reading": round(wire / n, 1),
        "wire_b64false_B_per_reading": round(unencoded / n, 1),
        "outbox_B_per_reading": round(sizes["outbox"] / n, 1),
        "outbox_rows_B_per_reading": round(blobs / n, 1),
        "evidence_store_B_per_reading": round(sizes["evidence"] / n, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=int, default=60, help="plant minutes of data per workload")
    ap.add_argument("--publish", type=int, default=60, help="key-1min: seconds per batch (x60)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory(prefix="mrv-bench-size-") as t:
        for name, batches in (
            (f"key-1min/{args.publish}s", key_1min(args.minutes, args.publish)),
            ("cells-1hz/60s", cells_1hz(args.minutes)),
        ):
            for v in (1, 2):
                out.append(measure(name.replace("/", "-"), batches, v, Path(t)))
                out[-1]["workload"] = name
    cmd = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/payload_size.py", *sys.argv[1:]]
    )
    if args.json:
        print(json.dumps({"results": out, "command": cmd}, indent=2))
        return
    for r in out:
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))
    print(f"reproduce: {cmd}")


if __name__ == "__main__":
    main()
