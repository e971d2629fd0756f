"""Agent end to end: real simulators → agent → real Mosquitto → verifying subscriber."""

from __future__ import annotations

from pathlib import Path

import aiomqtt
import pytest

from agent.config import parse_config
from agent.core import Agent
from agent.regmap import devices_from_map
from simulators.plant import KINDS, PlantSimulator
from tests.agent.support import Collector, agent_config
from tests.support.servers import Mosquitto


@pytest.mark.parametrize("kind", KINDS)
async def test_every_simulator_kind_arrives_signed_and_chained(
    kind: str, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with PlantSimulator(kind, seed=3) as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port),
            industry="aluminium" if kind == "aluminium" else "generic",
        )
        cfg = parse_config(raw)
        expected_ids = {p.id for _, p in cfg.all_points()}
        async with (
            Collector(mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk") as col,
            Agent(cfg),
        ):
            await col.wait_for(lambda: col.contiguous_through() >= 3, "three batches")
            await col.wait_for(lambda: bool(col.status), "birth")
        col.assert_chain()
        readings = col.readings()
        assert {r.id for r in readings} == expected_ids
        good = [r for r in readings if r.quality == "good"]
        assert good, "no good readings"
        # Values decoded with the map's type, byte order and scale lie in the map's range.
        ranges = {p.id: (p.min, p.max) for _, p in cfg.all_points()}
        for r in good:
            lo, hi = ranges[r.id]
            if lo is not None and hi is not None:
                assert lo <= r.value <= hi, (r.id, r.value)
        birth = col.status[0]
        assert birth["online"] is True and birth["kid"] and birth["config_hash"]
        assert {c["id"] for c in birth["catalogue"]} == expected_ids


async def test_v311_broker_protocol(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with PlantSimulator("meter") as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1]),
        )
        raw["broker"]["protocol"] = "3.1.1"
        async with (
            Collector(
                mosquitto.port,
                "plant1",
                "agent1",
                tmp_path / "keys/agent.pub.jwk",
                protocol=aiomqtt.ProtocolVersion.V311,
            ) as col,
            Agent(parse_config(raw)),
        ):
            await col.wait_for(lambda: col.contiguous_through() >= 2, "two batches")
        col.assert_chain()


async def test_broker_outage_loses_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with PlantSimulator("meter") as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1]),
        )
        async with (
            Collector(mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk") as col,
            Agent(parse_config(raw)) as agent,
        ):
            await col.wait_for(lambda: col.contiguous_through() >= 2, "batches before outage")
            mosquitto.stop()
            assert agent.outbox is not None
            head_at_stop = agent.outbox.head_seq
            async with agent.committed:
                await agent.committed.wait_for(lambda: agent.outbox.head_seq >= head_at_stop + 4)  # type: ignore[union-attr]
            mosquitto.start()
            target = agent.outbox.head_seq
            await col.wait_for(lambda: col.contiguous_through() >= target, f"seq {target}")
            await col.wait_for(lambda: agent.outbox.acked_through >= target, "acks")  # type: ignore[union-attr]
        col.assert_chain()
        assert agent.publisher is not None and agent.publisher.connects >= 2


async def test_unacked_batches_are_republished_after_ack_timeout(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The collector received but never acked: the agent republishes the same bytes."""
    async with PlantSimulator("meter") as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1]),
        )
        raw["publish"]["ack_timeout"] = 0.5
        async with (
            Collector(
                mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk", ack=False
            ) as col,
            Agent(parse_config(raw)) as agent,
        ):
            await col.wait_for(lambda: col.duplicates >= 2, "republished batches")
            assert agent.outbox is not None and agent.outbox.acked_through == 0
            assert agent.outbox.stats().batches >= 1
        col.assert_chain()
