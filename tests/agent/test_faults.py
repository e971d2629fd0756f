"""Failure isolation and crash safety: dead devices, SIGKILL, RTU over a pty pair."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.core import Agent
from agent.regmap import devices_from_map
from simulators.faults import parse_fault
from simulators.plant import PlantSimulator
from tests.agent.support import TIMEOUT, Collector, agent_config, write_yaml
from tests.support.servers import Mosquitto


async def test_dead_devices_get_bad_readings_while_others_keep_cadence(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with (
        PlantSimulator("meter", seed=1) as good,
        PlantSimulator("meter", seed=2, faults=[parse_fault("timeout")]) as silent,
        PlantSimulator("meter", seed=3, faults=[parse_fault("drop")]) as dropper,
    ):
        devices = []
        for name, sim in (("good", good), ("silent", silent), ("dropper", dropper)):
            [dev] = devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1])
            dev["name"] = f"{name}_meter"
            dev["timeout"] = 0.3
            dev["backoff"] = {"initial": 0.2, "max": 1}
            for p in dev["points"]:
                p["id"] = f"{name}_{p['id']}"
            devices.append(dev)
        raw = agent_config(tmp_path, mosquitto.port, devices, poll_interval=0.1)
        async with (
            Collector(mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk") as col,
            Agent(parse_config(raw)),
        ):

            def enough() -> bool:
                rs = col.readings()
                return (
                    sum(1 for r in rs if r.id == "silent_l1_voltage_v") >= 10
                    and sum(1 for r in rs if r.id == "dropper_l1_voltage_v") >= 10
                    and sum(1 for r in rs if r.id == "good_l1_voltage_v") >= 20
                )

            await col.wait_for(enough, "readings from all three devices")
        col.assert_chain()
        rs = col.readings()
        good_ts = [r.ts for r in rs if r.id == "good_l1_voltage_v"]
        # The good meter kept its cadence: one reading per 100 ms slot, no slot skipped.
        steps = {b - a for a, b in itertools.pairwise(good_ts)}
        assert steps == {100}, steps
        assert all(r.quality == "good" for r in rs if r.id.startswith("good_"))
        silent = [r for r in rs if r.id.startswith("silent_")]
        assert silent and all(r.quality == "bad" and r.value is None for r in silent)
        # asked and timed out, or not asked during the back-off that followed (and why)
        assert "timeout" in {r.reason for r in silent}
        assert {r.reason for r in silent} <= {"timeout", "backoff:timeout"}
        dropped = [r for r in rs if r.id.startswith("dropper_")]
        assert dropped and all(r.quality == "bad" for r in dropped)
        # the silent meter's 0.3 s timeouts made its 0.1 s slots overrun: the batches say so
        overruns = [
            e for b in col.batches.values() for e in b.payload.events if e.type == "poll_overrun"
        ]
        assert overruns and all(e.start is not None and e.end > e.start for e in overruns)
        causes = {"connection", "timeout"}
        assert {r.reason for r in dropped} <= causes | {f"backoff:{c}" for c in causes}


async def test_sigkill_and_restart_continues_the_chain(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with PlantSimulator("meter") as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1]),
        )
        cfg_path = write_yaml(tmp_path / "agent.yaml", raw)
        exe = Path(sys.executable).parent / "mrv-agent"
        log = open(tmp_path / "agent.log", "ab")  # noqa: SIM115
        cmd = [str(exe), "run", "-c", str(cfg_path)]
        async with Collector(
            mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk"
        ) as col:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log)
            try:
                await col.wait_for(lambda: col.contiguous_through() >= 3, "first run batches")
                os.kill(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait, TIMEOUT)
                before = max(col.batches)
                proc = subprocess.Popen(cmd, stdout=log, stderr=log)
                await col.wait_for(
                    lambda: col.contiguous_through() >= before + 3, "second run batches"
                )
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait, TIMEOUT)
            assert proc.returncode == 0
            await col.wait_for(lambda: bool(col.status) and not col.status[-1]["online"], "death")
        col.assert_chain()


def _socat_pair(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    a, b = str(tmp / "ttyA"), str(tmp / "ttyB")
    proc = subprocess.Popen(
        ["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    ready = 0
    while ready < 3:  # two "PTY is" lines, then "starting data transfer loop"
        line = proc.stderr.readline().decode()
        if not line:
            raise RuntimeError("socat exited")
        if "PTY is" in line or "starting data transfer" in line:
            ready += 1
    return proc, a, b


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
async def test_rtu_over_pty_pair_reads_correct_values(tmp_path: Path) -> None:
    from pymodbus.datastore import (
        ModbusDeviceContext,
        ModbusSequentialDataBlock,
        ModbusServerContext,
    )
    from pymodbus.framer import FramerType
    from pymodbus.server import ModbusSerialServer

    from protocols.modbus_codec import encode

    socat, server_end, agent_end = _socat_pair(tmp_path)
    try:
        # Serve the meter simulator's register map, frozen at one instant, as an RTU slave.
        async with PlantSimulator("meter", seed=5) as sim:
            regmap = sim.describe()
            [dev] = [d for d in regmap["devices"] if d["unit"] == 1]
            expected: dict[str, float] = {}
            tables: dict[str, dict[int, int]] = {"input": {}, "holding": {}}
            for r in dev["registers"]:
                value = sim.value(r["name"], unit=1)
                words = encode(value, r["type"], r["byte_order"], scale=r.get("scale", 1.0))
                for i, w in enumerate(words):
                    tables[r["table"]][r["address"] + i] = w
                expected[r["name"]] = value

        def block(t: dict[int, int]) -> ModbusSequentialDataBlock:
            size = max(t, default=0) + 1
            # pymodbus data blocks are 1-based inside: protocol address a is index a + 1.
            return ModbusSequentialDataBlock(1, [t.get(i, 0) for i in range(size)])

        ctx = ModbusServerContext(
            devices={
                7: ModbusDeviceContext(ir=block(tables["input"]), hr=block(tables["holding"]))
            },
            single=False,
        )
        server = ModbusSerialServer(ctx, framer=FramerType.RTU, port=server_end, baudrate=19200)
        serve = asyncio.create_task(server.serve_forever())
        try:
            [device] = devices_from_map({"devices": [dev]}, host="unused", port=1, ranges=False)
            device.pop("host")
            device.pop("port")
            device.update(
                transport="rtu",
                unit_id=7,
                serial={"port": agent_end, "baudrate": 19200},
                timeout=1.0,
            )
            raw = agent_config(tmp_path, 1883, [device])
            cfg = parse_config(raw)
            from agent.check import check_devices

            report = await check_devices(cfg, broker=False)
        finally:
            await server.shutdown()
            serve.cancel()
        assert report["ok"], report
        got = {r["id"]: r["value"] for r in report["devices"][0]["readings"]}
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, rel=1e-6, abs=0.01), name
    finally:
        socat.terminate()
        socat.wait()
