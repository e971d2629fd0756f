"""Benchmark: the agent pipeline from Modbus registers to signed, committed, published batches.

    .venv/bin/python bench/agent_pipeline.py [--points 5000] [--rounds 40]

Starts a real Mosquitto and a Modbus TCP server (its own process, so its CPU is not
counted) serving ``--points`` FLOAT32 values, then drives the real agent code in this
process round after round: Modbus reads (grouped into 125-register requests) → decode →
reading tuples → batch JSON → one Ed25519 signature per batch → SQLite WAL outbox commit
(synchronous=FULL) → MQTT QoS 1 publish. Two figures:

* ``with_modbus``: the whole pipeline including the Modbus reads;
* ``from_decoded``: from decoded values (the spool) onwards, reads excluded.

CPU time is this process's user+system time (all threads), so readings/s is per core.
Peak RSS is the process's maximum resident set size: the agent's imports, config and
pipeline, plus a small harness (the key pair is made by ``mrv-agent keygen`` in a
subprocess, as on a gateway). Not a test: it prints, never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = r"""
import asyncio, struct, sys
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
n, port = int(sys.argv[1]), int(sys.argv[2])
regs = []
for i in range(n):
    regs += struct.unpack(">HH", struct.pack(">f", 400.0 + i * 0.001))
bits = [SimData(address=0, values=False, datatype=DataType.BITS)]
hr = [SimData(address=0, values=regs, datatype=DataType.REGISTERS)]
ir = [SimData(address=0, values=0, datatype=DataType.REGISTERS)]
async def main():
    server = ModbusTcpServer([SimDevice(id=1, simdata=(bits, bits, hr, ir))], address=("127.0.0.1", port))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(points: int, rounds: int, workdir: Path) -> dict[str, object]:
    from agent.config import parse_config
    from agent.core import Agent
    from tests.support.servers import Mosquitto, free_port, wait_for_port

    broker = Mosquitto(workdir / "mosquitto")
    broker.start()
    mb_port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(points), str(mb_port)], stdout=subprocess.PIPE
    )
    try:
        wait_for_port(mb_port, server)
        # The key is made as an operator would (mrv-agent keygen), not in this process: the
        # agent only ever loads it, and key generation is not part of what is measured.
        subprocess.run(
            [sys.executable, "-m", "agent.cli", "keygen", "--out", str(workdir / "keys")],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        from protocols.keys import write_key_pair  # the collector's key: acks are signed

        write_key_pair(workdir / "collector-keys", name="collector")
        cfg = parse_config(
            {
                "site": "bench",
                "agent": "pipeline",
                "key_file": str(workdir / "keys/agent.key"),
                "collector_key": str(workdir / "collector-keys/collector.pub.jwk"),
                "data_dir": str(workdir / "data"),
                "broker": {"host": "127.0.0.1", "port": broker.port},
                # Long intervals: the scheduled loops stay idle; the bench drives rounds itself.
                "poll_groups": {"default": {"interval": 86400}},
                "publish": {"interval": 86400, "max_readings_per_batch": 5000, "window": 100000},
                "devices": [
                    {
                        "name": "bench_device",
                        "host": "127.0.0.1",
                        "port": mb_port,
                        "timeout": 5,
                        "points": [
                            {
                                "id": f"p{i:05d}_value",
                                "table": "holding",
                                "address": 2 * i,
                                "type": "FLOAT32",
                            }
                            for i in range(points)
                        ],
                    }
                ],
            }
        )
        agent = Agent(cfg)
        await agent.start()
        assert agent.publisher is not None and agent.outbox is not None
        await asyncio.wait_for(agent.publisher.connected.wait(), 20)
        poller = agent.pollers[0]
        ts = agent.clock.now_ms()
        await poller.poll_once(ts)  # warm-up: connect, first requests

        async def drained() -> None:
            while agent.publisher.cursor < agent.outbox.head_seq:  # type: ignore[union-attr]
                await asyncio.sleep(0.001)

        # 1. Full pipeline including Modbus reads.
        c0, w0 = cpu_s(), time.perf_counter()
        bad = 0
        for r in range(rounds):
            # As GroupPoller.run does: the readings go straight to the agent, nothing here
            # holds them once their batch is cut.
            readings = await poller.poll_once(ts + r)
            if r == rounds - 1:
                bad = sum(1 for x in readings if x[3] != "good")
            agent._on_readings(readings)
            del readings
            await agent.cut(ts + r)
        await drained()
        full_cpu, full_wall = cpu_s() - c0, time.perf_counter() - w0

        # 2. From decoded values: one poll's values again each round, reads excluded. The
        # bench keeps them as columns (ids, a float array), not as 5,000 reading tuples of
        # its own; like a poll, each round makes fresh tuples and floats sharing one ts.
        sample = await poller.poll_once(ts + rounds)
        if any(x[3:] != ("good", None, None) or type(x[2]) is not float for x in sample):
            raise RuntimeError("the bench's Modbus server should give good FLOAT32 values only")
        ids = [x[0] for x in sample]
        values = array("d", [x[2] for x in sample])
        del sample
        c0, w0 = cpu_s(), time.perf_counter()
        for r in range(rounds):
            t = ts + rounds + r
            agent._on_readings(
                [(i, t, v, "good", None, None) for i, v in zip(ids, values, strict=True)]
            )
            await agent.cut(ts + rounds + r)
        await drained()
        dec_cpu, dec_wall = cpu_s() - c0, time.perf_counter() - w0
        batches = agent.outbox.head_seq
        await agent.stop()
    finally:
        server.terminate()
        server.wait()
        broker.stop()
    n = points * rounds
    return {
        "points": points,
        "rounds": rounds,
        "batches": batches,
        "bad_readings_last_round": bad,
        "with_modbus": {
            "readings_per_s_per_core": round(n / full_cpu),
            "us_per_value_cpu": round(full_cpu / n * 1e6, 2),
            "wall_readings_per_s": round(n / full_wall),
        },
        "from_decoded": {
            "readings_per_s_per_core": round(n / dec_cpu),
            "us_per_value_cpu": round(dec_cpu / n * 1e6, 2),
            "wall_readings_per_s": round(n / dec_wall),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu": os.cpu_count(),
        "python": sys.version.split()[0],
        "goal": {"readings_per_s_per_core": 50000, "peak_rss_mb": 60, "us_per_value": 20},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--payload", type=int, choices=(1, 2), default=None, help="payload v")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if args.payload is not None:  # the agent has no setting for it: its builder's default
        from agent.batch import BatchSigner

        BatchSigner.__init__.__kwdefaults__["version"] = args.payload
    with tempfile.TemporaryDirectory(prefix="mrv-bench-") as tmp:
        result = asyncio.run(run(args.points, args.rounds, Path(tmp)))
    cmd = f".venv/bin/python bench/agent_pipeline.py --points {args.points} --rounds {args.rounds}"
    result["command"] = cmd
    if args.json:
        print(json.dumps(result))
        return
    wm, fd = result["with_modbus"], result["from_decoded"]
    print(
        f"agent pipeline, {args.points} points x {args.rounds} rounds, {result['batches']} batches"
    )
    print(
        f"  with Modbus reads: {wm['readings_per_s_per_core']:>9,} readings/s/core"  # type: ignore[index]
        f"  {wm['us_per_value_cpu']:>6} us/value"  # type: ignore[index]
    )
    print(
        f"  from decoded:      {fd['readings_per_s_per_core']:>9,} readings/s/core"  # type: ignore[index]
        f"  {fd['us_per_value_cpu']:>6} us/value"  # type: ignore[index]
    )
    print(f"  peak RSS:          {result['peak_rss_mb']} MB")
    print("  goal: >= 50,000 readings/s/core, <= 60 MB RSS, <= 20 us/value incl. Modbus")
    print(f"reproduce: {cmd}")


if __name__ == "__main__":
    main()
