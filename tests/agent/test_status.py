"""The retained status is republished when a device's health changes, and only then (it
carries the whole catalogue: republishing it on every health check cost CPU and bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

import agent.core
from agent.config import parse_config
from agent.core import Agent
from agent.regmap import devices_from_map
from simulators.plant import PlantSimulator
from tests.agent.support import Collector, agent_config
from tests.support.servers import Mosquitto


async def test_status_is_republished_on_a_health_change_only(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent.core, "HEALTH_CHECK_S", 0.05)
    sim = PlantSimulator("meter")
    await sim.__aenter__()
    try:
        devices = devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1])
        for d in devices:
            d["timeout"], d["retries"] = 0.5, 0
        cfg = parse_config(agent_config(tmp_path, mosquitto.port, devices))
        async with (
            Collector(mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk") as col,
            Agent(cfg) as ag,
        ):
            await col.wait_for(lambda: bool(col.status) and col.contiguous_through() >= 1)
            checks, statuses = ag.health_checks, len(col.status)
            await col.wait_for(lambda: ag.health_checks >= checks + 10, "ten health checks")
            # a batch published after those checks: a status published before it is here
            seq = ag.outbox.head_seq + 1 if ag.outbox else 0
            await col.wait_for(lambda: col.contiguous_through() >= seq, "a later batch")
            assert len(col.status) == statuses, "status republished without a health change"
            await sim.__aexit__(None, None, None)  # the device goes away
            await col.wait_for(
                lambda: not all(d["connected"] for d in col.status[-1]["devices"]),
                "a status saying the device is down",
            )
    finally:
        await sim.__aexit__(None, None, None)
