"""One wrapper per program: broker, plant simulator, agent, collector, offline verifier.

Each wrapper knows its program's command line, config file, data dir and readiness signal,
and keeps its port across restarts, so a test can kill and restart it on the same state.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from collector.store import EvidenceStore, StoreError, open_store, sqlite_url
from protocols.plant_clock import PlantClock

from .demo_broker import mosquitto_binary, mosquitto_config
from .processes import ManagedProcess, StackError, command, free_port, run_cli
from .state_probes import AgentProgress, OutboxHead, collector_progress, outbox_head

__all__ = [
    "AgentProcess",
    "BrokerProcess",
    "CollectorProcess",
    "ExternalBroker",
    "PlantClockSpec",
    "SimulatorProcess",
    "verify_bundle",
]


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
        protocol: str = "modbus",
    ) -> None:
        self.kind = kind
        self.protocol = protocol
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
        if self.protocol != "modbus":  # OPC UA: same model, no control endpoint
            argv += ["--protocol", self.protocol]
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

    @property
    def endpoint(self) -> str:
        """The OPC UA endpoint (``protocol='opcua'``)."""
        return f"opc.tcp://127.0.0.1:{self.port}/"

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
        return outbox_head(self.data_dir / "outbox.sqlite3")


# -- collector -------------------------------------------------------------------------------


# -- collector -------------------------------------------------------------------------------


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
        name: str = "collector",
    ) -> None:
        self.dir = directory
        self.config_path = directory / "collector.yaml"
        self.data_dir = directory / "data"
        self.database = self.data_dir / "evidence.sqlite"
        self.database_url = sqlite_url(self.database)
        self._opened: EvidenceStore | None = None
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
        if isinstance(self.config.get("database"), str):  # a shared store (PostgreSQL)
            self.database_url = self.config["database"]
        super().__init__(
            name,
            [*command("mrv-collector"), "run", "-c", str(self.config_path)],
            log_dir / f"{name}.log",
        )

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    @property
    def public_jwk(self) -> Path:
        """The collector's public key: every agent's ``collector_key`` (acks are signed)."""
        return self.signing_key.with_name("agent.pub.jwk")

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
        """Per agent what is stored, read through the evidence store's interface."""
        return collector_progress(self.store())

    def store(self) -> EvidenceStore | None:
        """The collector's store, opened once it exists (the collector creates it)."""
        if self._opened is None:
            try:
                self._opened = open_store(self.database_url, must_exist=True)
            except StoreError:
                return None
        return self._opened

    def close_store(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None

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
