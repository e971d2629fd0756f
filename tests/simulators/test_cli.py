"""`mrv-sim` as another process sees it: ready line, plant clock, control endpoint, errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from protocols.modbus_codec import decode
from protocols.plant_clock import PlantClock

from .helpers import START_MS, client, read_raw

SIM = [sys.executable, "-m", "simulators.cli"]


class Running:
    def __init__(self, proc: asyncio.subprocess.Process, ready: dict[str, object]) -> None:
        self.proc = proc
        self.ready = ready

    @property
    def port(self) -> int:
        return int(self.ready["port"])  # type: ignore[arg-type]


async def _start(*args: str) -> Running:
    proc = await asyncio.create_subprocess_exec(
        *SIM, "run", *args, "--port", "0", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await proc.stdout.readline()  # the ready line: no sleeping, no polling
    if not line:
        _, err = await proc.communicate()
        pytest.fail(f"mrv-sim did not start: {err.decode()}")
    return Running(proc, json.loads(line))


@pytest.fixture
async def potline() -> AsyncIterator[Running]:
    anchor = time.time()
    sim = await _start(
        "aluminium", "--seed", "4", "--speed", "600", "--start", "2026-10-01T00:00:00Z",
        "--anchor-wall", repr(anchor), "--control-port", "0",
        "--faults", "exception:unit=11:code=6",
    )  # fmt: skip
    yield sim
    if sim.proc.returncode is None:
        sim.proc.send_signal(signal.SIGTERM)
        await sim.proc.wait()


async def test_ready_line_and_shared_plant_clock(potline: Running) -> None:
    ready = potline.ready
    assert ready["listening"] == f"127.0.0.1:{potline.port}"
    assert ready["start_ms"] == START_MS and ready["speed"] == 600.0
    assert ready["units"] == [247, 10, 11, 12, 21, 22]
    (spec,) = ready["faults"]  # type: ignore[misc]
    assert spec.startswith("exception:unit=11:at=2026-10-01T") and spec.endswith(":code=6")
    clock = PlantClock(START_MS, 600.0, float(ready["anchor_wall_s"]))  # type: ignore[arg-type]
    c = client(potline.port)
    await c.connect()
    before = clock.now_ms()
    served = decode(await read_raw(c, 247, "holding", 0, 4), "UINT64", "ABCD")
    after = clock.now_ms()
    assert before <= served <= after  # an agent with the same three numbers agrees
    rr = await c.read_holding_registers(0, count=2, device_id=11)
    assert rr.isError() and rr.exception_code == 6  # the --faults spec is in force
    c.close()


async def test_control_endpoint_injects_clears_and_reports_truth(potline: Running) -> None:
    base = f"http://{potline.ready['control']}"
    c = client(potline.port, timeout=0.3)
    await c.connect()
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/faults", json={"spec": "exception:unit=10:code=3"})
        assert r.status_code == 201
        fid = r.json()["faults"][0]["id"]
        rr = await c.read_input_registers(0, count=2, device_id=10)
        assert rr.isError() and rr.exception_code == 3
        assert (await http.delete(f"/faults/{fid}")).json() == {"cleared": 1}
        assert not (await c.read_input_registers(0, count=2, device_id=10)).isError()

        r = await http.post("/faults", json={"mode": "timeout", "unit": 12})
        assert r.status_code == 201
        assert len((await http.get("/faults")).json()["faults"]) == 2
        assert (await http.delete("/faults")).json() == {"cleared": 2}
        assert not (await c.read_holding_registers(0, count=2, device_id=11)).isError()

        bad = await http.post("/faults", json={"spec": "explode:unit=1"})
        assert bad.status_code == 400 and "unknown fault mode" in bad.json()["error"]
        assert (await http.post("/faults", content=b"{not json")).status_code == 400
        assert (await http.get("/nowhere")).status_code == 404

        state = (await http.get("/state")).json()
        assert state["kind"] == "aluminium" and state["start_ms"] == START_MS
        assert state["aluminium_kg"] > 0 and state["dc_energy_kwh"] > 0
        assert isinstance(state["anode_effects"], list)
        assert (await http.get("/describe")).json()["kind"] == "aluminium"
    c.close()


async def test_sigterm_stops_cleanly(potline: Running) -> None:
    potline.proc.send_signal(signal.SIGTERM)
    assert await potline.proc.wait() == 0


async def _run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *SIM, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "zinc"], "unknown plant kind"),
        (["describe", "zinc", "--json"], "unknown plant kind"),
        (["run", "meter", "--faults", "explode"], "unknown fault mode"),
        (["run", "meter", "--faults", "timeout:unit=1 explode:unit=1"], "unknown fault mode"),
        (["run", "meter", "--faults", "timeout:for=soon"], "bad duration"),
        (["run", "meter", "--start", "last tuesday"], "bad instant"),
        (["run", "meter", "--speed", "0"], "speed must be positive"),
        (["run", "aluminium", "--cells", "0"], "cells must be"),
        (["run", "meter", "--faults", "timeout:unit=9"], "no unit 9"),
    ],
)
async def test_bad_input_is_one_clear_line_and_exit_2(args: list[str], message: str) -> None:
    code, _, err = await _run_cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


async def test_port_in_use_is_a_runtime_failure(potline: Running) -> None:
    code, _, err = await _run_cli("run", "meter", "--port", str(potline.port))
    assert code == 1 and "cannot listen" in err and "Traceback" not in err


async def test_help_for_every_command() -> None:
    for args in (["--help"], ["run", "--help"], ["describe", "--help"], ["demo", "--help"]):
        code, out, err = await _run_cli(*args)
        assert code == 0 and "Usage" in out, err
