"""Benchmark: agent memory during a long broker outage — the outbox grows on disk, RSS not.

    .venv/bin/python bench/outage_memory.py [--points 1000] [--hours 24] [--speed 96]

A real ``mrv-agent run`` process reads ``--points`` UINT16 registers every plant second
(``--points`` readings per plant second) from a Modbus TCP server process, on a simulated
plant clock running ``--speed``× so ``--hours`` of plant time pass in hours/speed of wall
time. Its broker address points at a port where nothing listens for the whole run, so every
signed batch stays in the SQLite outbox. Every ``--sample`` wall seconds the script prints
plant hours elapsed, the agent's RSS (``VmRSS``), the outbox's head seq and its size on disk
(database + WAL); at the end the RSS spread over the run. Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ROOT,
    agent_config,
    command_line,
    machine,
    proc_cpu_s,
    proc_rss_mb,
    spawn,
    start_modbus_server,
    stop,
    uint16_points,
)


def outbox_state(data: Path) -> tuple[int, int]:
    """(head seq, bytes on disk) of the outbox, read-only."""
    import sqlite3

    db_path = data / "outbox.sqlite3"
    size = sum(p.stat().st_size for p in data.glob("outbox.sqlite3*"))
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        row = db.execute("SELECT v FROM meta WHERE k = 'head_seq'").fetchone()
        db.close()
    except sqlite3.Error:
        return 0, size
    return (int(row[0]) if row else 0), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1000, help="readings per plant second")
    ap.add_argument("--hours", type=float, default=24.0, help="plant hours of outage")
    ap.add_argument("--speed", type=float, default=96.0, help="plant seconds per wall second")
    ap.add_argument("--sample", type=float, default=10.0, help="wall seconds between samples")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from tests.support.servers import free_port

    work = Path(tempfile.mkdtemp(prefix="mrv-bench-outage-", dir=ROOT / "bench/out"))
    mb_port, dead_port = free_port(), free_port()  # nothing will ever listen on dead_port
    procs: list[subprocess.Popen[bytes]] = []
    anchor = time.time() + 3
    start_ms = 1_790_000_000_000
    cfg = agent_config(
        work / "agent",
        site="bench",
        agent="outage",
        broker_port=dead_port,
        poll_interval=1.0,
        publish_interval=60.0,
        clock={"source": "simulated", "start": start_ms, "speed": args.speed,
               "anchor_wall": anchor},
        devices=[
            {
                "name": "device",
                "host": "127.0.0.1",
                "port": mb_port,
                "unit_id": 1,
                "timeout": 5,
                "points": uint16_points(args.points),
            }
        ],
    )  # fmt: skip
    samples: list[dict[str, float]] = []
    try:
        procs.append(start_modbus_server(args.points, mb_port, work / "modbus.log"))
        agent = spawn([sys.executable, "-m", "agent.cli", "run", "-c", str(cfg)], work / "a.log")
        procs.append(agent)
        end_wall = anchor + args.hours * 3600 / args.speed
        print("| plant h | RSS MB | outbox batches | outbox MB | agent CPU % |")
        print("|---|---|---|---|---|")
        last_cpu, last_t = 0.0, time.time()
        while True:
            time.sleep(max(0.0, min(args.sample, end_wall - time.time())))  # sampling cadence
            if agent.poll() is not None:
                raise RuntimeError(f"agent exited (see {work}/a.log)")
            now = time.time()
            cpu = proc_cpu_s(agent.pid)
            head, size = outbox_state(work / "agent/data")
            s = {
                "plant_h": max(0.0, (now - anchor) * args.speed / 3600),
                "rss_mb": proc_rss_mb(agent.pid),
                "batches": head,
                "outbox_mb": size / 1e6,
                "cpu_pct": 100 * (cpu - last_cpu) / (now - last_t),
            }
            last_cpu, last_t = cpu, now
            samples.append(s)
            print(
                f"| {s['plant_h']:.1f} | {s['rss_mb']:.1f} | {head:,} | {s['outbox_mb']:.0f} | "
                f"{s['cpu_pct']:.0f} |",
                flush=True,
            )
            if now >= end_wall:
                break
    finally:
        for p in reversed(procs):
            stop(p)
    steady = [s["rss_mb"] for s in samples if s["plant_h"] >= 1.0] or [samples[-1]["rss_mb"]]
    m = machine()
    print(
        f"# {m['date']}, {m['cpu']}, {m['nproc']} cores, Python {m['python']}: "
        f"{args.points} readings/plant-s, {args.hours:g} plant h at {args.speed:g}x; broker "
        f"unreachable throughout"
    )
    print(
        f"RSS after the first plant hour: min {min(steady):.1f} MB, max {max(steady):.1f} MB "
        f"(spread {max(steady) - min(steady):.1f} MB) while the outbox grew to "
        f"{samples[-1]['batches']:,} batches / {samples[-1]['outbox_mb']:.0f} MB on disk"
    )
    print(f"reproduce: {command_line()}")
    if args.json:
        print(json.dumps({"machine": m, "samples": samples}))


if __name__ == "__main__":
    main()
