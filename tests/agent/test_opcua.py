"""The OPC UA driver against real asyncua servers the tests start on 127.0.0.1.

The server is the OPC UA plant simulator (the same plant model the Modbus simulator serves);
the agent side is the real driver behind the poller, ``mrv-agent check`` and ``mrv-agent run``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.drivers import DeviceState, driver_for
from agent.poller import DevicePoll
from agent.regmap import devices_from_map
from simulators.opcua_server import OpcuaPlantServer, describe_nodes
from simulators.plant import PlantSimulator
from tests.agent.support import TIMEOUT, Collector, agent_config, write_yaml
from tests.support.servers import Mosquitto

MRV_AGENT = str(Path(sys.executable).parent / "mrv-agent")


def _points(plant: PlantSimulator, device: str) -> list[dict[str, Any]]:
    return [
        {"id": n["name"], "node_id": n["node_id"], "min": n["min"], "max": n["max"]}
        for n in describe_nodes(plant.describe())
        if n["device"] == device
    ]


def _opcua_device(url: str, points: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "kiln_dcs",
        "transport": "opcua",
        "endpoint": url,
        "timeout": 2.0,
        "retries": 0,
        "backoff": {"initial": 0.1, "max": 0.2},
        "points": points,
        **extra,
    }


def _device(tmp: Path, dev: dict[str, Any]) -> Any:
    return parse_config(agent_config(tmp, 1, [dev])).devices[0]


async def _poll(dp: DevicePoll, link: Any) -> list[Any]:
    out: list[Any] = []
    await dp.poll(link, int(time.time() * 1000), out)
    return out


async def test_reads_quality_from_status_codes_and_a_bad_node_id(tmp_path: Path) -> None:
    plant = PlantSimulator("cement", seed=3)
    async with OpcuaPlantServer(plant) as srv:
        points = _points(plant, "clinker_weigh_feeder")
        points.append({"id": "missing_tag", "node_id": "ns=2;s=no.such.node"})
        dev = _device(tmp_path, _opcua_device(srv.endpoint, points, timestamps="source"))
        driver = driver_for("opcua")
        link = driver.link(dev)
        try:
            dp = DevicePoll(dev, driver.plan(dev, dev.points), DeviceState())
            out = await _poll(dp, link)
        finally:
            link.close()
    by_id = {r[0]: r for r in out}
    assert set(by_id) == {p["id"] for p in points}
    assert by_id["missing_tag"][2:5] == (None, "bad", "opcua:BadNodeIdUnknown")
    rate = by_id["clinker_rate_tph"]
    assert rate[3] == "good" and rate[4] is None
    spec = next(p for p in points if p["id"] == "clinker_rate_tph")
    assert spec["min"] <= rate[2] <= spec["max"]
    # timestamps: source -> the simulator's SourceTimestamp, which is plant time
    assert abs(rate[1] - plant.now_ms()) < 60_000


@pytest.mark.parametrize("mode", ["read", "subscribe"])
async def test_a_server_restart_is_bad_readings_then_a_new_session(
    tmp_path: Path, mode: str
) -> None:
    plant = PlantSimulator("cement", seed=3)
    srv = OpcuaPlantServer(plant)
    await srv.start()
    points = _points(plant, "clinker_weigh_feeder")[:2]
    dev = _device(tmp_path, _opcua_device(srv.endpoint, points, mode=mode, publishing_interval=0.1))
    driver = driver_for("opcua")
    link = driver.link(dev)
    dp = DevicePoll(dev, driver.plan(dev, dev.points), DeviceState())
    try:
        assert {r[3] for r in await _poll(dp, link)} == {"good"}
        await srv.stop()
        deadline = time.monotonic() + TIMEOUT
        while True:
            down = await _poll(dp, link)
            if {r[3] for r in down} == {"bad"}:
                break
            # subscribe: the last reported values until the client notices the loss
            assert mode == "subscribe" and time.monotonic() < deadline, down
            await asyncio.sleep(0.05)
        assert {r[4] for r in down} <= {"connection", "timeout"}
        assert dp.state.failures >= 1 and not link.connected
        await srv.start()  # same port, a new server process state
        deadline = time.monotonic() + TIMEOUT
        while True:  # back-off first (bad readings at once), then a new session
            out = await _poll(dp, link)
            if {r[3] for r in out} == {"good"}:
                break
            assert time.monotonic() < deadline, out
            await asyncio.sleep(0.05)
        assert dp.state.failures == 0 and link.connected
    finally:
        link.close()
        await srv.stop()


async def test_subscribe_mode_follows_the_server(tmp_path: Path) -> None:
    plant = PlantSimulator("cement", seed=3, speed=3600)
    async with OpcuaPlantServer(plant, update_s=0.05) as srv:
        points = _points(plant, "clinker_weigh_feeder")
        points.append({"id": "missing_tag", "node_id": "ns=2;s=no.such.node"})
        dev = _device(
            tmp_path,
            _opcua_device(srv.endpoint, points, mode="subscribe", publishing_interval=0.05),
        )
        driver = driver_for("opcua")
        link = driver.link(dev)
        dp = DevicePoll(dev, driver.plan(dev, dev.points), DeviceState())
        try:
            first = {r[0]: r for r in await _poll(dp, link)}  # a Read, then monitored items
            deadline = time.monotonic() + TIMEOUT
            while True:  # later polls take what the server reported
                later = {r[0]: r for r in await _poll(dp, link)}
                if later["clinker_total_t"][2] > first["clinker_total_t"][2]:
                    break
                assert time.monotonic() < deadline, later
                await asyncio.sleep(0.05)
        finally:
            link.close()
    assert later["clinker_total_t"][3] == "good"
    assert later["missing_tag"][2:5] == (None, "bad", "opcua:BadNodeIdUnknown")


async def test_basic256sha256_with_certificates(tmp_path: Path) -> None:
    res = await asyncio.to_thread(
        subprocess.run, [MRV_AGENT, "opcua-cert", "--out", str(tmp_path / "agent")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    cert, key = tmp_path / "agent/agent-cert.der", tmp_path / "agent/agent-key.pem"
    assert key.stat().st_mode & 0o077 == 0
    plant = PlantSimulator("cement", seed=3)
    async with OpcuaPlantServer(
        plant, security="basic256sha256", cert_dir=tmp_path / "server"
    ) as srv:
        points = _points(plant, "clinker_weigh_feeder")[:1]
        secure = {"policy": "Basic256Sha256", "certificate": str(cert), "private_key": str(key)}
        driver = driver_for("opcua")
        for security, want in ((secure, "good"), ({"policy": "None"}, "bad")):
            dev = _device(tmp_path, _opcua_device(srv.endpoint, points, security=security))
            link = driver.link(dev)
            try:
                out = await _poll(
                    DevicePoll(dev, driver.plan(dev, dev.points), DeviceState()), link
                )
            finally:
                link.close()
            assert out[0][3] == want, (security, out)
        # The agent refuses a secure policy without its certificate, naming the field.
        try:
            _device(
                tmp_path, _opcua_device(srv.endpoint, points, security={"policy": "Basic256Sha256"})
            )
        except Exception as exc:
            assert "security: policy Basic256Sha256 needs certificate and private_key" in str(exc)
        else:
            raise AssertionError("accepted Basic256Sha256 without a certificate")


async def test_probe_reads_nodes_with_status(tmp_path: Path) -> None:
    plant = PlantSimulator("cement", seed=3)
    async with OpcuaPlantServer(plant) as srv:
        res = await asyncio.to_thread(
            subprocess.run,
            [MRV_AGENT, "probe", "--endpoint", srv.endpoint, "--node",
             "ns=2;s=clinker_weigh_feeder.clinker_rate_tph", "--node", "ns=2;s=nope", "--json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert res.returncode == 0, res.stderr
    nodes = json.loads(res.stdout)["nodes"]
    assert [n["status"] for n in nodes] == ["Good", "BadNodeIdUnknown"]
    assert nodes[0]["type"] == "Double" and isinstance(nodes[0]["value"], float)
    bad = subprocess.run(
        [MRV_AGENT, "probe", "--endpoint", "opc.tcp://127.0.0.1:1", "--node", "ns=2;x=1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "not an OPC UA node id" in bad.stderr


async def test_check_and_run_read_opcua_and_modbus_in_one_config(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    kiln = PlantSimulator("cement", seed=3)
    async with OpcuaPlantServer(kiln) as srv, PlantSimulator("meter", seed=4) as meter:
        modbus = devices_from_map(meter.describe(), host="127.0.0.1", port=meter.port)
        opcua = _opcua_device(srv.endpoint, _points(kiln, "clinker_weigh_feeder"))
        raw = agent_config(tmp_path, mosquitto.port, [opcua, *modbus])
        path = write_yaml(tmp_path / "agent.yaml", raw)

        res = await asyncio.to_thread(
            subprocess.run, [MRV_AGENT, "check", "-c", str(path), "--json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        report = json.loads(res.stdout)
        assert report["ok"] and report["broker"]["ok"]
        drivers = {d["device"]: d["driver"] for d in report["devices"]}
        assert drivers["kiln_dcs"] == "opcua" and set(drivers.values()) == {"opcua", "modbus"}

        opcua_ids = {p["id"] for p in opcua["points"]}
        modbus_ids = {p["id"] for d in modbus for p in d["points"]}
        async with Collector(
            mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk"
        ) as col:
            proc = await asyncio.create_subprocess_exec(
                MRV_AGENT, "run", "-c", str(path),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:

                def good_ids() -> set[str]:
                    return {r.id for r in col.readings() if r.quality == "good"}

                await col.wait_for(
                    lambda: opcua_ids | modbus_ids <= good_ids(), "good OPC UA and Modbus readings"
                )
            finally:
                proc.terminate()
                _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
            assert proc.returncode == 0, err.decode()
        col.assert_chain()
        birth = [r for r in col.readings() if r.id in opcua_ids]
        assert birth


def test_a_modbus_only_agent_never_imports_asyncua(tmp_path: Path) -> None:
    """Memory: the OPC UA driver (and asyncua) load only when a device uses them."""
    dev = {
        "name": "m",
        "host": "127.0.0.1",
        "port": 1,
        "points": [{"id": "p", "table": "holding", "address": 0}],
    }
    path = write_yaml(tmp_path / "agent.yaml", agent_config(tmp_path, 1, [dev]))
    code = (
        "import sys; from agent.config import load_config; from agent.core import Agent; "
        "from agent.poller import build_pollers; cfg = load_config(sys.argv[1]); "
        "build_pollers(cfg.devices, {'default': 1.0}, None, print, {}); "
        "print('asyncua' in sys.modules, 'agent.drivers.modbus' in sys.modules)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert res.stdout.split() == ["False", "True"], res.stderr


async def test_the_opcua_example_reads_the_opcua_simulator(tmp_path: Path) -> None:
    import yaml

    from agent.check import check_devices

    raw = yaml.safe_load((Path(__file__).parents[2] / "config/agent/opcua.yaml").read_text())
    plant = PlantSimulator("cement", seed=3)
    async with OpcuaPlantServer(plant) as srv:
        raw["devices"][0]["endpoint"] = srv.endpoint
        base = agent_config(tmp_path, 1, [])
        raw.update(key_file=base["key_file"], data_dir=base["data_dir"])
        report = await check_devices(parse_config(raw), broker=False)
    readings = report["devices"][0]["readings"]
    assert report["ok"], readings
    assert {r["quality"] for r in readings} == {"good"} and len(readings) == 6


def test_quality_and_time_from_data_values() -> None:
    """Uncertain and bad status codes, and source timestamps that do not advance."""
    from datetime import UTC, datetime

    from asyncua import ua

    from agent.drivers.opcua import NodePoint, NodeRequest, decode_values, quality_of

    assert quality_of(ua.StatusCode(ua.StatusCodes.Good)) == ("good", None)
    assert quality_of(ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)) == (
        "uncertain",
        "opcua:UncertainLastUsableValue",
    )
    assert quality_of(ua.StatusCode(ua.StatusCodes.BadSensorFailure)) == (
        "bad",
        "opcua:BadSensorFailure",
    )
    from protocols.reasons import describe_reason

    assert describe_reason("opcua:BadNodeIdUnknown").startswith("OPC UA status BadNodeIdUnknown:")
    pts = [NodePoint(f"p{i}", f"ns=2;s={i}", 2.0, 1.0, None, 10.0, None) for i in range(4)]
    req = NodeRequest(pts, source_timestamps=True)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ms0 = int(t0.timestamp() * 1000)

    def dv(v: Any, code: int = ua.StatusCodes.Good) -> ua.DataValue:
        return ua.DataValue(ua.Variant(v), ua.StatusCode(code), SourceTimestamp=t0)

    values = [
        dv(3.0),
        dv(3.0, ua.StatusCodes.UncertainLastUsableValue),
        dv(7.0),
        dv("text"),
    ]
    out: list[Any] = []
    decode_values(out, req, values, ms0 + 60_000, DeviceState())
    assert out == [
        ("p0", ms0, 7.0, "good", None, None),  # 3 x 2 + 1, at the source time
        ("p1", ms0, 7.0, "uncertain", "opcua:UncertainLastUsableValue", None),
        ("p2", ms0, 15.0, "uncertain", "out_of_range", None),  # above max 10
        ("p3", ms0, None, "bad", "not_numeric", None),
    ]
    # the next poll sees the same SourceTimestamp: the value holds at the poll slot
    out2: list[Any] = []
    decode_values(out2, req, values[:1] * 4, ms0 + 120_000, DeviceState())
    assert {r[1] for r in out2} == {ms0 + 120_000}
