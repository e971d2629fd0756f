"""The stack: real Plant MRV processes on 127.0.0.1 (broker, simulators, agents, collector).

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

The pieces live beside it: process supervision in ``simulators.processes``, one wrapper per
program in ``simulators.programs``, agent configs (shared with config/agent/generate.py) in
``simulators.agent_configs``, the read-only state probes in ``simulators.state_probes``.
Their names are re-exported here.

``Stack.close()`` (also on ``__exit__``) stops agents, then simulators, collector and broker,
with SIGKILL after a grace period, and never raises: a failed test still leaves no process.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .agent_configs import agent_config
from .postgres_server import PostgresServer
from .processes import ManagedProcess, StackError, command, free_port, run_cli, wait_until
from .programs import (
    AgentProcess,
    BrokerProcess,
    CollectorProcess,
    ExternalBroker,
    PlantClockSpec,
    SimulatorProcess,
    verify_bundle,
)
from .state_probes import AgentProgress, OutboxHead

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
        #: further collectors of the group (``add_collector_group``), sharing one store
        self.more_collectors: list[CollectorProcess] = []
        self.postgres: PostgresServer | None = None
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
        procs += self.more_collectors
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

    def start_postgres(self) -> str:
        """Debian's PostgreSQL in DATA_DIR/postgres-*, on 127.0.0.1; the store's URL."""
        if self.postgres is None:
            try:
                self.postgres = PostgresServer(self.data_dir)
                self.postgres.start()
            except (RuntimeError, OSError) as exc:
                raise StackError(f"PostgreSQL did not start: {exc}") from None
        return self.postgres.create_database("mrv")

    def add_collector_group(
        self, n: int, database: str, sites: dict[str, str], *, http: bool = True
    ) -> list[CollectorProcess]:
        """``n`` collectors (not started) on one store URL, in one MQTT 5 shared-subscription
        group, signing acks and records with the first one's key (one key for the group)."""
        group = {"protocol": "5", "shared_group": "collectors"}
        first = self.add_collector(
            sites, http=http, extra={"database": database, "broker": {**group,
                                     "client_id": "mrv-collector-1"}},
        )  # fmt: skip
        b = self._broker()
        self.more_collectors = [
            CollectorProcess(
                self.data_dir / f"collector-{i}",
                self.log_dir,
                broker_host=b.host,
                broker_port=b.port,
                sites=sites,
                http=False,
                protocol="5",
                name=f"collector-{i}",
                extra={
                    "database": database,
                    "signing_key": str(first.signing_key),
                    "broker": {**group, "client_id": f"mrv-collector-{i}"},
                },
            )
            for i in range(2, n + 1)
        ]
        return [first, *self.more_collectors]

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
        protocol: str = "modbus",
    ) -> SimulatorProcess:
        """A simulator process (not started; ``.start()``); ``protocol='opcua'`` serves the
        same plant over OPC UA (no faults, no control endpoint)."""
        sim = SimulatorProcess(
            name or f"sim-{kind}",
            kind,
            self.log_dir,
            clock=clock,
            seed=seed,
            faults=faults,
            cells=cells,
            protocol=protocol,
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
                collector_key=config.pop("collector_key", self._collector_public_jwk()),
                data_dir=ag.data_dir,
                broker_host=b.host,
                broker_port=b.port,
                clock=config.pop("clock", sim.clock),
                protocol=self.protocol,
                device_protocol=sim.protocol,
                **config,
            )
        )
        return ag

    def _collector_public_jwk(self) -> Path:
        """The key every agent verifies acks with: the stack's collector's, or (a stack
        without a collector, where nothing is acked) a key no collector holds."""
        if self.collector is not None:
            return self.collector.public_jwk
        keys = self.data_dir / "no-collector"
        if not (keys / "collector.pub.jwk").exists():
            from protocols.keys import write_key_pair

            write_key_pair(keys, name="collector")
        return keys / "collector.pub.jwk"

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
        if self.collector is not None:
            with contextlib.suppress(Exception):
                self.collector.close_store()
        if self.postgres is not None:
            try:
                # a server moved to the system temp directory (DATA_DIR not reachable by the
                # postgres user) is never found again: remove it rather than leave it behind
                if self.postgres.moved_from is not None:
                    self.postgres.close()
                else:
                    self.postgres.stop()
            except Exception as exc:  # teardown must go on
                problems.append(f"postgres: {exc}")
        return problems
