"""Benchmark: bytes per reading on the wire, in the agent's outbox and in the evidence store.

Not a test. The agent's own ``BatchSigner`` signs the same readings as payload v1 and v2;
each envelope is committed to a real agent ``Outbox`` (SQLite) and ingested by the real
``VerificationPipeline`` into a fresh ``SqliteEvidenceStore``; files are measured after a
WAL checkpoint. Also printed: the size the envelope would have with RFC 7797's unencoded
payload (``b64: false``, ``crit``: the payload as a JSON string instead of base64url;
joserfc 1.8 verifies that form, many JOSE libraries do not). Nothing is
acked, as in an outage, so the outbox packs the envelopes (``agent/outbox.py``); its file
size (after a checkpoint, as the gateway holds it: SQLite's pages, the deflate dictionary,
the first batches kept as published) and the bytes its rows hold are both printed.

``--breakdown`` prints where the wire bytes go, per reading: the JWS framing, protected
header and signature (once per batch), the payload's head (site, agent, seq, prev,
created, clock, events), the parameter ids, timestamps, values, aggregate members
(count/expected/min/max) and base64's third.

Workloads:

* ``key-1min``: the demo's key parameters: 100 one-minute interval aggregates (time-weighted
  mean, ``count``/``expected``, float32 ``min``/``max``), one batch per ``--publish`` s
  (the demo publishes every 60 s: one reading of each parameter per batch);
* ``cells-1hz``: raw cell voltages, 300 cells at 1 Hz, float32 values, 60 s batches.

    .venv/bin/python bench/payload_size.py --minutes 60 --breakdown
    .venv/bin/python bench/payload_size.py --minutes 600 --publish 600 --versions 2
"""

from __future__ import annotations

import argparse
import json
import random
import re
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
from protocols.keys import b64url, b64url_decode, generate_private_key, public_jwk
from protocols.topics import data_topic

SITE, AGENT = "smelter-1", "pot-room-1"
T0 = 1_793_379_600_000


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def key_1min(minutes: int, publish_s: int, variant: str = "") -> list[list[tuple[Any, ...]]]:
    """``variant`` (what-if, not what the agent sends): ``mean-f32`` the mean rounded to
    float32, ``mean-only`` no min/max, ``mean-f32-only`` both."""
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
                extra: dict[str, Any] = {"count": 6, "expected": 6, "min": lo, "max": hi}
                if "f32" in variant:
                    mean = f32(mean)
                if "only" in variant:
                    extra = {"count": 6, "expected": 6}
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


#: payload members of a v2 series or table, by what they carry
_PART = {
    "id": "ids",
    "ids": "ids",
    "t": "timestamps",
    "step": "timestamps",
    "dt": "timestamps",
    "v": "values",
    "count": "aggregates",
    "expected": "aggregates",
    "min": "aggregates",
    "max": "aggregates",
}
_MEMBER = re.compile(rb'[{,]"([a-z0-9]+)":')


def payload_parts(payload: bytes) -> dict[str, int]:
    """Bytes of a payload by what they carry: the head (everything outside ``series`` and
    ``readings``: v, site, agent, seq, prev, created, clock, events), then the series' and
    tables' ids, timestamps, values, aggregates and other members (f32, q); v1
    ``readings`` whole. Scans the text as the agent writes it (no strings with quotes)."""
    parts = dict.fromkeys(("head", "ids", "timestamps", "values", "aggregates", "other"), 0)
    parts["v1 readings"] = 0
    body = 0
    for name in (b'"series":[', b'"readings":['):
        i = payload.find(name)
        if i < 0:
            continue
        i += len(name)
        depth, j = 1, i
        while depth:  # the matching bracket (no brackets inside strings here)
            c = payload[j]
            depth += (c == 0x5B) - (c == 0x5D)
            j += 1
        text = payload[i : j - 1]
        body += len(text)
        if name == b'"readings":[':
            parts["v1 readings"] += len(text)
            continue
        marks = [(m.start(), m.group(1).decode()) for m in _MEMBER.finditer(text)]
        # only members of a series object: "{" or "," then a known name
        for k, (at, member) in enumerate(marks):
            end = marks[k + 1][0] if k + 1 < len(marks) else len(text)
            parts[_PART.get(member, "other")] += end - at
    parts["head"] = len(payload) - body
    return parts


def unencoded_envelope(env: dict[str, str], payload: bytes) -> bytes:
    """The same batch as RFC 7797 flattened JSON with ``"b64": false``: the protected header
    gains ``"b64":false,"crit":["b64"]`` and the payload member is the payload as a JSON
    string (every ``"`` escaped). Sized only (its signature would differ)."""
    header = json.loads(b64url_decode(env["protected"]))
    header.update(b64=False, crit=["b64"])
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    return json.dumps(
        {"protected": protected, "payload": payload.decode(), "signature": env["signature"]},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


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
    parts: dict[str, int] = {}
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
        env = json.loads(b.envelope)
        for k, x in {
            "JWS framing": len(b.envelope) - sum(len(env[m]) for m in env),
            "protected header": len(env["protected"]),
            "signature": len(env["signature"]),
            **payload_parts(payload),
            "base64 third": len(env["payload"]) - len(payload),
        }.items():
            parts[k] = parts.get(k, 0) + x
        unencoded += len(unencoded_envelope(env, payload))
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
        sizes[f] = path.stat().st_size  # as the gateway holds it (never vacuumed)
        db.execute("VACUUM")
        db.close()
        sizes[f + "_vacuumed"] = path.stat().st_size
    return {
        "workload": name,
        "payload_v": version,
        "readings": n,
        "batches": len(batches),
        "payload_B_per_reading": round(payload_bytes / n, 1),
        "wire_B_per_reading": round(wire / n, 1),
        "wire_b64false_B_per_reading": round(unencoded / n, 1),
        "outbox_file_B_per_reading": round(sizes["outbox"] / n, 1),
        "outbox_file_vacuumed_B_per_reading": round(sizes["outbox_vacuumed"] / n, 1),
        "outbox_rows_B_per_reading": round(blobs / n, 1),
        "evidence_store_B_per_reading": round(sizes["evidence_vacuumed"] / n, 1),
        "wire_breakdown_B_per_reading": {k: round(x / n, 2) for k, x in parts.items() if x},
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=int, default=60, help="plant minutes of data per workload")
    ap.add_argument("--publish", type=int, default=60, help="key-1min: seconds per batch (x60)")
    ap.add_argument("--versions", default="1,2", help="payload versions to measure")
    ap.add_argument(
        "--cell-minutes", type=int, help="plant minutes of cell voltages (default --minutes)"
    )
    ap.add_argument(
        "--what-if",
        action="store_true",
        help="also key-1min with the mean as float32 and/or without min/max (v2 only)",
    )
    ap.add_argument("--breakdown", action="store_true", help="where the wire bytes go")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory(prefix="mrv-bench-size-") as t:
        cells = args.minutes if args.cell_minutes is None else args.cell_minutes
        runs = [
            (f"key-1min/{args.publish}s", key_1min(args.minutes, args.publish), args.versions),
            ("cells-1hz/60s", cells_1hz(cells), args.versions if cells else ""),
        ]
        if args.what_if:
            runs += [
                (
                    f"key-1min/{args.publish}s {w} (what-if)",
                    key_1min(args.minutes, args.publish, w),
                    "2",
                )
                for w in ("mean-f32", "mean-only", "mean-f32-only")
            ]
        for name, batches, versions in runs:
            for v in map(int, filter(None, versions.split(","))):
                out.append(measure(re.sub(r"\W+", "-", name), batches, v, Path(t)))
                out[-1]["workload"] = name
    cmd = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/payload_size.py", *sys.argv[1:]]
    )
    if args.json:
        print(json.dumps({"results": out, "command": cmd}, indent=2))
        return
    for r in out:
        parts = r.pop("wire_breakdown_B_per_reading")
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))
        if args.breakdown:
            print("    wire B/reading: " + ", ".join(f"{k} {v}" for k, v in parts.items()))
    print(f"reproduce: {cmd}")


if __name__ == "__main__":
    main()
