"""Every register `describe` lists is served, inside its documented range, to any client."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from simulators import KINDS, ManualClock, PlantSimulator, describe
from simulators.registers import Register

from .helpers import START_MS, client, mbpoll_read, read_device, read_raw, spans

HOUR_MS = 3_600_000
# plant instants to look at: the start, within the first day, a few days and weeks on
OFFSETS_MS = [0, 3 * HOUR_MS + 17_000, 26 * HOUR_MS + 59_999, 5 * 24 * HOUR_MS, 17 * 24 * HOUR_MS]


def _sim(kind: str, clock: ManualClock) -> PlantSimulator:
    # many anode effects and cells spread over three pot controllers (one partly filled)
    return PlantSimulator(kind, clock=clock, seed=11, cells=30, ae_per_cell_day=3.0)


def _within(reg: Register, value: float) -> bool:
    return reg.min <= value <= reg.max and math.isfinite(value)


@pytest.mark.parametrize("kind", KINDS)
async def test_every_register_in_range_via_pymodbus(kind: str) -> None:
    clock = ManualClock(START_MS)
    async with _sim(kind, clock) as sim:
        c = client(sim.port)
        await c.connect()
        instants = [START_MS + o for o in OFFSETS_MS]
        if kind == "aluminium":  # also look right inside anode effects
            aes = sim.truth(START_MS + 3 * 24 * HOUR_MS)["anode_effects"]
            assert aes, "the potline generated no anode effects"
            instants += [a["start_ms"] + 1000 for a in aes[:3]]
        seen_ae = False
        for t in sorted(instants):
            clock.set_ms(t)
            for device in sim.map.devices:
                values = await read_device(c, device)
                assert set(values) == {r.name for r in device.registers}
                for reg in device.registers:
                    v = values[reg.name]
                    assert _within(reg, v), f"{kind} unit {device.unit} {reg.name}={v} at {t}"
                    expected = sim.value(reg.name, device.unit)
                    if reg.name.endswith("_voltage_v") and v > 8:
                        seen_ae = True
                    if reg.wrap is not None:  # integer: exactly the model value, rounded
                        assert v == pytest.approx(round(expected / reg.scale) * reg.scale)
                    else:  # float32 carries about 7 significant digits
                        assert v == pytest.approx(expected, rel=1e-6, abs=1e-6)
        c.close()
        if kind == "aluminium":
            assert seen_ae, "no cell voltage inside an anode effect was served"


@pytest.mark.parametrize("kind", KINDS)
async def test_every_register_readable_by_mbpoll(kind: str) -> None:
    """Debian's mbpoll (a foreign client) reads exactly what pymodbus reads."""
    clock = ManualClock(START_MS + 7 * HOUR_MS)
    async with _sim(kind, clock) as sim:
        c = client(sim.port)
        await c.connect()
        for device in sim.map.devices:
            for table in ("holding", "input"):
                for address, count in spans(device.table(table)):
                    ours = await read_raw(c, device.unit, table, address, count)
                    theirs = await mbpoll_read(sim.port, device.unit, table, address, count)
                    assert theirs == ours, f"unit {device.unit} {table} {address}+{count}"
        c.close()


@pytest.mark.parametrize("kind", KINDS)
def test_describe_cli_matches_the_served_map(kind: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "describe", kind, "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data == describe(kind)
    assert data["kind"] == kind
    units = [d["unit"] for d in data["devices"]]
    assert len(units) == len(set(units)) >= 2  # several unit ids on one port
    keys = {"name", "table", "address", "type", "byte_order", "unit", "min", "max"}
    for dev in data["devices"]:
        for reg in dev["registers"]:
            assert keys <= set(reg)
            assert reg["min"] <= reg["max"]


def test_counters_use_several_types_and_byte_orders() -> None:
    """The codec gets exercised: UINT32 and UINT64 counters, scaled, in different orders."""
    seen: set[tuple[str, str]] = set()
    for kind in KINDS:
        for dev in describe(kind)["devices"]:
            for reg in dev["registers"]:
                if reg["type"] in ("UINT32", "UINT64") and reg["scale"] != 1.0:
                    seen.add((reg["type"], reg["byte_order"]))
    assert {t for t, _ in seen} == {"UINT32", "UINT64"}
    assert {o for _, o in seen} == {"ABCD", "BADC", "CDAB", "DCBA"}


@pytest.mark.parametrize("kind", KINDS)
def test_checked_in_register_maps_are_current(kind: str) -> None:
    """config/simulators/KIND.describe.json is what agent configs are written from."""
    path = Path(__file__).parents[2] / "config" / "simulators" / f"{kind}.describe.json"
    assert json.loads(path.read_text()) == describe(kind), (
        f"regenerate with: mrv-sim describe {kind} --json > {path}"
    )
