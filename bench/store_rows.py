"""Benchmark: ingest of raw 1 Hz cell voltages (payload v2, 300 cells x 60 s a batch, 12
batches of 18,000 readings), or with ``--workload key-1min`` the demo's 100 one-minute
key aggregates (one reading per parameter a batch, 600 batches), 3 fresh stores each. SQLite: readings per CPU-second of
``decide`` + ``store_batch`` and ``store_batch``'s own CPU µs per reading. With
``--postgresql``, the same on Debian's PostgreSQL 15 started in a temporary directory:
collector and server CPU µs per reading (from /proc). Not a test.

    .venv/bin/python bench/store_rows.py [--postgresql] [--workload key-1min]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.payload_size as ps
from agent.batch import BatchSigner
from collector.pipeline import Accepted, VerificationPipeline
from collector.store import open_store
from collector.store.sqlite import SqliteEvidenceStore
from protocols.keys import generate_private_key, public_jwk
from protocols.topics import data_topic

BATCHES = 12


def signed_batches(workload: str = "cells") -> tuple[dict[str, str], list[bytes], int]:
    key = generate_private_key()
    jwk = public_jwk(key)
    signer = BatchSigner(ps.SITE, ps.AGENT, key, jwk["kid"], version=2)
    envs: list[bytes] = []
    prev, n = None, 0
    batches = ps.cells_1hz(BATCHES) if workload == "cells" else ps.key_1min(600, 60)
    for seq, rs in enumerate(batches, 1):
        b = signer.build(seq, prev, rs[-1][1], {"source": "ntp", "synced": True}, rs)
        prev, n = b.hash, n + len(rs)
        envs.append(b.envelope)
    return jwk, envs, n


def one_run(jwk: dict[str, str], envs: list[bytes], n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mrv-bench-rows-") as tmp:
        store = SqliteEvidenceStore(Path(tmp) / "e.sqlite")
        store.enroll_key(ps.SITE, ps.AGENT, jwk)
        pipeline = VerificationPipeline(max_envelope_bytes=16 << 20)
        topic = data_topic(ps.SITE, ps.AGENT)
        total = stored = 0.0
        for env in envs:
            with store.ingest([(ps.SITE, ps.AGENT)]) as tx:
                c0 = time.process_time()
                d = pipeline.decide(topic, env, tx)
                assert isinstance(d, Accepted), d
                c1 = time.process_time()
                tx.store_batch(d, 0)
                c2 = time.process_time()
            total += c2 - c0
            stored += c2 - c1
        store.close()
    return {
        "readings_per_cpu_s": round(n / total),
        "store_batch_cpu_us_per_reading": round(stored / n * 1e6, 3),
    }


def pg_run(
    url: str, postmaster: int, jwk: dict[str, str], envs: list[bytes], n: int
) -> dict[str, float]:
    from bench.store_ingest import server_cpu

    with open_store(url) as store:
        store.enroll_key(ps.SITE, ps.AGENT, jwk)
        pipeline = VerificationPipeline(max_envelope_bytes=16 << 20)
        topic = data_topic(ps.SITE, ps.AGENT)
        s0, c0 = server_cpu(postmaster), time.process_time()
        for env in envs:
            with store.ingest([(ps.SITE, ps.AGENT)]) as tx:
                d = pipeline.decide(topic, env, tx)
                assert isinstance(d, Accepted), d
                tx.store_batch(d, 0)
        c, s = time.process_time() - c0, server_cpu(postmaster) - s0
    return {
        "collector_cpu_us_per_reading": round(c / n * 1e6, 2),
        "server_cpu_us_per_reading": round(s / n * 1e6, 2),
        "total_cpu_us_per_reading": round((c + s) / n * 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--postgresql", action="store_true", help="also on PostgreSQL")
    ap.add_argument("--workload", choices=("cells", "key-1min"), default="cells")
    args = ap.parse_args()
    jwk, envs, n = signed_batches(args.workload)
    out: dict[str, object] = {"readings": n, "sqlite": [one_run(jwk, envs, n) for _ in range(3)]}
    if args.postgresql:
        from simulators.postgres_server import PostgresServer

        with PostgresServer() as pg:
            assert pg.proc is not None
            out["postgresql"] = [
                pg_run(pg.create_database(f"rows{i}"), pg.proc.pid, jwk, envs, n) for i in range(3)
            ]
    out["command"] = (
        "python bench/store_rows.py"
        + (" --postgresql" if args.postgresql else "")
        + (f" --workload {args.workload}" if args.workload != "cells" else "")
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
