"""Every register-map test case (tests/agent/testcases/*/) against a real pymodbus server.

One folder per device layout: ``registers.yaml`` (raw words), ``device.yaml`` (the agent's
device section), ``expected.yaml`` (value and quality per parameter). See the folder's README.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from agent.config import parse_config
from agent.drivers import DeviceState, driver_for
from agent.poller import DevicePoll
from tests.agent.support import agent_config
from tests.support.servers import free_port, wait_for_port

CASES = sorted(p for p in (Path(__file__).parent / "testcases").iterdir() if p.is_dir())
TABLES = ("coil", "discrete", "holding", "input")  # SimDevice's four blocks, in its order


def _blocks(regs: dict[str, Any]) -> tuple[list[SimData], ...]:
    blocks: list[list[SimData]] = []
    for table in TABLES:
        cells = regs.get(table) or {}
        bits = table in ("coil", "discrete")
        block = [
            SimData(
                address=int(addr),
                values=[bool(w) for w in words] if bits else [int(w) for w in words],
                datatype=DataType.BITS if bits else DataType.REGISTERS,
            )
            for addr, words in sorted(cells.items())
        ]
        # an empty table still needs a block; address 60000 is outside every case's map
        kind = DataType.BITS if bits else DataType.REGISTERS
        blocks.append(block or [SimData(address=60000, values=0, datatype=kind)])
    return tuple(blocks)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_register_map_case(case: Path, tmp_path: Path) -> None:
    regs = yaml.safe_load((case / "registers.yaml").read_text(encoding="utf-8"))
    device = yaml.safe_load((case / "device.yaml").read_text(encoding="utf-8"))
    expected = yaml.safe_load((case / "expected.yaml").read_text(encoding="utf-8"))
    port = free_port()
    server = ModbusTcpServer(
        [SimDevice(id=regs["unit"], simdata=_blocks(regs))], address=("127.0.0.1", port)
    )
    await server.serve_forever(background=True)
    try:
        await wait_for_port_async(port)
        cfg = parse_config(
            agent_config(tmp_path, 1, [{**device, "host": "127.0.0.1", "port": port}])
        )
        (dev,) = cfg.devices
        driver = driver_for(dev.transport)
        link = driver.link(dev)
        out: list[Any] = []
        try:  # one poll, as mrv-agent run and check do it
            await DevicePoll(dev, driver.plan(dev, dev.points), DeviceState()).poll(link, 0, out)
        finally:
            link.close()
    finally:
        await server.shutdown()
    got = {r[0]: r for r in out}
    assert set(got) == set(expected)
    for pid, want in expected.items():
        _, _, value, quality, reason, _ = got[pid]
        assert (quality, reason) == (want["quality"], want.get("reason")), (pid, got[pid])
        assert math.isclose(value, want["value"], rel_tol=1e-6, abs_tol=1e-9), (pid, got[pid])


async def wait_for_port_async(port: int) -> None:
    await asyncio.to_thread(wait_for_port, port)
