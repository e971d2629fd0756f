"""Fault-injection harness on top of ``simulators.stack``: one plant, one agent, one collector.

What it adds to the stack:

* ``Monitor``: an independent MQTT subscriber that keeps the hash of every envelope ever seen
  on a data topic, per seq (what went over the wire, not only what the collector kept);
* ``Evidence``: per seq every distinct payload hash seen anywhere — the monitor, the
  collector's evidence store, its quarantine, the agent's outbox — so "no batch lost, none
  duplicated with different content" is one assertion;
* ``record()``: ``mrv-collector record build`` + ``mrv-verify`` on the bundle, and the
  record's gaps restricted to the plant-time window the scenario actually ran.

Plant time runs at ``SPEED``× (one plant hour in six wall seconds); the agent polls every
plant minute and cuts a signed batch every ten plant minutes; the record uses 15-minute
intervals (three batches each), so a device fault of 10 plant minutes leaves one interval
below the 80 % validity threshold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from agent.outbox import outbox_path, read_held_hashes
from collector.store import open_store
from simulators.faults import parse_duration_ms
from simulators.stack import (
    AgentProcess,
    CollectorProcess,
    PlantClockSpec,
    SimulatorProcess,
    Stack,
    verify_bundle,
    wait_until,
)

SPEED = 600.0
T0 = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp() * 1000)  # plant time at the anchor
MONTH = "2026-10"
POLL_S = 60.0
PUBLISH_S = 600.0
INTERVAL_S = 1800
MIN = 60_000
SITE = "smelter"


def payload_of(envelope: bytes) -> bytes:
    p = json.loads(envelope)["payload"]
    return base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Monitor:
    """Records (seq → payload hashes) of every envelope seen on ``mrv/v1/+/+/data``."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.lock = threading.Lock()
        self.seen: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.messages = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"fault-monitor-{port}"
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: Any, *_: Any) -> None:
        client.subscribe("mrv/v1/+/+/data", 1)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        body = payload_of(msg.payload)
        agent = msg.topic.split("/")[3]
        seq = int(json.loads(body)["seq"])
        with self.lock:
            self.seen[(agent, seq)].add(sha(body))
            self.messages += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def outbox_batches(ag: AgentProcess) -> dict[int, str]:
    """seq → payload hash of the batches the agent still holds (read-only, through
    ``agent.outbox``)."""
    return read_held_hashes(outbox_path(ag.data_dir))


@dataclass
class Evidence:
    """Everything known about one agent's chain, for the no-loss/no-equivocation assertion."""

    stored: dict[int, str]  # collector evidence store: seq → payload hash
    quarantine: list[tuple[int | None, str, str]]  # (seq, reason, message)
    contiguous_through: int
    head_seq: int  # agent outbox head, read before the collector's state
    #: the head the collector was seen to have stored and acked (``Plant.finish``); a running
    #: agent may commit further batches that are still in flight when the evidence is read
    drained_through: int | None = None
    seen: dict[int, set[str]] = field(default_factory=dict)  # monitor + outbox snapshots

    def problems(self) -> list[str]:
        out = []
        if self.quarantine:
            out.append(f"quarantined: {self.quarantine[:5]}")
        seqs = sorted(self.stored)
        if seqs != list(range(1, len(seqs) + 1)):
            missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
            out.append(f"collector is missing seqs {missing[:20]}")
        must_have = self.head_seq if self.drained_through is None else self.drained_through
        if self.contiguous_through < must_have or len(seqs) != self.contiguous_through:
            out.append(
                f"agent head {self.head_seq} (drained through {must_have}), collector "
                f"contiguous {self.contiguous_through}, stored {len(seqs)}"
            )
        for seq, hashes in sorted(self.seen.items()):
            if len(hashes) > 1 or (seq in self.stored and hashes - {self.stored[seq]}):
                out.append(
                    f"seq {seq}: different contents {sorted(hashes | {self.stored.get(seq, '')})}"
                )
        return out


class Plant:
    """One scenario's processes: broker, collector, aluminium simulator, agent, monitor."""

    def __init__(
        self,
        root: Path,
        *,
        faults: Iterable[str] = (),
        collector_extra: dict[str, Any] | None = None,
        synchronous: str = "FULL",
        agent_argv_prefix: list[str] | None = None,
        lead_s: float = 4.0,
        **agent_config: Any,
    ) -> None:
        self.stack = Stack(root)
        self.stack.start_broker()
        self.collector: CollectorProcess = self.stack.add_collector(
            {SITE: "aluminium"}, http=False, extra=collector_extra
        )
        self.clock = PlantClockSpec.starting_in(T0, speed=SPEED, lead_s=lead_s)
        self.sim: SimulatorProcess = self.stack.add_simulator(
            "aluminium", clock=self.clock, cells=12
        )  # faults are armed once the agent runs (below)
        self.collector.start()
        self.sim.start()
        self.collector.wait_ready()
        self.sim.wait_ready()
        self.agent: AgentProcess = self.stack.add_agent(
            self.sim, site=SITE, agent="potline1", poll_s=POLL_S, publish_s=PUBLISH_S,
            ack_timeout_s=2.0, **agent_config,
        )  # fmt: skip
        cfg = yaml.safe_load(self.agent.config_path.read_text())
        cfg["outbox"]["synchronous"] = synchronous  # FULL: the agent's production default
        cfg["log_level"] = "debug"
        self.agent.write_config(cfg)
        if agent_argv_prefix is not None:
            self.agent.argv = [*agent_argv_prefix, "run", "-c", str(self.agent.config_path)]
        self.monitor = Monitor(self.broker_port)
        self.snapshots: dict[int, set[str]] = defaultdict(set)
        self.down: list[tuple[int, int]] = []  # plant-time windows the agent was not running
        self.drained_through: int | None = None  # set by finish()
        self.agent.start()
        self.agent.wait_ready()
        # The observed window starts once the agent's readings are stored, not at the plant
        # clock's start: on a busy machine the first polls come late (state, not plant time).
        self.started_ms = max(self.clock.start_ms, self._wait_covered_after(self.clock.start_ms))
        # Faults count from now, not from the clock's start: on a busy machine start-up can
        # take longer than the lead, and faults given to the simulator at its start would
        # then fall before the agent's first poll (or all of them, at 600×).
        self.faults_from_ms = self.now_ms()
        if faults:
            self.sim.inject(*(self._from_now(spec) for spec in faults))

    def _from_now(self, spec: str) -> str:
        """``at=+D`` of a fault spec counted from ``faults_from_ms`` (the simulator counts
        ``+D`` from its clock's start)."""
        shift = self.faults_from_ms - self.clock.start_ms

        def moved(m: re.Match[str]) -> str:
            return f"at=+{parse_duration_ms(m.group(1)) + shift}ms"

        return re.sub(r"at=\+([0-9.]+[a-z]*)", moved, spec)

    @property
    def broker_port(self) -> int:
        b = self.stack.broker
        assert b is not None
        return b.port

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # -- waits ---------------------------------------------------------------------------
    def wait_plant(self, plant_ms: int, timeout: float = 120) -> None:
        """Until plant time reaches ``plant_ms`` (the simulator and agent share the clock)."""
        wait_until(
            lambda: self.now_ms() >= plant_ms,
            timeout=timeout,
            what=f"plant time {plant_ms}",
            interval=0.05,
            watch=[self.agent, self.sim],
        )

    def head(self) -> int:
        h = self.agent.outbox()
        return 0 if h is None else h.head_seq

    def wait_head(self, seq: int, timeout: float = 60) -> None:
        wait_until(
            lambda: self.head() >= seq,
            timeout=timeout,
            what=f"agent outbox head {seq}",
            watch=[self.agent],
        )

    def monitor_hashes(self, seq: int, agent: str = "potline1") -> set[str]:
        with self.monitor.lock:
            return set(self.monitor.seen.get((agent, seq), set()))

    def snapshot_outbox(self) -> None:
        """Remember what the agent's outbox holds now (for the equivocation check)."""
        for seq, h in outbox_batches(self.agent).items():
            self.snapshots[seq].add(h)

    def kill_agent(self) -> None:
        self.down_from = self.now_ms()
        self.agent.kill()

    def start_agent(self) -> None:
        self.agent.start()
        self.agent.wait_ready()
        # down until the restarted agent's readings reach the collector (a loaded machine
        # may take a while to poll again); later gaps are faults of the scenario
        self.down.append((self.down_from, self._wait_covered_after(self.down_from)))

    def _wait_covered_after(self, plant_ms: int, timeout: float = 120) -> int:
        """Until the collector holds contiguous readings past ``plant_ms``; their end."""

        def covered() -> int | None:
            p = self.stack.stored(self.agent)
            c = None if p is None else p.covered_ms
            return c if c is not None and c > plant_ms else None

        got = wait_until(
            covered, timeout=timeout, what="the agent's readings to be stored", watch=[self.agent]
        )
        return int(got)

    # -- the end of a scenario -----------------------------------------------------------
    def finish(self) -> int:
        """Wait until everything committed is stored and acked; return the last plant ms."""
        heads = self.stack.wait_drained([self.agent], timeout=120)
        self.drained_through = heads[self.agent.name]
        end = self.now_ms()
        return end

    def evidence(self) -> Evidence:
        # The head first: the agent keeps committing, so a head read after the collector's
        # state could name a batch still on its way (the drained head is the bound to check).
        head = self.head()
        # through the store's own interface, as any reader of the evidence must
        with open_store(self.collector.database_url, must_exist=True) as store:
            site = self.agent.site
            stored = {e.seq: e.hash for e in store.envelopes(site, "potline1")}
            quarantine = [
                (q.seq, q.reason, q.message) for q in store.quarantine_entries(limit=1_000_000)
            ]
            st = store.agent_state(site, "potline1")
            contiguous = st.contiguous_through if st is not None else 0
        seen: dict[int, set[str]] = defaultdict(set)
        with self.monitor.lock:
            for (agent, seq), hashes in self.monitor.seen.items():
                if agent == "potline1":
                    seen[seq] |= hashes
        for seq, hashes in self.snapshots.items():
            seen[seq] |= hashes
        for seq, h in outbox_batches(self.agent).items():
            seen[seq].add(h)
        return Evidence(stored, quarantine, int(contiguous), head, self.drained_through, dict(seen))

    def record(
        self, root: Path, **settings_extra: Any
    ) -> tuple[dict[str, Any], bool, dict[str, Any]]:
        """Build the month's record, verify the bundle; (record.json, verified, report)."""
        settings = root / "record-settings.yaml"
        settings.write_text(yaml.safe_dump({"interval_s": INTERVAL_S, **settings_extra}))
        summary = self.collector.record_build(SITE, MONTH, settings=settings)
        bundle = Path(summary["bundle"])
        ok, report = verify_bundle(bundle)
        return json.loads((bundle / "record.json").read_text()), ok, report

    def close(self) -> None:
        self.monitor.close()
        self.stack.close()


def interval_index(record: dict[str, Any], plant_ms: int) -> int:
    """Index of the record interval ``(t0, t0 + Δ]`` holding ``plant_ms``."""
    start, iv = record["period"]["start_ms"], record["period"]["interval_s"] * 1000
    return (plant_ms - start - 1) // iv


def gaps_in(
    record: dict[str, Any], first_ms: int, last_ms: int, params: Iterable[str] | None = None
) -> dict[str, list[tuple[int, int]]]:
    """Per parameter, the invalid intervals ``[start_index, end_index)`` that fall inside the
    fully observed window: from the first whole interval after ``first_ms`` to the last whole
    interval before ``last_ms`` (the edges are partial by construction)."""
    lo = interval_index(record, first_ms) + 1
    hi = interval_index(record, last_ms)  # the interval holding last_ms is still open
    want = None if params is None else set(params)
    out: dict[str, list[tuple[int, int]]] = {}
    for p in record["parameters"]:
        if want is not None and p["id"] not in want:
            continue
        spans = []
        for g in p["gaps"]:
            a, b = g["start_index"], g["start_index"] + g["intervals"]
            a, b = max(a, lo), min(b, hi)
            if a < b:
                spans.append((a, b))
        if spans:
            out[p["id"]] = spans
    return out


def window_indices(record: dict[str, Any], windows: Iterable[tuple[int, int]]) -> set[int]:
    """Record intervals touched by plant-time windows (a fault, an agent outage)."""
    out: set[int] = set()
    for a, b in windows:
        out |= set(range(interval_index(record, a), interval_index(record, b) + 1))
    return out
