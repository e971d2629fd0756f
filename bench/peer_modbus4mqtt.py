"""Benchmark: this agent side by side with a peer gateway, ``modbus4mqtt``, in one run.

    .venv/bin/python bench/peer_modbus4mqtt.py [--registers 100] [--interval 0.1] [--window 60]

Both gateways poll the same Modbus TCP device (one process, not counted) for ``--registers``
holding registers every ``--interval`` seconds and publish to the same Mosquitto at the same
time:

* **mrv-agent** (``python -m agent.cli run``): 100 UINT16 points, one poll group, one signed
  batch (Ed25519 JWS, hash chain) per second committed to its SQLite WAL outbox
  (``synchronous=FULL``) before a QoS 1 publish; a real ``mrv-collector`` (not counted)
  verifies, stores and acks, so the agent also deletes acked batches as in production.
* **modbus4mqtt** 0.7.1 (PyPI, pymodbus 2.5.3, paho-mqtt 1.6.1), installed by this script
  into ``bench/out/modbus4mqtt-venv``: one MQTT message per register per poll (QoS 0,
  ``pub_only_on_change: false``), no signing, no durable buffer.

A subscriber in this process counts delivered values (peer: messages; agent: readings in
the batches that arrive). After ``--warmup`` seconds, CPU (utime + stime from
``/proc/PID/stat``) and RSS (``VmRSS``, sampled every 0.5 s) are measured over ``--window``
seconds for each gateway process. Prints CPU µs per delivered value, RSS and the ratio.
"""

from __future__ import annotations

import argparse
import json
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
    agent_config,
    collector_config,
    command_line,
    envelope_readings,
    machine,
    proc_cpu_s,
    proc_rss_mb,
    run_cli,
    spawn,
    start_modbus_server,
    stop,
    uint16_points,
    write_yaml,
)

PEER_VERSION = "0.7.1"
#: issue 21's agent goal at this load (medians of ≥ 3 runs; the ratio is the figure that
#: does not depend on how busy the machine is)
GOAL_US, GOAL_RATIO, GOAL_RSS_MB = 8.0, 4.0, 60.0
VENV = ROOT / "bench/out/modbus4mqtt-venv"
SITE, AGENT = "bench", "peer_cmp"


def ensure_peer() -> Path:
    """modbus4mqtt in its own virtualenv (pymodbus 2.x and paho 1.x clash with ours)."""
    exe = VENV / "bin/modbus4mqtt"
    if exe.exists():
        return exe
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin/pip"), "install", "-q", f"modbus4mqtt=={PEER_VERSION}"], check=True
    )
    return exe


class Counter:
    """Counts delivered values per gateway, with arrival times."""

    def __init__(self, port: int, data_topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.data_topic = data_topic
        self.lock = threading.Lock()
        self.peer: list[float] = []
        self.agent: list[tuple[float, int]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("peer/#", 0), (data_topic, 1)])
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now = time.monotonic()
        if msg.topic == self.data_topic:
            n = envelope_readings(msg.payload)
            with self.lock:
                self.agent.append((now, n))
        elif msg.topic.startswith("peer/r"):
            with self.lock:
                self.peer.append(now)

    def counts(self, t0: float, t1: float) -> tuple[int, int]:
        with self.lock:
            agent = sum(n for t, n in self.agent if t0 <= t < t1)
            peer = sum(1 for t in self.peer if t0 <= t < t1)
        return agent, peer

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(cond: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--registers", type=int, default=100)
    ap.add_argument("--interval", type=float, default=0.1, help="poll interval, seconds")
    ap.add_argument("--window", type=float, default=60.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    args = ap.parse_args()

    from tests.support.servers import Mosquitto, free_port

    peer_exe = ensure_peer()
    work = Path(tempfile.mkdtemp(prefix="mrv-bench-peer-", dir=ROOT / "bench/out"))
    broker = Mosquitto(work / "mosquitto")
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    counter: Counter | None = None
    try:
        mb_port = free_port()
        procs.append(start_modbus_server(args.registers, mb_port, work / "modbus.log"))

        # The collector (not measured): verifies, stores, acks.
        col_cfg = collector_config(work / "collector", broker.port, [SITE])
        agent_cfg = agent_config(
            work / "agent",
            site=SITE,
            agent=AGENT,
            broker_port=broker.port,
            poll_interval=args.interval,
            publish_interval=1.0,
            devices=[
                {
                    "name": "device",
                    "host": "127.0.0.1",
                    "port": mb_port,
                    "unit_id": 1,
                    "timeout": 2,
                    "points": uint16_points(args.registers),
                }
            ],
        )
        run_cli(
            "collector.cli", "enroll", "-c", str(col_cfg), "--site", SITE, "--agent", AGENT,
            "--key", str(work / "agent/keys/agent.pub.jwk"),
        )  # fmt: skip
        collector = spawn(
            [sys.executable, "-m", "collector.cli", "run", "-c", str(col_cfg)],
            work / "collector.log",
        )
        procs.append(collector)
        counter = Counter(broker.port, f"mrv/v1/{SITE}/{AGENT}/data")

        peer_cfg = write_yaml(
            work / "peer.yaml",
            {
                "ip": "127.0.0.1",
                "port": mb_port,
                "device_address": 1,
                "update_rate": args.interval,
                "scan_batching": 100,
                "registers": [
                    {
                        "pub_topic": f"r{i:05d}",
                        "table": "holding",
                        "address": i,
                        "type": "uint16",
                        "pub_only_on_change": False,
                    }
                    for i in range(args.registers)
                ],
            },
        )
        agent = spawn(
            [sys.executable, "-m", "agent.cli", "run", "-c", str(agent_cfg)], work / "agent.log"
        )
        peer = spawn(
            [
                str(peer_exe),
                "--hostname", "127.0.0.1", "--port", str(broker.port),
                "--config", str(peer_cfg), "--mqtt_topic_prefix", "peer",
            ],
            work / "peer.log",
        )  # fmt: skip
        procs += [agent, peer]
        wait_for(lambda: counter.agent and counter.peer, "both gateways to deliver")  # type: ignore[union-attr]
        time.sleep(args.warmup)  # benchmark warm-up, not synchronisation

        pids = {"mrv-agent": agent.pid, "modbus4mqtt": peer.pid}
        cpu0 = {k: proc_cpu_s(p) for k, p in pids.items()}
        rss: dict[str, list[float]] = {k: [] for k in pids}
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.window:
            for k, p in pids.items():
                rss[k].append(proc_rss_mb(p))
            time.sleep(0.5)
        t1 = time.monotonic()
        cpu1 = {k: proc_cpu_s(p) for k, p in pids.items()}
        for name, proc in (("mrv-agent", agent), ("modbus4mqtt", peer)):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during the window (see {work})")
        n_agent, n_peer = counter.counts(t0, t1)
        values = {"mrv-agent": n_agent, "modbus4mqtt": n_peer}
    finally:
        if counter is not None:
            counter.close()
        for p in reversed(procs):
            stop(p)
        broker.stop()

    wall = t1 - t0
    rows: dict[str, dict[str, float]] = {}
    for k in pids:
        cpu = cpu1[k] - cpu0[k]
        n = values[k]
        rows[k] = {
            "values": n,
            "values_per_s": n / wall,
            "cpu_s": cpu,
            "cpu_pct": 100 * cpu / wall,
            "us_per_value": 1e6 * cpu / n if n else float("nan"),
            "rss_mean_mb": sum(rss[k]) / len(rss[k]),
            "rss_max_mb": max(rss[k]),
        }
    ratio = rows["modbus4mqtt"]["us_per_value"] / rows["mrv-agent"]["us_per_value"]
    m = machine()
    print(
        f"# peer gateway side by side — {m['date']}, {m['cpu']}, {m['nproc']} cores, "
        f"Python {m['python']}, load {m['load']:.2f}"
    )
    print(
        f"# {args.registers} registers every {args.interval} s, same Modbus device and "
        f"Mosquitto, {wall:.1f} s window"
    )
    print("| gateway | values/s | CPU % | CPU µs per value | RSS mean MB | RSS max MB |")
    print("|---|---|---|---|---|---|")
    for k, r in rows.items():
        print(
            f"| {k} | {r['values_per_s']:,.0f} | {r['cpu_pct']:.1f} | "
            f"{r['us_per_value']:.1f} | {r['rss_mean_mb']:.1f} | {r['rss_max_mb']:.1f} |"
        )
    # issue 21's goal: ≤ 8 µs CPU per delivered value and ≥ 4× modbus4mqtt, RSS ≤ 60 MB
    us, rss_max = rows["mrv-agent"]["us_per_value"], rows["mrv-agent"]["rss_max_mb"]
    verdict = ", ".join(
        f"{what} {'met' if ok else 'NOT met'}"
        for what, ok in (
            ("≤ 8 µs/value", us <= GOAL_US),
            (f"≥ {GOAL_RATIO:g}× modbus4mqtt", ratio >= GOAL_RATIO),
            (f"RSS ≤ {GOAL_RSS_MB:g} MB", rss_max <= GOAL_RSS_MB),
        )
    )
    print(f"ratio (modbus4mqtt µs/value ÷ mrv-agent µs/value): {ratio:.1f}x; issue 21: {verdict}")
    print(f"reproduce: {command_line()}")
    if args.json:
        print(json.dumps({"machine": m, "rows": rows, "ratio": ratio, "window_s": wall}))


if __name__ == "__main__":
    main()
