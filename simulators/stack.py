"""Real Plant MRV processes on 127.0.0.1: broker, plant simulators, agents, collector.

The demo (``mrv-sim demo``), the fault-injection suite and the benchmarks all need the same
thing: the real console scripts running as child processes, wired together on loopback, each
one startable, stoppable (SIGTERM), killable (SIGKILL) and restartable on the same data dir
and port, with waits that poll *real* state (the collector's evidence SQLite and the agents'
outboxes, opened read-only) instead of sleeping. Everything a process prints goes to
``DATA_DIR/logs/NAME.log``; a failed wait names the process that died and shows its log tail.

    with Stack(tmp / "stack") as st:
        st.start_broker()
        col = st.add_collector({"smelter": "aluminium"})
        clock = PlantClockSpec.starting_in(start_ms, speed=600)
        sim = st.add_simulator("aluminium", clock=clock, faults=["timeout:unit=10:at=+2h:for=1h"])
        col.start(); sim.start(); col.wait_ready(); sim.wait_ready()
        ag = st.add_agent(sim, site="smelter", agent="potline1")   # keygen + config + enroll
        ag.start(); ag.wait_ready()
        st.wait_covered(ag, plant_ms)         # collector holds contiguous evidence through it
        ag.kill(); ag.start(); st.wait_drained([ag])

``Stack.close()`` (also on ``__exit__``) stops agents, then simulators, collector and broker,
with SIGKILL after a grace period, and never raises: a failed test still leaves no process.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from protocols.plant_clock import PlantClock

from .catalogue_map import INDUSTRY, RENAMES
from .demo_broker import die_with_parent, mosquitto_binary, mosquitto_config

__all__ = [
    "AgentProcess",
    "AgentProgress",
    "BrokerProcess",
    "CollectorProcess",
    "ExternalBroker",
    "ManagedProcess",
    "OutboxHead",
    "PlantClockSpec",
    "SimulatorProcess",
    "Stack",
    "StackError",
    "agent_config",
    "command",
    "free_port",
    "run_cli",
    "verify_bundle",
    "wait_until",
]

T = TypeVar("T")

_MODULES = {
    "mrv-sim": "simulators.cli",
    "mrv-agent": "agent.cli",
    "mrv-collector": "collector.cli",
    "mrv-verify": "collector.verify_cli",
}


class StackError(RuntimeError):
    """A process did not start, died, or a wait timed out (the message says which and why)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(name: str) -> list[str]:
    """argv prefix of a console script: the one beside this Python, else ``python -m``."""
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", _MODULES[name]]


def run_cli(
    name: str, *args: str, timeout: float = 300.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one console-script command to completion; ``StackError`` with its stderr if it fails."""
    argv = [*command(name), *args]
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{name} {' '.join(args)}: no exit after {timeout}s") from exc
    if check and res.returncode != 0:
        err = (res.stderr or res.stdout).strip().splitlines()[-5:]
        raise StackError(f"{name} {' '.join(args)} exited {res.returncode}: {' | '.join(err)}")
    return res


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    watch: Iterable[ManagedProcess] = (),
) -> T:
    """Poll ``check`` until it returns something truthy and return that.

    Raises ``StackError`` after ``timeout`` seconds, or at once when a watched process has
    exited (with the tail of its log), so a crash is reported as a crash, not as a timeout.
    """
    watched = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        for p in watched:
            if p.started and not p.running:
                raise StackError(
                    f"{p.name} exited with code {p.returncode} while waiting for {what}\n{p.tail()}"
                )
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _ro_connect(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to a live WAL database, or None if it does not exist yet."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        return None
    db.execute("PRAGMA query_only = 1")
    return db


# --------------------------------------------------------------------------------------
# processes


class ManagedProcess:
    """One child process with its log file; start/stop/kill/restart keep name, args and log."""

    #: text in the log (since the latest start) that says the process is ready
    ready_marker: str | None = None
    ready_timeout: float = 60.0

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    # -- state -----------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.proc is not None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_text(self, since_start: bool = True) -> str:
        """The log (by default only what the latest start wrote)."""
        try:
            with open(self.log_path, "rb") as fh:
                if since_start:
                    fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 15) -> str:
        text = self.log_text(since_start=False).splitlines()[-lines:]
        return "\n".join(f"  {self.name}| {line}" for line in text)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Launch the process (does not wait for readiness; see ``wait_ready``)."""
        if self.running:
            raise StackError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as fh:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            fh.write(f"=== {stamp} start #{self.starts + 1}: {' '.join(self.argv)}\n".encode())
            fh.flush()
            self._log_offset = fh.tell()
            # Own session: a Ctrl-C in the demo's terminal reaches only the demo, which then
            # stops its children in order (agents first) instead of all at once.
            self.proc = subprocess.Popen(
                self.argv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                # and if the demo itself is SIGKILLed, its children follow instead of orphaning
                preexec_fn=die_with_parent,  # one syscall; libc loaded before the fork
            )
        self.starts += 1

    def is_ready(self) -> bool:
        return self.ready_marker is None or self.ready_marker in self.log_text()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the log says ready; ``StackError`` if it exits first or times out."""
        if self.proc is None:
            raise StackError(f"{self.name} was never started")
        wait_until(
            self.is_ready,
            timeout=timeout or self.ready_timeout,
            what=f"{self.name} to be ready",
            interval=0.05,
            watch=[self],
        )

    def stop(self, timeout: float = 30.0, *, check: bool = True) -> int | None:
        """SIGTERM and wait. If it does not exit in ``timeout``: SIGKILL, and with ``check``
        raise ``StackError`` (a process that ignores SIGTERM is a bug worth reporting)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            if check:
                raise StackError(
                    f"{self.name} did not exit within {timeout:g}s of SIGTERM (killed)\n"
                    f"{self.tail()}"
                ) from None
            return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (a crash, a power cut) and reap."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait()

    def restart(self, *, wait_ready: bool = True, timeout: float = 30.0) -> None:
        """Stop (SIGTERM) if running, start again with the same arguments and data dir."""
        if self.running:
            self.stop(timeout)
        self.start()
        if wait_ready:
            self.wait_ready()


# -- broker ----------------------------------------------------------------------------------


class BrokerProcess(ManagedProcess):
    """Mosquitto from the PATH (or /usr/sbin), else the embedded amqtt broker; fixed port."""

    def __init__(self, workdir: Path, *, prefer: str = "auto", port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        binary = mosquitto_binary() if prefer in ("auto", "mosquitto") else None
        if prefer == "mosquitto" and binary is None:
            raise StackError("mosquitto is not installed (apt-get install mosquitto)")
        workdir.mkdir(parents=True, exist_ok=True)
        if binary:
            conf = workdir / "mosquitto.conf"
            conf.write_text(mosquitto_config(self.port))
            argv = [binary, "-c", str(conf)]
            self.kind = "mosquitto"
        else:
            argv = [sys.executable, "-m", "simulators.demo_broker", "--port", str(self.port)]
            self.kind = "amqtt"
        super().__init__("broker", argv, workdir.parent / "logs" / "broker.log")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def is_ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), 0.5):
                return True
        except OSError:
            return False


@dataclass(frozen=True)
class ExternalBroker:
    """A broker somebody else runs (``--broker HOST:PORT``): never started or stopped here."""

    host: str
    port: int
    kind: str = "external"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> ExternalBroker:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise StackError(f"broker must be HOST:PORT, got {text!r}")
        return cls(host, int(port))


# -- plant clock and simulators --------------------------------------------------------------


@dataclass(frozen=True)
class PlantClockSpec:
    """The three numbers simulators and agents share to agree on plant time."""

    start_ms: int
    speed: float
    anchor_wall_s: float

    @classmethod
    def starting_in(cls, start_ms: int, *, speed: float, lead_s: float = 0.0) -> PlantClockSpec:
        """Plant time ``start_ms`` at ``lead_s`` wall seconds from now (before it: frozen)."""
        return cls(start_ms, speed, time.time() + lead_s)

    @property
    def clock(self) -> PlantClock:
        return PlantClock(self.start_ms, self.speed, self.anchor_wall_s)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def wall_s(self, plant_ms: int) -> float:
        return self.clock.wall_s(plant_ms)


class SimulatorProcess(ManagedProcess):
    """``mrv-sim run KIND --json`` with a control endpoint; port fixed after the first start."""

    ready_marker = '"listening"'

    def __init__(
        self,
        name: str,
        kind: str,
        log_dir: Path,
        *,
        clock: PlantClockSpec,
        seed: int = 1,
        faults: Sequence[str] = (),
        cells: int = 24,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.kind = kind
        self.clock = clock
        self.seed = seed
        self.faults = list(faults)
        self.cells = cells
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.control_port = free_port()
        self.ready_info: dict[str, Any] = {}
        super().__init__(name, self._argv(), log_dir / f"{name}.log")

    def _argv(self) -> list[str]:
        c = self.clock
        argv = [
            *command("mrv-sim"),
            "run",
            self.kind,
            "--json",
            "--port",
            str(self.port),
            "--control-port",
            str(self.control_port),
            "--seed",
            str(self.seed),
            "--speed",
            repr(c.speed),
            "--start",
            datetime.fromtimestamp(c.start_ms / 1000, UTC).isoformat(),
            "--anchor-wall",
            repr(c.anchor_wall_s),
        ]
        if self.kind == "aluminium":
            argv += ["--cells", str(self.cells)]
        if self.faults:
            argv += ["--faults", " ".join(self.faults)]
        return argv + self.extra_args

    def is_ready(self) -> bool:
        for line in self.log_text().splitlines():
            if line.startswith("{") and '"listening"' in line:
                with contextlib.suppress(ValueError):
                    self.ready_info = json.loads(line)
                    return True
        return False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def describe(self) -> dict[str, Any]:
        """The register map (``mrv-sim describe KIND --json``), computed in-process."""
        from .plant import describe

        return describe(self.kind, self.cells)

    def control(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """One request to the JSON control endpoint."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def state(self) -> dict[str, Any]:
        """Plant truth since start: totals, anode effects, faults, request counts."""
        return dict(self.control("GET", "/state"))

    def inject(self, *specs: str) -> Any:
        """Inject faults now (fault grammar of config/simulators/README.md)."""
        return self.control("POST", "/faults", {"specs": list(specs)})

    def clear_faults(self) -> Any:
        return self.control("DELETE", "/faults")


# -- agents ----------------------------------------------------------------------------------


def default_derived(kind: str) -> list[dict[str, Any]]:
    """Derived key parameters for a fast simulated clock.

    Anode effects come from the pot controllers' AE counters (``source: counters``): exact
    whatever the poll interval, where voltage sampling needs ≥ 1 Hz of plant time, which a
    month in minutes cannot afford.
    """
    if kind == "aluminium":
        return [
            {
                "id": "al_production_t",
                "kind": "counter",
                "input": "aluminium_output_kg",
                "factor": 0.001,
                "unit": "t",
            },
            {
                "id": "dc_energy_interval_mwh",
                "kind": "counter",
                "input": "dc_energy_mwh",
                "unit": "MWh",
            },
            {
                "id": "line_current_mean_ka",
                "kind": "aggregate",
                "input": "line_current_ka",
                "unit": "kA",
            },
            {
                "id": "ae_minutes",
                "kind": "anode_effect",
                "source": "counters",
                "ae_count_inputs": ["cell_*_ae_count"],
                "ae_seconds_inputs": ["cell_*_ae_seconds"],
                "count_id": "ae_count",
                "operating_cells": "operating_cells",
                "cell_days_id": "operating_cell_days",
            },
        ]
    if kind == "cement":
        return [
            {"id": "clinker_interval_t", "kind": "counter", "input": "clinker_t", "unit": "t"},
            {"id": "kiln_coal_interval_t", "kind": "counter", "input": "kiln_coal_t", "unit": "t"},
            {
                "id": "calciner_coal_interval_t",
                "kind": "counter",
                "input": "calciner_coal_t",
                "unit": "t",
            },
            {
                "id": "power_import_interval_mwh",
                "kind": "counter",
                "input": "power_import_mwh",
                "unit": "MWh",
            },
        ]
    return []


def agent_config(
    *,
    site: str,
    agent: str,
    kind: str,
    regmap: dict[str, Any],
    sim_port: int,
    key_file: Path,
    data_dir: Path,
    broker_host: str,
    broker_port: int,
    clock: PlantClockSpec | None,
    poll_s: float = 60.0,
    publish_s: float = 3600.0,
    ack_timeout_s: float = 5.0,
    protocol: str = "3.1.1",
    device_timeout_s: float = 0.5,
    link_per_device: bool = True,
    raw_counters: Sequence[str] = (),
    derived: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An agent config (plain dict) generated from a simulator's register map via
    ``agent.regmap``, with catalogue ids, a simulated clock and plant-time intervals.

    ``link_per_device`` gives every unit its own TCP connection (``bus``: the device name),
    as on a plant network, so a unit that times out does not hold up its neighbours; False
    puts all units behind one connection, like a serial gateway. ``raw_counters`` (register
    names) are sent as raw register counts (scale 1, catalogue id): the record's
    ``counters`` settings then give width and scale, so it can tell a rollover from a reset."""
    from agent.regmap import devices_from_map

    devices = devices_from_map(regmap, host="127.0.0.1", port=sim_port)
    rename = RENAMES.get(kind, {})
    for dev in devices:
        dev["timeout"] = device_timeout_s
        dev["retries"] = 0
        dev["backoff"] = {"initial": 0.2, "max": 2.0}
        if link_per_device:
            dev["bus"] = dev["name"]
        for p in dev["points"]:
            if p["id"] in raw_counters:
                p.pop("scale", None)
                p.pop("min", None)
                p.pop("max", None)
                p["unit"] = "count"
                p["id"] = rename.get(p["id"], (p["id"], 1.0, ""))[0]
                continue
            if p["id"] in rename:
                new, factor, unit = rename[p["id"]]
                p["id"], p["unit"] = new, unit
                p["scale"] = p.get("scale", 1.0) * factor
                for k in ("min", "max"):
                    if p.get(k) is not None:
                        p[k] = p[k] * factor
    return {
        "site": site,
        "agent": agent,
        "key_file": str(key_file),
        "data_dir": str(data_dir),
        "industry": INDUSTRY.get(kind, "generic"),
        "log_level": "info",
        "clock": (
            {"source": "system"}
            if clock is None
            else {
                "source": "simulated",
                "start": clock.start_ms,
                "speed": clock.speed,
                "anchor_wall": clock.anchor_wall_s,
            }
        ),
        "broker": {
            "host": broker_host,
            "port": broker_port,
            "protocol": protocol,
            "keepalive": 30,
            "reconnect": {"initial": 0.2, "max": 2.0},
        },
        "poll_groups": {"default": {"interval": poll_s}},
        "publish": {
            "interval": publish_s,
            "max_readings_per_batch": 50000,
            "ack_timeout": ack_timeout_s,
        },
        "outbox": {"on_full": "keep", "synchronous": "NORMAL"},
        "devices": devices,
        "derived": default_derived(kind) if derived is None else derived,
    }


@dataclass(frozen=True)
class OutboxHead:
    """An agent's outbox: highest committed seq, highest acked seq, batches still held."""

    head_seq: int
    acked_through: int
    pending: int


class AgentProcess(ManagedProcess):
    """``mrv-agent run -c DIR/agent.yaml``; key pair in DIR/keys, outbox in DIR/data."""

    ready_marker = "broker_connected"

    def __init__(self, name: str, directory: Path, log_dir: Path, *, site: str, agent: str) -> None:
        self.dir = directory
        self.site = site
        self.agent = agent
        self.config_path = directory / "agent.yaml"
        self.key_file = directory / "keys" / "agent.key"
        self.jwk_file = directory / "keys" / "agent.pub.jwk"
        self.data_dir = directory / "data"
        super().__init__(
            name,
            [*command("mrv-agent"), "run", "-c", str(self.config_path)],
            log_dir / f"{name}.log",
        )

    def keygen(self) -> Path:
        """``mrv-agent keygen`` once (an existing key pair is kept); the public JWK path."""
        if not self.key_file.exists():
            run_cli("mrv-agent", "keygen", "--out", str(self.key_file.parent))
        return self.jwk_file

    def write_config(self, config: dict[str, Any]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        return self.config_path

    def outbox(self) -> OutboxHead | None:
        """Read the outbox head (read-only; None before the agent created it)."""
        db = _ro_connect(self.data_dir / "outbox.sqlite3")
        if db is None:
            return None
        try:
            meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
            (pending,) = db.execute("SELECT count(*) FROM batches").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            db.close()
        return OutboxHead(
            int(meta.get("head_seq") or 0), int(meta.get("acked_through") or 0), int(pending)
        )


# -- collector -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentProgress:
    """What the collector holds of one agent (from its evidence store)."""

    site: str
    agent: str
    contiguous_through: int
    acked_through: int
    stored: int
    covered_ms: int | None  # last reading time of the contiguous head batch
    online: bool | None
    quarantined: int


class CollectorProcess(ManagedProcess):
    """``mrv-collector run -c DIR/collector.yaml`` with its signing key and (optionally) UI."""

    ready_marker = "connected to broker"

    def __init__(
        self,
        directory: Path,
        log_dir: Path,
        *,
        broker_host: str,
        broker_port: int,
        sites: dict[str, str],
        http: bool = True,
        http_port: int | None = None,
        protocol: str = "3.1.1",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.dir = directory
        self.config_path = directory / "collector.yaml"
        self.data_dir = directory / "data"
        self.database = self.data_dir / "evidence.sqlite"
        self.signing_key = directory / "keys" / "agent.key"
        self.http_port = (http_port or free_port()) if http else None
        self.config: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "signing_key": str(self.signing_key),
            "broker": {
                "host": broker_host,
                "port": broker_port,
                "protocol": protocol,
                "client_id": "mrv-collector",
                "reconnect_initial_s": 0.2,
                "reconnect_max_s": 2.0,
            },
            "limits": {"max_envelope_bytes": 16 * 1024 * 1024},
            "http": {"enabled": http, "host": "127.0.0.1", "port": self.http_port or 8470},
            "sites": {
                s: {"industry": ind, "timezone": "Asia/Shanghai"} for s, ind in sites.items()
            },
        }
        for k, v in (extra or {}).items():
            if isinstance(v, dict) and isinstance(self.config.get(k), dict):
                self.config[k] = {**self.config[k], **v}
            else:
                self.config[k] = v
        directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        if not self.signing_key.exists():
            run_cli("mrv-agent", "keygen", "--out", str(self.signing_key.parent))
        super().__init__(
            "collector",
            [*command("mrv-collector"), "run", "-c", str(self.config_path)],
            log_dir / "collector.log",
        )

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    @property
    def url(self) -> str | None:
        return None if self.http_port is None else f"http://127.0.0.1:{self.http_port}/"

    def is_ready(self) -> bool:
        if self.ready_marker not in self.log_text():
            return False
        if self.http_port is None:
            return True
        try:
            with socket.create_connection(("127.0.0.1", self.http_port), 0.5):
                return True
        except OSError:
            return False

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """``mrv-collector ARGS -c CONFIG`` (the option goes last: subcommands take it)."""
        return run_cli("mrv-collector", *args, "-c", str(self.config_path), timeout=timeout)

    def enroll(self, site: str, agent: str, jwk: Path) -> dict[str, Any]:
        out = self.cli("enroll", "--site", site, "--agent", agent, "--key", str(jwk), "--json")
        return dict(json.loads(out.stdout))

    def add_token(self, role: str = "admin", name: str = "demo") -> str:
        """Create a web/API token (printed once by the CLI) and return it."""
        out = self.cli("token", "add", "--role", role, "--name", name, "--json")
        return str(json.loads(out.stdout)["token"])

    def status_cli(self) -> dict[str, Any]:
        """``mrv-collector status --json``."""
        return dict(json.loads(self.cli("status", "--json").stdout))

    def progress(self) -> dict[tuple[str, str], AgentProgress]:
        """Per agent what is stored, read from the evidence SQLite (read-only, cheap)."""
        db = _ro_connect(self.database)
        if db is None:
            return {}
        try:
            rows = db.execute(
                "SELECT a.site, a.agent, a.contiguous_through, a.acked_through, a.online,"
                " (SELECT count(*) FROM envelopes e WHERE e.agent_id = a.id),"
                " (SELECT e.last_ts FROM envelopes e"
                "   WHERE e.agent_id = a.id AND e.seq = a.contiguous_through),"
                " (SELECT count(*) FROM quarantine q WHERE q.site = a.site AND q.agent = a.agent)"
                " FROM agents a"
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
        finally:
            db.close()
        return {
            (r[0], r[1]): AgentProgress(
                r[0], r[1], r[2], r[3], r[5], r[6], None if r[4] is None else bool(r[4]), r[7]
            )
            for r in rows
        }

    def record_build(
        self, site: str, month: str, *, settings: Path | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """``mrv-collector record build --json``: the summary (``bundle``, flags, timings)."""
        args = ["record", "build", "--site", site, "--month", month, "--json"]
        if settings is not None:
            args += ["--settings", str(settings)]
        if reason:
            args += ["--reason", reason]
        return dict(json.loads(self.cli(*args, timeout=600).stdout))


def verify_bundle(bundle: Path | str, timeout: float = 600.0) -> tuple[bool, dict[str, Any]]:
    """``mrv-verify BUNDLE --json``: (exit code 0, its JSON report)."""
    res = run_cli("mrv-verify", str(bundle), "--json", timeout=timeout, check=False)
    try:
        report = json.loads(res.stdout)
    except ValueError:
        report = {"error": (res.stderr or res.stdout).strip()}
    return res.returncode == 0, report


# --------------------------------------------------------------------------------------
# the stack


class Stack:
    """A set of managed processes under one data dir, torn down together."""

    def __init__(
        self,
        data_dir: Path,
        *,
        broker: str | None = None,
        broker_prefer: str = "auto",
        protocol: str = "3.1.1",
    ) -> None:
        self._external = ExternalBroker.parse(broker) if broker else None
        self.data_dir = Path(data_dir).resolve()
        self.log_dir = self.data_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.protocol = protocol
        self._broker_prefer = broker_prefer
        self.broker: BrokerProcess | ExternalBroker | None = self._external
        self.collector: CollectorProcess | None = None
        self.simulators: list[SimulatorProcess] = []
        self.agents: list[AgentProcess] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def processes(self) -> list[ManagedProcess]:
        procs: list[ManagedProcess] = [*self.agents, *self.simulators]
        if self.collector is not None:
            procs.append(self.collector)
        if isinstance(self.broker, BrokerProcess):
            procs.append(self.broker)
        return procs

    # -- building blocks -------------------------------------------------------------------
    def start_broker(self, *, wait: bool = True) -> BrokerProcess | ExternalBroker:
        """Start our broker (unless ``broker=HOST:PORT`` was given: then check it answers)."""
        if self._external is not None:
            b = self._external
            try:
                with socket.create_connection((b.host, b.port), 5):
                    pass
            except OSError as exc:
                raise StackError(f"broker {b.address} is not reachable: {exc}") from None
            return b
        if not isinstance(self.broker, BrokerProcess):
            self.broker = BrokerProcess(self.data_dir / "broker", prefer=self._broker_prefer)
        self.broker.start()
        if wait:
            self.broker.wait_ready(30)
        return self.broker

    def _broker(self) -> BrokerProcess | ExternalBroker:
        if self.broker is None:
            raise StackError("start_broker() first")
        return self.broker

    def add_collector(
        self, sites: dict[str, str], *, http: bool = True, extra: dict[str, Any] | None = None
    ) -> CollectorProcess:
        """Write the collector's config and signing key (not started; ``.start()``)."""
        b = self._broker()
        self.collector = CollectorProcess(
            self.data_dir / "collector",
            self.log_dir,
            broker_host=b.host,
            broker_port=b.port,
            sites=sites,
            http=http,
            protocol=self.protocol,
            extra=extra,
        )
        return self.collector

    def add_simulator(
        self,
        kind: str,
        *,
        clock: PlantClockSpec,
        name: str | None = None,
        seed: int = 1,
        faults: Sequence[str] = (),
        cells: int = 24,
    ) -> SimulatorProcess:
        """A simulator process (not started; ``.start()``)."""
        sim = SimulatorProcess(
            name or f"sim-{kind}",
            kind,
            self.log_dir,
            clock=clock,
            seed=seed,
            faults=faults,
            cells=cells,
        )
        self.simulators.append(sim)
        return sim

    def prepare_agent(
        self, *, site: str, agent: str, name: str | None = None, enroll: bool = True
    ) -> AgentProcess:
        """Keygen and enrollment of an agent (two CLI calls, ~1 s): done before the plant
        clock is fixed, so the clock's lead does not have to cover them."""
        name = name or f"agent-{agent}"
        for ag in self.agents:
            if ag.name == name:
                return ag
        ag = AgentProcess(name, self.data_dir / name, self.log_dir, site=site, agent=agent)
        jwk = ag.keygen()
        if enroll:
            if self.collector is None:
                raise StackError("add_collector() before enrolling an agent")
            self.collector.enroll(site, agent, jwk)
        self.agents.append(ag)
        return ag

    def add_agent(
        self,
        sim: SimulatorProcess,
        *,
        site: str,
        agent: str,
        name: str | None = None,
        enroll: bool = True,
        **config: Any,
    ) -> AgentProcess:
        """An agent for ``sim``: keygen and enrollment (unless ``prepare_agent`` did them),
        a config generated from the simulator's register map; not started (``.start()``).
        ``config`` goes to :func:`agent_config` (``clock`` defaults to the simulator's)."""
        b = self._broker()
        ag = self.prepare_agent(site=site, agent=agent, name=name, enroll=enroll)
        ag.write_config(
            agent_config(
                site=site,
                agent=agent,
                kind=sim.kind,
                regmap=sim.describe(),
                sim_port=sim.port,
                key_file=ag.key_file,
                data_dir=ag.data_dir,
                broker_host=b.host,
                broker_port=b.port,
                clock=config.pop("clock", sim.clock),
                protocol=self.protocol,
                **config,
            )
        )
        return ag

    # -- waits on real state ---------------------------------------------------------------
    def _col(self) -> CollectorProcess:
        if self.collector is None:
            raise StackError("no collector in this stack")
        return self.collector

    def stored(self, ag: AgentProcess) -> AgentProgress | None:
        return self._col().progress().get((ag.site, ag.agent))

    def wait_stored(
        self, ag: AgentProcess, through: int, *, timeout: float = 60.0
    ) -> AgentProgress:
        """Until the collector holds every batch of ``ag`` up to seq ``through``."""

        def check() -> AgentProgress | None:
            p = self.stored(ag)
            return p if p is not None and p.contiguous_through >= through else None

        return wait_until(
            check,
            timeout=timeout,
            what=f"collector to store {ag.site}/{ag.agent} through seq {through}",
            interval=0.1,
            watch=[self._col()],
        )

    def wait_covered(
        self, ag: AgentProcess, plant_ms: int, *, timeout: float = 120.0
    ) -> AgentProgress:
        """Until the collector holds contiguous evidence of ``ag`` through plant time ``plant_ms``."""

        def check() -> AgentProgress | None:
            p = self.stored(ag)
            return p if p is not None and (p.covered_ms or 0) >= plant_ms else None

        when = datetime.fromtimestamp(plant_ms / 1000, UTC).isoformat()
        return wait_until(
            check,
            timeout=timeout,
            what=f"{ag.site}/{ag.agent} evidence through {when}",
            interval=0.2,
            watch=[self._col(), ag],
        )

    def wait_drained(
        self, agents: Sequence[AgentProcess] | None = None, *, timeout: float = 120.0
    ) -> dict[str, int]:
        """Snapshot each agent's outbox head, then wait until the collector stored through it
        and the agent saw the ack. Returns ``{agent name: head seq}``."""
        heads: dict[str, int] = {}
        for ag in agents if agents is not None else self.agents:
            head = ag.outbox()
            if head is None:
                raise StackError(f"{ag.name} has no outbox yet")
            self.wait_stored(ag, head.head_seq, timeout=timeout)

            def acked(ag: AgentProcess = ag, seq: int = head.head_seq) -> bool:
                h = ag.outbox()
                return h is not None and h.acked_through >= seq

            if ag.running:
                wait_until(
                    acked,
                    timeout=timeout,
                    what=f"{ag.name} to see the ack through {head.head_seq}",
                    watch=[ag],
                )
            heads[ag.name] = head.head_seq
        return heads

    # -- teardown --------------------------------------------------------------------------
    def close(self, grace_s: float = 15.0) -> list[str]:
        """Stop everything (agents, simulators, collector, broker); SIGKILL what hangs.

        Never raises; returns one line per process that had to be killed."""
        problems: list[str] = []
        for p in self.processes:
            if not p.running:
                continue
            try:
                if p.stop(grace_s, check=False) is not None and p.returncode == -signal.SIGKILL:
                    problems.append(f"{p.name}: no exit within {grace_s:g}s of SIGTERM; killed")
            except Exception as exc:  # teardown must reach every process
                problems.append(f"{p.name}: {exc}")
                with contextlib.suppress(Exception):
                    p.kill()
        return problems
