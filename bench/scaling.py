"""Benchmark: how cost grows — agent with devices × points, collector with agents, record
build with parameters.

    .venv/bin/python bench/scaling.py [--only agent,collector,record] [--window 20] [--json]

* **agent**: a real ``mrv-agent run`` process polls one Modbus TCP server process (units
  1..D, points spread evenly) every second and cuts a signed batch every 2 s; a real
  ``mrv-collector run`` (not measured) acks. CPU (``/proc``) over ``--window`` seconds is
  divided by the readings stamped inside the window that reach the broker; RSS max over
  the window.
* **collector**: a real ``mrv-collector run`` process; one publisher (this process) sends
  pre-signed batches of 500 readings from N agents (the same 200,000 readings in total,
  round robin) through Mosquitto at QoS 1; the clock stops when every agent's ack covers
  its last batch. Collector CPU per reading, peak RSS (``VmHWM``).
* **record**: ``build_record`` of one site-month at 1-minute resolution with P parameters
  (``bench/record_build.py``'s generator, store cached in ``/tmp/mrv-bench-records-pP``):
  wall, CPU of this process and its workers, CPU µs per interval reading.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ROOT,
    ack_through,
    agent_config,
    batch_readings,
    collector_config,
    command_line,
    machine,
    proc_cpu_s,
    proc_hwm_mb,
    proc_rss_mb,
    run_cli,
    spawn,
    start_modbus_server,
    stop,
    uint16_points,
)

AGENT_CASES = [(1, 100), (1, 1000), (10, 1000), (1, 10000), (10, 10000), (50, 10000)]
COLLECTOR_AGENTS = [1, 10, 100]
RECORD_PARAMS = [1, 10, 100]


def wait_for(cond: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


class ReadingCounter:
    """Subscribes to every agent's data topic; keeps each reading's timestamp (ms)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.lock = threading.Lock()
        self.ts: list[int] = []
        self.batches = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-count")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("mrv/v1/+/+/data", 1)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        import base64

        p = json.loads(msg.payload)["payload"]
        body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        with self.lock:
            self.ts.extend(r["ts"] for r in batch_readings(body))
            self.batches += 1

    def between(self, t0_ms: int, t1_ms: int) -> int:
        with self.lock:
            return sum(1 for t in self.ts if t0_ms <= t < t1_ms)

    def latest(self) -> int:
        with self.lock:
            return max(self.ts, default=0)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def bench_agent(devices: int, points: int, window: float, work: Path) -> dict[str, Any]:
    from tests.support.servers import Mosquitto, free_port

    work.mkdir(parents=True)
    per = points // devices
    broker = Mosquitto(work / "mosquitto")
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    counter: ReadingCounter | None = None
    site, agent_id = "scale", f"agent_{devices}x{points}"
    try:
        mb_port = free_port()
        procs.append(start_modbus_server(per, mb_port, work / "modbus.log", units=devices))
        cfg = agent_config(
            work / "agent",
            site=site,
            agent=agent_id,
            broker_port=broker.port,
            poll_interval=1.0,
            publish_interval=2.0,
            devices=[
                {
                    "name": f"dev{u}",
                    "host": "127.0.0.1",
                    "port": mb_port,
                    "unit_id": u,
                    "timeout": 5,
                    "points": uint16_points(per, prefix=f"d{u:02d}_r"),
                }
                for u in range(1, devices + 1)
            ],
        )
        col_cfg = collector_config(work / "collector", broker.port, [site])
        run_cli(
            "collector.cli", "enroll", "-c", str(col_cfg), "--site", site, "--agent", agent_id,
            "--key", str(work / "agent/keys/agent.pub.jwk"),
        )  # fmt: skip
        procs.append(
            spawn(
                [sys.executable, "-m", "collector.cli", "run", "-c", str(col_cfg)], work / "c.log"
            )
        )
        counter = ReadingCounter(broker.port)
        agent = spawn([sys.executable, "-m", "agent.cli", "run", "-c", str(cfg)], work / "a.log")
        procs.append(agent)
        wait_for(lambda: counter.batches >= 2, "the agent's first batches")  # type: ignore[union-attr]
        time.sleep(3)  # warm-up, not synchronisation
        cpu0, t0 = proc_cpu_s(agent.pid), time.time()
        rss: list[float] = []
        while time.time() - t0 < window:
            rss.append(proc_rss_mb(agent.pid))
            time.sleep(0.5)
        cpu1, t1 = proc_cpu_s(agent.pid), time.time()
        t1_ms = int(t1 * 1000)
        wait_for(lambda: counter.latest() >= t1_ms, "batches covering the window")  # type: ignore[union-attr]
        n = counter.between(int(t0 * 1000), t1_ms)
        if agent.poll() is not None:
            raise RuntimeError(f"agent exited (see {work})")
    finally:
        if counter is not None:
            counter.close()
        for p in reversed(procs):
            stop(p)
        broker.stop()
    cpu = cpu1 - cpu0
    return {
        "devices": devices,
        "points": points,
        "readings_per_s": round(n / (t1 - t0)),
        "cpu_pct": round(100 * cpu / (t1 - t0), 1),
        "us_per_reading": round(1e6 * cpu / n, 2) if n else None,
        "rss_max_mb": round(max(rss), 1),
    }


def bench_collector(agents: int, total: int, work: Path) -> dict[str, Any]:
    import paho.mqtt.client as mqtt

    from collector.store.sqlite import SqliteEvidenceStore
    from protocols.envelope import payload_hash, sign_envelope
    from protocols.keys import generate_private_key, public_jwk
    from protocols.payload import encode_payload
    from tests.support.servers import Mosquitto

    work.mkdir(parents=True)
    per_batch = 500
    n_batches = total // per_batch
    site = "scale_c"
    col_cfg = collector_config(work / "collector", 0, [site])
    # Pre-signed chains, one per agent (signing is the agents' cost, not measured here).
    chains: list[list[tuple[str, bytes]]] = []
    t_base = 1_767_225_600_000
    with SqliteEvidenceStore(work / "collector/data/evidence.sqlite") as store:
        for a in range(agents):
            key = generate_private_key()
            jwk = public_jwk(key)
            aid = f"agent{a:03d}"
            store.enroll_key(site, aid, jwk)
            prev, chain = None, []
            for seq in range(1, max(1, n_batches // agents) + 1):
                readings = [
                    {
                        "id": f"param{i % 50:02d}",
                        "ts": t_base + ((seq - 1) * per_batch + i) // 50 * 60_000,
                        "value": float(i),
                        "quality": "good",
                        "count": 60,
                        "expected": 60,
                    }
                    for i in range(per_batch)
                ]
                body = encode_payload(
                    {"v": 1, "site": site, "agent": aid, "seq": seq, "prev": prev,
                     "created": t_base + seq * 1000, "clock": {"source": "ntp", "synced": True},
                     "readings": readings, "events": []}
                )  # fmt: skip
                chain.append((f"mrv/v1/{site}/{aid}/data", sign_envelope(body, key, jwk["kid"])))
                prev = payload_hash(body)
            chains.append(chain)
    per_agent = len(chains[0])
    broker = Mosquitto(work / "mosquitto")
    broker.start()
    col_cfg = collector_config(work / "collector", broker.port, [site])
    acked: dict[str, int] = {}
    lock = threading.Lock()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        with lock:
            acked[msg.topic.split("/")[3]] = ack_through(msg.payload)

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-agents")
    pub.max_inflight_messages_set(200)
    pub.max_queued_messages_set(0)
    pub.on_message = on_message
    collector = spawn(
        [sys.executable, "-m", "collector.cli", "run", "-c", str(col_cfg)], work / "c.log"
    )
    try:
        pub.connect("127.0.0.1", broker.port)
        pub.subscribe(f"mrv/v1/{site}/+/ack", 1)
        pub.loop_start()
        first_topic, first_env = chains[0][0]
        while True:  # the collector is subscribed once its first ack comes back
            pub.publish(first_topic, first_env, qos=1)
            try:
                wait_for(lambda: acked.get("agent000", 0) >= 1, "collector ready", timeout=2)
                break
            except TimeoutError:
                if collector.poll() is not None:
                    raise RuntimeError(f"collector exited (see {work})") from None
        cpu0, w0 = proc_cpu_s(collector.pid), time.perf_counter()
        for i in range(per_agent):
            for chain in chains:
                pub.publish(chain[i][0], chain[i][1], qos=1)

        def done() -> bool:
            with lock:
                return len(acked) == agents and all(v >= per_agent for v in acked.values())

        wait_for(done, "every agent's last ack", timeout=300)
        wall, cpu = time.perf_counter() - w0, proc_cpu_s(collector.pid) - cpu0
        hwm = proc_hwm_mb(collector.pid)
    finally:
        pub.loop_stop()
        pub.disconnect()
        stop(collector)
        broker.stop()
    readings = per_agent * agents * per_batch
    return {
        "agents": agents,
        "batches": per_agent * agents,
        "readings": readings,
        "wall_s": round(wall, 2),
        "readings_per_s": round(readings / wall),
        "us_per_reading": round(1e6 * cpu / readings, 2),
        "peak_rss_mb": round(hwm, 1),
    }


def _cpu_all() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_record(params: int) -> dict[str, Any]:
    import record_build as rb

    from collector.records.builder import build_record
    from collector.store.sqlite import SqliteEvidenceStore
    from protocols.keys import generate_private_key
    from protocols.record import RecordSettings

    full = list(rb.PARAMS)
    subset = {1: ["line_current_ka"], 10: rb.MEANS + rb.SUMS}.get(params, full[:params])
    rb.PARAMS = subset
    try:
        data = Path(f"/tmp/mrv-bench-records-p{params}")
        db, n = rb.setup(data)
    finally:
        rb.PARAMS = full
    out = data / "out"
    shutil.rmtree(out, ignore_errors=True)
    (data / "versions.sqlite").unlink(missing_ok=True)
    settings = RecordSettings(site=rb.SITE, month=rb.MONTH, interval_s=60)
    with SqliteEvidenceStore(db) as store, SqliteEvidenceStore(data / "versions.sqlite") as vs:
        t0, c0 = time.perf_counter(), _cpu_all()
        res = build_record(
            store, vs.records, settings, signing_key=generate_private_key(), out_dir=out
        )
        wall, cpu = time.perf_counter() - t0, _cpu_all() - c0
    return {
        "parameters": len(subset),
        "interval_readings": n,
        "batches": res.record["summary"]["batches"],
        "build_s": round(wall, 2),
        "build_cpu_s": round(cpu, 2),
        "us_per_reading": round(1e6 * cpu / n, 2),
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c])
                                for c in cols) + " |" for r in rows]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="agent,collector,record")
    ap.add_argument("--window", type=float, default=20.0, help="agent: measured seconds")
    ap.add_argument("--total", type=int, default=200_000, help="collector: readings per run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="mrv-bench-scaling-", dir=ROOT / "bench/out"))
    m = machine()
    print(f"# scaling — {m['date']}, {m['cpu']}, {m['nproc']} cores, Python {m['python']}")
    result: dict[str, Any] = {"machine": m}
    if "agent" in parts:
        rows = [bench_agent(d, p, args.window, work / f"agent-{d}x{p}") for d, p in AGENT_CASES]
        print("\n## agent (mrv-agent run, 1 s polls, 2 s batches, collector acking)\n")
        print(table(rows))
        result["agent"] = rows
    if "collector" in parts:
        rows = [bench_collector(n, args.total, work / f"collector-{n}") for n in COLLECTOR_AGENTS]
        print("\n## collector (mrv-collector run, pre-signed batches of 500 via Mosquitto)\n")
        print(table(rows))
        result["collector"] = rows
    if "record" in parts:
        rows = [bench_record(p) for p in RECORD_PARAMS]
        print("\n## record build (one site-month, 1-minute intervals)\n")
        print(table(rows))
        result["record"] = rows
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nreproduce: {command_line()}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
