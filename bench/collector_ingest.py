"""Benchmark: verified, committed readings per second per CPU core in the collector.

Not a test. Two modes:

* pipeline (default): pre-signed batches go through ``VerificationPipeline.decide`` (size,
  JWS, kid binding, Ed25519 verify, payload schema, chain) and ``store_batch`` into a fresh
  SQLite evidence store, one transaction per group of batches, in one thread. Signing is done
  beforehand and not counted. Reports wall and CPU rates.
* ``--mqtt``: the full path through a real Mosquitto: a publisher sends the batches at QoS 1,
  a ``Collector`` verifies, stores, commits and acks; the clock stops at the last ack.
  Publisher, broker and collector share this machine's cores, so the figure is end to end.

    .venv/bin/python bench/collector_ingest.py --readings 500,1000,5000 --total 200000
    .venv/bin/python bench/collector_ingest.py --mqtt --readings 1000 --total 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.batch import BatchSigner
from collector.pipeline import Accepted, VerificationPipeline
from collector.store.sqlite import SqliteEvidenceStore
from protocols.envelope import parse_envelope
from protocols.keys import generate_private_key, public_jwk
from protocols.topics import data_topic
from protocols.wire import PAYLOAD_VERSION

SITE, AGENT = "bench-site", "bench-agent"
T0 = 1_767_225_600_000
PARAMS = 50  # distinct key parameters per agent


def make_batches(
    n_batches: int, per_batch: int, version: int = PAYLOAD_VERSION
) -> tuple[dict[str, str], list[bytes]]:
    """A realistic chain: interval aggregates of PARAMS parameters, some not good, signed
    by the agent's own batch builder in payload ``version`` 1 or 2."""
    key = generate_private_key()
    jwk = public_jwk(key)
    signer = BatchSigner(SITE, AGENT, key, jwk["kid"], version=version)
    rnd = random.Random(7)
    prev = None
    out = []
    for seq in range(1, n_batches + 1):
        readings = []
        for i in range(per_batch):
            ts = T0 + ((seq - 1) * per_batch + i) // PARAMS * 60_000
            extra: dict[str, object] = {"count": 60, "expected": 60, "min": 1.25, "max": 499.5}
            quality, reason = "good", None
            if i % 97 == 0:
                quality, reason = "uncertain", "samples_missing"
                extra["count"] = 50
            value = round(rnd.uniform(0, 500), 4)
            readings.append(
                (f"potline{i % 5}.param{i % PARAMS:02d}", ts, value, quality, reason, extra)
            )
        b = signer.build(
            seq,
            prev,
            T0 + seq * 1000,
            {"source": "ntp", "synced": True, "offset_ms": 0.4},
            readings,
        )
        out.append(b.envelope)
        prev = b.hash
    return jwk, out


def bench_pipeline(
    per_batch: int, total: int, group: int, workdir: Path, version: int
) -> dict[str, float]:
    n_batches = max(1, total // per_batch)
    jwk, envs = make_batches(n_batches, per_batch, version)
    db = workdir / f"bench-{per_batch}.sqlite"
    store = SqliteEvidenceStore(db)
    store.enroll_key(SITE, AGENT, jwk)
    pipeline = VerificationPipeline(max_envelope_bytes=16 * 1024 * 1024)
    topic = data_topic(SITE, AGENT)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for lo in range(0, n_batches, group):
        with store.ingest() as tx:
            for env in envs[lo : lo + group]:
                d = pipeline.decide(topic, env, tx)
                assert isinstance(d, Accepted), d
                tx.store_batch(d, 0)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    st = store.agent_state(SITE, AGENT)
    assert st is not None and st.contiguous_through == n_batches
    store.close()
    readings = n_batches * per_batch
    return {
        "payload_v": version,
        "readings_per_batch": per_batch,
        "batches": n_batches,
        "readings": readings,
        "wire_bytes_per_reading": round(sum(map(len, envs)) / readings, 1),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "readings_per_s": round(readings / wall),
        "readings_per_cpu_s": round(readings / cpu),
        "db_mb": round(
            db.stat().st_size / 1e6
            + (
                db.with_suffix(".sqlite-wal").stat().st_size / 1e6
                if db.with_suffix(".sqlite-wal").exists()
                else 0
            ),
            1,
        ),
    }


async def bench_mqtt(per_batch: int, total: int, workdir: Path, version: int) -> dict[str, float]:
    from collector import Collector
    from collector.config import parse_config
    from collector.mqtt_adapter import MqttSettings, connect
    from protocols.topics import ack_topic
    from tests.support.servers import Mosquitto

    n_batches = max(1, total // per_batch)
    jwk, envs = make_batches(n_batches, per_batch, version)
    broker = Mosquitto(workdir / f"mosquitto-{per_batch}")
    broker.start()
    try:
        cfg = parse_config(
            {
                "data_dir": str(workdir / f"mqtt-data-{per_batch}"),
                "broker": {"port": broker.port, "client_id": "bench-collector"},
                "limits": {"max_envelope_bytes": 16 * 1024 * 1024},
            }
        )
        async with Collector(cfg) as c:
            c.store.enroll_key(SITE, AGENT, jwk)
            await c.connected.wait()
            settings = MqttSettings("127.0.0.1", broker.port, "bench-agent")
            async with connect(settings) as pub:
                await pub.subscribe([ack_topic(SITE, AGENT)])
                wall0, cpu0 = time.perf_counter(), time.process_time()
                topic = data_topic(SITE, AGENT)
                sender = asyncio.create_task(_send_all(pub, topic, envs))
                while True:
                    (msg,) = await pub.next_group(1)
                    if json.loads(parse_envelope(msg.payload).payload)["through"] >= n_batches:
                        break
                await sender
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        broker.stop()
    readings = n_batches * per_batch
    return {
        "readings_per_batch": per_batch,
        "batches": n_batches,
        "readings": readings,
        "wall_s": round(wall, 3),
        "readings_per_s_end_to_end": round(readings / wall),
        "collector_process_cpu_s": round(cpu, 3),
    }


async def _send_all(pub: object, topic: str, envs: list[bytes]) -> None:
    for env in envs:
        await pub.publish(topic, env, qos=1)  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--readings", default="500,1000,5000", help="readings per batch, comma-separated"
    )
    ap.add_argument("--total", type=int, default=200_000, help="readings per run")
    ap.add_argument("--group", type=int, default=16, help="batches per transaction (pipeline mode)")
    ap.add_argument("--mqtt", action="store_true", help="end to end through a real Mosquitto")
    ap.add_argument("--payload", type=int, choices=(1, 2), default=PAYLOAD_VERSION)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.readings.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="mrv-bench-") as tmp:
        for n in sizes:
            if args.mqtt:
                results.append(asyncio.run(bench_mqtt(n, args.total, Path(tmp), args.payload)))
            else:
                results.append(bench_pipeline(n, args.total, args.group, Path(tmp), args.payload))
    cmd = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/collector_ingest.py", *sys.argv[1:]]
    )
    if args.json:
        print(json.dumps({"results": results, "cpus": os.cpu_count(), "command": cmd}, indent=2))
        return
    mode = (
        "MQTT end to end"
        if args.mqtt
        else f"pipeline + SQLite commit, {args.group} batches/transaction, 1 thread"
    )
    print(f"collector ingest benchmark ({mode}; {os.cpu_count()} CPUs)")
    for r in results:
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))
    print(f"reproduce: {cmd}")


if __name__ == "__main__":
    main()
