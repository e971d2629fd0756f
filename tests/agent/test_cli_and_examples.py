"""The command line (check, probe, run's config errors) and the aluminium example end to end
on a simulated clock running 60x faster than the wall clock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from agent.config import parse_config
from agent.core import Agent
from simulators.plant import PlantSimulator
from tests.agent.support import Collector, agent_config, write_yaml
from tests.support.servers import Mosquitto

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "agent"
MRV_AGENT = str(Path(sys.executable).parent / "mrv-agent")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MRV_AGENT, *args], capture_output=True, text=True, timeout=60)


def test_run_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "a.yaml", {"site": "s", "agent": "a", "data_dir": "d"})
    res = _run("run", "-c", str(path))
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: {path}: key_file: required field is missing"


def test_a_config_for_the_old_unsigned_ack_is_a_config_error(tmp_path: Path) -> None:
    """No collector_key: the agent cannot trust any ack, so it must not start silently."""
    raw = agent_config(tmp_path, 1883, [])
    raw.pop("collector_key")
    raw["devices"] = [
        {"name": "m", "host": "127.0.0.1", "port": 5020,
         "points": [{"id": "p0", "table": "holding", "address": 0, "type": "UINT16"}]}
    ]  # fmt: skip
    path = write_yaml(tmp_path / "old.yaml", raw)
    res = _run("run", "-c", str(path))
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: collector_key: missing; acks are signed")
    assert "collector.pub.jwk" in line
    raw["collector_key"] = str(tmp_path / "nowhere.jwk")
    res = _run("run", "-c", str(write_yaml(tmp_path / "gone.yaml", raw)))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "collector_key: public key file" in res.stderr and "not found" in res.stderr


async def test_check_and_probe_against_a_simulator(tmp_path: Path) -> None:
    async with PlantSimulator("meter", seed=4) as sim:
        from agent.regmap import devices_from_map

        raw = agent_config(
            tmp_path, 1, devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port)
        )
        path = write_yaml(tmp_path / "agent.yaml", raw)
        import asyncio

        res = await asyncio.to_thread(_run, "check", "-c", str(path), "--json", "--no-broker")
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["ok"] and len(report["devices"]) == 2
        volts = {r["id"]: r["value"] for d in report["devices"] for r in d["readings"]}
        assert 200 <= volts["l1_voltage_v"] <= 260
        res = await asyncio.to_thread(
            _run, "probe", "--port", str(sim.port), "--unit", "1", "--table", "input",
            "--address", "0", "--count", "4", "--json",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        probe = json.loads(res.stdout)
        assert len(probe["registers"]) == 4
        f32 = [
            d["value"] for d in probe["decodings"]
            if d["address"] == 0 and d["type"] == "FLOAT32" and d["byte_order"] == "ABCD"
        ]  # fmt: skip
        assert f32 and 200 <= f32[0] <= 260
        kinds = {(d["type"], d["byte_order"]) for d in probe["decodings"]}
        assert ("FLOAT64", "DCBA") in kinds and ("UINT16", "BADC") in kinds
        # The broker is not running: check says so and exits 1.
        res = await asyncio.to_thread(_run, "check", "-c", str(path), "--json")
        assert res.returncode == 1 and json.loads(res.stdout)["broker"]["ok"] is False


async def test_aluminium_example_yields_key_parameters(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    start_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    anchor = time.time()
    async with PlantSimulator(
        "aluminium", speed=60, start_ms=start_ms, anchor_wall_s=anchor, ae_per_cell_day=20
    ) as sim:
        raw = yaml.safe_load((EXAMPLES / "aluminium.yaml").read_text())
        base = agent_config(tmp_path, mosquitto.port, [])
        for key in ("key_file", "collector_key", "data_dir", "broker"):
            raw[key] = base[key]
        for dev in raw["devices"]:
            dev["port"] = sim.port
        raw["clock"] = {
            "source": "simulated",
            "start": start_ms,
            "speed": 60,
            "anchor_wall": anchor,
        }
        raw["publish"]["interval"] = 60  # plant seconds: one batch per wall second
        raw["poll_groups"]["default"]["interval"] = 5
        cfg = parse_config(raw)
        async with (
            Collector(
                mosquitto.port, "demo_plant", "aluminium_agent", tmp_path / "keys/agent.pub.jwk"
            ) as col,
            Agent(cfg),
        ):
            want = {"al_production_faraday_t", "ae_minutes", "operating_cell_days", "pfc_co2e_t",
                    "line_charge_ka_h", "al_production_t", "cell_voltage_avg_v"}  # fmt: skip

            def good_ids() -> set[str]:
                return {r.id for r in col.readings() if r.quality == "good"}

            await col.wait_for(lambda: want <= good_ids(), "derived key parameters")
        col.assert_chain()
        rs = col.readings()
        # Plant time: readings carry 2026 timestamps although the wall clock is elsewhere.
        assert all(start_ms <= r.ts < start_ms + 86_400_000 for r in rs)
        charge = {r.ts: r.value for r in rs if r.id == "line_charge_ka_h"}
        for r in rs:
            if r.id == "al_production_faraday_t" and r.quality == "good":
                # Faraday: 0.335573 kg/kA·h x charge x CE 0.94 x cells (at most 24) / 1000.
                per_cell = 0.335573 * charge[r.ts] * 0.94 / 1000
                assert 0 < r.value <= per_cell * 24 + 1e-9
                assert round(r.value / per_cell, 6).is_integer()
