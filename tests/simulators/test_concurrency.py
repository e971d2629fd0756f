"""Many agents polling one simulator at once: all served, nobody starves anybody."""

from __future__ import annotations

import asyncio

from simulators import Fault, FaultMode, PlantSimulator
from simulators.registers import Device

from .helpers import START_MS, client, read_device

CLIENTS = 20
ROUNDS = 10


async def _poll(port: int, devices: list[Device], rounds: int) -> int:
    c = client(port)
    assert await c.connect()
    reads = 0
    try:
        for _ in range(rounds):
            for d in devices:
                values = await read_device(c, d)
                assert len(values) == len(d.registers)
                reads += 1
    finally:
        c.close()
    return reads


async def test_twenty_clients_poll_a_running_potline_concurrently() -> None:
    # a real plant clock at 15000x: values move between reads, as in the demo
    async with PlantSimulator("aluminium", seed=2, speed=15000, start_ms=START_MS) as sim:
        devices = list(sim.map.devices)
        results = await asyncio.gather(*(_poll(sim.port, devices, ROUNDS) for _ in range(CLIENTS)))
        assert results == [ROUNDS * len(devices)] * CLIENTS
        assert sum(sim.truth()["requests"].values()) >= CLIENTS * ROUNDS * len(devices)


async def test_a_late_unit_does_not_hold_up_other_units_or_clients() -> None:
    async with PlantSimulator("cement", seed=2, start_ms=START_MS) as sim:
        sim.inject(Fault(FaultMode.LATE, unit=2, delay_s=1.0))
        slow = asyncio.create_task(_poll(sim.port, [sim.map.device(2)], 1))
        others = [d for d in sim.map.devices if d.unit != 2]
        results = await asyncio.gather(*(_poll(sim.port, others, 5) for _ in range(CLIENTS)))
        assert results == [5 * len(others)] * CLIENTS
        assert not slow.done()  # every other client finished while unit 2 was still late
        assert await slow == 1
