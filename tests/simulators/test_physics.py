"""Physics over a simulated day, measured the way an agent measures: through Modbus.

The plant clock is a ManualClock stepped one plant minute at a time, so the rates read at
each minute are exactly the rates the simulator integrates; no wall-clock timing involved.
"""

from __future__ import annotations

import pytest

from simulators import ManualClock, PlantSimulator
from simulators.aluminium import FARADAY_KG_PER_KAH

from .helpers import START_MS, client, read_device

MINUTE_MS = 60_000
DAY_MINUTES = 24 * 60


async def test_potline_day_faraday_energy_and_anode_effects() -> None:
    ce = 0.935
    clock = ManualClock(START_MS)
    sim = PlantSimulator(
        "aluminium", clock=clock, seed=5, cells=24, current_efficiency=ce, ae_per_cell_day=1.0
    )
    async with sim:
        c = client(sim.port)
        await c.connect()
        rectifier, ac_meter, plc = (sim.map.device(u) for u in (10, 11, 12))
        controllers = [d for d in sim.map.devices if d.unit >= 21]

        async def counters() -> dict[str, float]:
            out: dict[str, float] = {}
            for d in (rectifier, ac_meter, plc, *controllers):
                out.update(await read_device(c, d))
            return out

        first = await counters()
        faraday_kg = dc_kwh = ac_kwh = 0.0
        for minute in range(DAY_MINUTES):
            clock.set_ms(START_MS + minute * MINUTE_MS + MINUTE_MS // 2)  # mid-minute sample
            r = await read_device(c, rectifier)
            a = await read_device(c, ac_meter)
            p = await read_device(c, plc)
            hours = 1 / 60
            faraday_kg += FARADAY_KG_PER_KAH * r["line_current_ka"] * p["cells_in_operation"] * ce * hours  # fmt: skip
            dc_kwh += r["dc_power_kw"] * hours
            ac_kwh += a["ac_power_kw"] * hours
        clock.set_ms(START_MS + DAY_MINUTES * MINUTE_MS)
        last = await counters()
        truth = sim.truth()
        c.close()

    metal_kg = last["aluminium_output_kg"] - first["aluminium_output_kg"]
    assert metal_kg == pytest.approx(faraday_kg, rel=0.005)
    assert metal_kg == pytest.approx(truth["aluminium_kg"], abs=0.2)  # 0.1 kg resolution
    dc = last["dc_energy_kwh"] - first["dc_energy_kwh"]
    ac = last["ac_energy_kwh"] - first["ac_energy_kwh"]
    assert dc == pytest.approx(dc_kwh, rel=0.005)
    assert ac == pytest.approx(ac_kwh, rel=0.005)
    assert dc == pytest.approx(truth["dc_energy_kwh"], abs=0.02)
    assert ac < truth["ac_energy_kwh"] + 1 and ac > truth["ac_energy_kwh"] - 1

    # pot-controller counters move by exactly the anode effects the simulator generated
    aes = truth["anode_effects"]
    assert len(aes) >= 5, "expected a day with anode effects at 1 per cell-day"
    assert truth["anode_effect_count"] == len(aes)
    for n in range(1, 25):
        mine = [e for e in aes if e["cell"] == n]
        p = f"cell_{n:03d}"
        assert last[f"{p}_ae_count"] - first[f"{p}_ae_count"] == len(mine)
        seconds = sum((min(e["end_ms"], truth["t_ms"]) - e["start_ms"]) / 1000 for e in mine)
        assert last[f"{p}_ae_seconds"] - first[f"{p}_ae_seconds"] == pytest.approx(seconds, abs=1)
    for e in aes:
        assert 8.0 <= e["peak_v"] <= 40.0
        assert 10_000 <= e["end_ms"] - e["start_ms"] <= 600_000


async def test_potline_anode_effect_is_visible_as_cell_voltage() -> None:
    """An agent polling a cell's voltage sees the anode effect's plateau and its end."""
    clock = ManualClock(START_MS)
    async with PlantSimulator("aluminium", clock=clock, seed=5, ae_per_cell_day=1.0) as sim:
        ae = sim.truth(START_MS + 86_400_000)["anode_effects"][0]
        unit = 21 + (ae["cell"] - 1) // 12
        name = f"cell_{ae['cell']:03d}_voltage_v"
        c = client(sim.port)
        await c.connect()
        seen = []
        for t in (ae["start_ms"] - 1, ae["start_ms"], ae["end_ms"] - 1, ae["end_ms"]):
            clock.set_ms(t)
            seen.append((await read_device(c, sim.map.device(unit)))[name])
        c.close()
    assert seen[0] < 4.5 and seen[3] < 4.5
    assert seen[1] == pytest.approx(ae["peak_v"], rel=1e-6) == seen[2]


RATE_PAIRS = {
    "cement": [
        (2, "clinker_total_t", 2, "clinker_rate_tph", 1.0),
        (4, "coal_kiln_total_t", 4, "coal_kiln_tph", 1.0),
        (4, "coal_calciner_total_t", 4, "coal_calciner_tph", 1.0),
        (5, "energy_import_kwh", 5, "active_power_kw", 1.0),
    ],
    "steel": [
        (2, "crude_steel_total_t", 2, "crude_steel_rate_tph", 1.0),
        (3, "coke_total_t", 3, "coke_rate_tph", 1.0),
        (3, "pci_coal_total_t", 3, "pci_rate_tph", 1.0),
        (4, "bfg_total_nm3", 4, "bfg_flow_nm3h", 1.0),
        (4, "cog_total_nm3", 4, "cog_flow_nm3h", 1.0),
        (5, "energy_import_kwh", 5, "active_power_kw", 1.0),
    ],
    "meter": [(1, "import_energy_kwh", 1, "total_power_w", 0.001)],
}


@pytest.mark.parametrize("kind", sorted(RATE_PAIRS))
async def test_totals_are_the_integral_of_the_served_rates(kind: str) -> None:
    """Counters read over Modbus move by the integral of the rates the same plant serves."""
    clock = ManualClock(START_MS)
    async with PlantSimulator(kind, clock=clock, seed=9) as sim:
        c = client(sim.port)
        await c.connect()
        pairs = RATE_PAIRS[kind]
        first = {name: (await read_device(c, sim.map.device(u)))[name] for u, name, *_ in pairs}
        integral = dict.fromkeys(first, 0.0)
        rate_units = sorted({u for _, _, u, _, _ in pairs})
        for minute in range(DAY_MINUTES):
            clock.set_ms(START_MS + minute * MINUTE_MS + MINUTE_MS // 2)
            rates: dict[str, float] = {}
            for u in rate_units:
                rates.update(await read_device(c, sim.map.device(u)))
            for _, total, _, rate, factor in pairs:
                integral[total] += rates[rate] * factor / 60
        clock.set_ms(START_MS + DAY_MINUTES * MINUTE_MS)
        last = {name: (await read_device(c, sim.map.device(u)))[name] for u, name, *_ in pairs}
        c.close()
    for _, total, *_ in pairs:
        moved = last[total] - first[total]
        assert moved > 0, total
        assert moved == pytest.approx(integral[total], rel=0.005), total
