"""Shared pieces of the process-level benchmarks: /proc sampling, real processes, configs.

Every benchmark here measures *other* processes (``mrv-agent run``, ``mrv-collector run``,
a peer gateway) through ``/proc/PID``: CPU = utime + stime (all threads), RSS = ``VmRSS``.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from protocols.compact import batch_readings  # noqa: E402  (after the sys.path line)

CLK_TCK = os.sysconf("SC_CLK_TCK")

# A Modbus TCP device in its own process (not counted): N holding registers (UINT16) from
# protocol address 0 on units 1..U. Values are static; the peer is configured to publish
# every value on every poll (``pub_only_on_change: false``) so nothing is filtered.
MODBUS_SERVER = r"""
import asyncio, sys
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
n, port, units = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def device(unit):
    bits = [SimData(address=0, values=False, datatype=DataType.BITS)]
    hr = [SimData(address=0, values=[1000 + i for i in range(n)], datatype=DataType.REGISTERS)]
    ir = [SimData(address=0, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(id=unit, simdata=(bits, bits, hr, ir))
devices = [device(u) for u in range(1, units + 1)]
async def main():
    server = ModbusTcpServer(devices, address=("127.0.0.1", port))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    """Resident set size in MB (VmRSS)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def proc_hwm_mb(pid: int) -> float:
    """Peak resident set size in MB (VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine() -> dict[str, Any]:
    """Date, CPU model, cores and Python: the header of every figure."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": model or platform.processor(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
    }


def envelope_readings(envelope: bytes) -> int:
    """How many readings a signed batch carries (JWS flattened JSON → payload → readings)."""
    payload = json.loads(envelope)["payload"]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return len(batch_readings(json.loads(raw)))


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def uint16_points(count: int, *, prefix: str = "r", group: str = "default") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i:05d}",
            "table": "holding",
            "address": i,
            "type": "UINT16",
            "poll_group": group,
        }
        for i in range(count)
    ]


def agent_config(
    workdir: Path,
    *,
    site: str,
    agent: str,
    broker_port: int,
    devices: list[dict[str, Any]],
    poll_interval: float,
    publish_interval: float,
    **extra: Any,
) -> Path:
    """Key pair + YAML config for ``mrv-agent run``; returns the config path."""
    from protocols.keys import write_key_pair

    keys = workdir / "keys"
    if not (keys / "agent.key").exists():
        write_key_pair(keys)
    cfg: dict[str, Any] = {
        "site": site,
        "agent": agent,
        "key_file": str(keys / "agent.key"),
        # acks are signed: the key of the collector that collector_config writes beside
        "collector_key": str(collector_key_pair(workdir.parent / "collector")[1]),
        "data_dir": str(workdir / "data"),
        "log_level": "warning",
        "broker": {
            "host": "127.0.0.1",
            "port": broker_port,
            "reconnect": {"initial": 0.2, "max": 2},
        },
        "poll_groups": {"default": {"interval": poll_interval}},
        "publish": {
            "interval": publish_interval,
            "max_readings_per_batch": 5000,
            "ack_timeout": 10,
        },
        "devices": devices,
    }
    cfg.update(extra)
    return write_yaml(workdir / "agent.yaml", cfg)


def collector_key_pair(workdir: Path) -> tuple[Path, Path]:
    """The collector's signing key and public JWK under ``workdir/keys`` (made once)."""
    from protocols.keys import write_key_pair

    keys = workdir / "keys"
    if not (keys / "collector.key").exists():
        write_key_pair(keys, name="collector")
    return keys / "collector.key", keys / "collector.pub.jwk"


def ack_through(payload: bytes) -> int:
    """``through`` of a collector's signed ack (its signature is the agent's concern)."""
    from protocols.envelope import parse_envelope

    return int(json.loads(parse_envelope(payload).payload)["through"])


def collector_config(workdir: Path, broker_port: int, sites: Iterable[str]) -> Path:
    return write_yaml(
        workdir / "collector.yaml",
        {
            "data_dir": str(workdir / "data"),
            "signing_key": str(collector_key_pair(workdir)[0]),
            "broker": {
                "host": "127.0.0.1",
                "port": broker_port,
                "client_id": f"bench-collector-{os.getpid()}",
                "reconnect_initial_s": 0.2,
                "reconnect_max_s": 2,
            },
            "sites": {s: {"industry": "other"} for s in sites},
        },
    )


def run_cli(*args: str) -> str:
    """Run a project console entry point (``agent.cli``/``collector.cli``) and return stdout."""
    out = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def spawn(args: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, **kw)


def start_modbus_server(registers: int, port: int, log: Path, units: int = 1) -> Any:
    from tests.support.servers import wait_for_port

    proc = spawn([sys.executable, "-c", MODBUS_SERVER, str(registers), str(port), str(units)], log)
    wait_for_port(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def command_line() -> str:
    return " ".join([".venv/bin/python", *[a if " " not in a else repr(a) for a in sys.argv]])
