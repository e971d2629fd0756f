"""The agent's clock: plant time for simulated plants, and system-clock jumps flagged."""

from __future__ import annotations

from pathlib import Path

from agent.clock import AgentClock
from agent.config import ClockConfig, parse_config
from agent.core import Agent
from agent.regmap import devices_from_map
from simulators.plant import PlantSimulator
from tests.agent.support import Collector, agent_config
from tests.support.servers import Mosquitto


def test_simulated_clock_runs_at_speed_from_its_anchor() -> None:
    clock = AgentClock(
        ClockConfig(source="simulated", start="2026-01-01T00:00:00Z", speed=60, anchor_wall=1000.0)
    )
    assert clock.plant.plant_ms(1000.0) == 1_767_225_600_000
    assert clock.plant.plant_ms(1001.0) == 1_767_225_600_000 + 60_000
    assert clock.state()["source"] == "simulated"


def test_a_step_of_the_system_clock_is_detected_once() -> None:
    clock = AgentClock(ClockConfig(jump_threshold_ms=1000))
    assert clock.check_jump() is None
    clock._offset -= 5.0  # as if the wall clock had been stepped 5 s forward since
    jump = clock.check_jump()
    assert jump is not None and 4900 <= jump.jump_ms <= 5100
    assert clock.check_jump() is None  # the new offset is the baseline now
    state = clock.state(clock.take_jumps())
    assert state["jumps"] == 1 and state["jump_ms"] == jump.jump_ms


async def test_clock_jump_reaches_the_batch_and_the_chain_holds(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
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
            await col.wait_for(lambda: col.contiguous_through() >= 1, "a first batch")
            agent.clock._offset += 30.0  # the system clock was stepped back by 30 s

            def jumped() -> bool:
                return any(
                    e.type == "clock_jump" for b in col.batches.values() for e in b.payload.events
                )

            await col.wait_for(jumped, "clock_jump event")
        col.assert_chain()
        [batch] = [
            b for b in col.batches.values() if any(e.type == "clock_jump" for e in b.payload.events)
        ]
        assert batch.payload.clock.model_extra["jump_ms"] < -29_000  # type: ignore[index]
