"""Benchmark: verified ingest into the evidence store — SQLite with one collector beside
PostgreSQL with one and with N collectors, in one run. Not a test.

Each "collector" is a process doing what ``mrv-collector run`` does per ingest group
(``VerificationPipeline.decide`` + ``store_batch``, 16 batches per transaction), without
MQTT: pre-signed chains of AGENTS agents, each collector taking its share of the agents.
Reported per configuration: readings/s (wall), CPU µs per reading in the collector
processes and in the database server (PostgreSQL: the postmaster and its backends, read
from /proc; SQLite runs inside the collector, so its database CPU is the collector's).
Debian's PostgreSQL 15 is started by the bench in a temporary directory on 127.0.0.1.

    .venv/bin/python bench/store_ingest.py --total 120000 --per-batch 1000 --collectors 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.collector_ingest as ci
from collector.pipeline import Accepted, VerificationPipeline
from collector.store import open_store, sqlite_url
from protocols.topics import data_topic
from simulators.postgres_server import PostgresServer

TICK = os.sysconf("SC_CLK_TCK")
CHAINS: dict[str, tuple[dict[str, str], list[bytes]]] = {}


def _proc_cpu(pid: int, *, children_done: bool = False) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + st + (cut + cst if children_done else 0)) / TICK


def server_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster, its reaped children and its live backends."""
    total = _proc_cpu(postmaster, children_done=True)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid == postmaster:
                total += _proc_cpu(int(d))
        except (OSError, ValueError):
            continue
    return total


def _collector(url: str, agents: list[str], group: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = open_store(url)
    pipeline = VerificationPipeline(max_envelope_bytes=16 * 1024 * 1024)
    cpu0 = time.process_time()
    for agent in agents:
        _, envs = CHAINS[agent]
        topic = data_topic(ci.SITE, agent)
        for lo in range(0, len(envs), group):
            # as mrv-collector run does: the transaction names its agents (their locks)
            with store.ingest(None if WHOLE_STORE_LOCK else [(ci.SITE, agent)]) as tx:
                for env in envs[lo : lo + group]:
                    d = pipeline.decide(topic, env, tx)
                    assert isinstance(d, Accepted), d
                    tx.store_batch(d, 0)
    out.put(time.process_time() - cpu0)
    store.close()


def run(url: str, n: int, agents: int, group: int, postmaster: int | None) -> dict[str, object]:
    with open_store(url) as store:
        for agent, (jwk, _) in CHAINS.items():
            store.enroll_key(ci.SITE, agent, jwk)
    names = sorted(CHAINS)
    shares = [names[i::n] for i in range(n)]
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_collector, args=(url, s, group, q)) for s in shares]
    db0 = server_cpu(postmaster) if postmaster else 0.0
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    cpus = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    db = server_cpu(postmaster) - db0 if postmaster else 0.0
    readings = sum(len(e) for _, e in CHAINS.values()) * PER_BATCH
    with open_store(url) as store:
        states = store.agents(ci.SITE)
        assert all(s.contiguous_through == len(CHAINS[s.agent][1]) for s in states), states
    return {
        "readings": readings,
        "wall_s": round(wall, 2),
        "readings_per_s": round(readings / wall),
        "collector_cpu_us_per_reading": round(sum(cpus) / readings * 1e6, 2),
        "db_cpu_us_per_reading": round(db / readings * 1e6, 2),
        "total_cpu_us_per_reading": round((sum(cpus) + db) / readings * 1e6, 2),
    }


PER_BATCH = 1000
#: --whole-store-lock: every transaction excludes all others (the lock before per-agent locks)
WHOLE_STORE_LOCK = False


def main() -> None:
    global PER_BATCH, WHOLE_STORE_LOCK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--total", type=int, default=120_000, help="readings per configuration")
    ap.add_argument("--per-batch", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=6)
    ap.add_argument("--collectors", type=int, default=3, help="N for the PostgreSQL group run")
    ap.add_argument("--group", type=int, default=16, help="batches per transaction")
    ap.add_argument(
        "--whole-store-lock",
        action="store_true",
        help="transactions name no agents: one lock for the group (for comparison)",
    )
    args = ap.parse_args()
    PER_BATCH = args.per_batch
    WHOLE_STORE_LOCK = args.whole_store_lock
    per_agent = max(1, args.total // args.per_batch // args.agents)
    for i in range(args.agents):
        ci.AGENT = f"agent-{i}"
        CHAINS[ci.AGENT] = ci.make_batches(per_agent, args.per_batch)
    results: dict[str, object] = {"cores": os.cpu_count(), "load_avg": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="mrv-bench-store-") as tmp:
        results["sqlite_1"] = run(
            sqlite_url(Path(tmp) / "e.sqlite"), 1, args.agents, args.group, None
        )
        with PostgresServer() as pg:
            assert pg.proc is not None
            results["postgresql_1"] = run(
                pg.create_database("b1"), 1, args.agents, args.group, pg.proc.pid
            )
            results[f"postgresql_{args.collectors}"] = run(
                pg.create_database("bn"), args.collectors, args.agents, args.group, pg.proc.pid
            )
    results["command"] = "python bench/store_ingest.py " + shlex.join(sys.argv[1:])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
