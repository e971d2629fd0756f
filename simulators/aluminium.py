"""An aluminium potline: rectifier, pot controllers, AC metering and metal output.

Physics kept honest where MRV checks it: metal follows Faraday's law at the configured
current efficiency, energy counters are the exact integrals of the power the rectifier and
AC meter report, and each pot controller's anode-effect count and accumulated seconds are
exactly the anode effects the model generated (which ``truth()`` lists).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from protocols.modbus_codec import ByteOrder, DataType

from .model import STEP_MS, Event, EventStream, SteppedModel, noise, step_aligned, step_rng
from .registers import Device, PlantMap, counter, gauge, info_device

__all__ = [
    "CELLS_PER_CONTROLLER",
    "FARADAY_KG_PER_KAH",
    "Potline",
    "PotlineConfig",
    "potline_map",
]

FARADAY_KG_PER_KAH = 0.335573  # electrochemical equivalent of aluminium, kg per kA·h
CELLS_PER_CONTROLLER = 12  # cells per pot-controller unit: 120 registers, one Modbus read
FIRST_CONTROLLER_UNIT = 21
MAX_CELLS = 600
AE_MAX_V = 40.0
CELL_MIN_V, CELL_MAX_V = 3.9, 4.3
BUSBAR_V_PER_KA = 0.002
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class PotlineConfig:
    """What a potline operator would tune; defaults are a modest line, cheap at 15000x."""

    cells: int = 24
    current_ka: float = 420.0
    current_efficiency: float = 0.94
    ae_per_cell_day: float = 0.05
    cutouts_per_cell_day: float = 0.002
    curtailments_per_day: float = 0.25
    rectifier_efficiency: float = 0.972
    auxiliary_kw: float = 350.0
    #: net carbon anode consumed per tonne of metal (prebake lines run about 0.40-0.42 t/t;
    #: a simulator setting, not a guideline factor): drives the anode consumption counter
    net_anode_kg_per_t: float = 410.0

    def __post_init__(self) -> None:
        if not 1 <= self.cells <= MAX_CELLS:
            raise ValueError(f"cells must be 1..{MAX_CELLS}")
        if not 0.5 < self.current_efficiency <= 1.0:
            raise ValueError("current efficiency must be a fraction in (0.5, 1]")
        if not 300 <= self.current_ka <= 600:
            raise ValueError("line current must be 300..600 kA")


class Potline(SteppedModel):
    """A potline model; cells are numbered 1..N as on the pot-room floor."""

    TOTALS = {
        "dc_energy_kwh": "dc_power_kw",
        "ac_energy_kwh": "ac_power_kw",
        "aluminium_kg": "aluminium_kg_per_h",
        "anode_kg": "anode_kg_per_h",
        "current_kah": "line_current_ka",
        "cell_hours": "cells_in_operation",
    }

    def __init__(self, seed: int, origin_ms: int, config: PotlineConfig | None = None) -> None:
        self.config = cfg = config or PotlineConfig()
        super().__init__(seed, origin_ms)
        rng = random.Random(seed)
        self._phase = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
        self._base_v = [rng.uniform(4.0, 4.18) for _ in range(cfg.cells)]
        self.initial = {
            "dc_energy_kwh": rng.uniform(1e8, 5e8),
            "ac_energy_kwh": rng.uniform(1e8, 1.5e9),
            "aluminium_kg": rng.uniform(1e6, 5e7),
            # own generator: the potline's other draws stay as they were
            "anode_kg": random.Random(seed * 7919 + 77).uniform(1e6, 2e7),
        }
        self._ae_initial = [(rng.randint(0, 200), rng.randint(0, 60_000)) for _ in range(cfg.cells)]
        origin = self.origin_ms
        curtail_gap_h = 24 / max(cfg.curtailments_per_day, 1e-9)
        cutout_gap_h = 24 / max(cfg.cutouts_per_cell_day, 1e-9)

        def curtailment(r: random.Random, t: int) -> Event:
            return step_aligned(r, t, curtail_gap_h, (0.3, 3.0), (30.0, 120.0))

        def cutout(r: random.Random, t: int) -> Event:  # a cell out for relining or repair
            return step_aligned(r, t, cutout_gap_h, (12.0, 72.0), (0.0, 0.0))

        self._curtailments = EventStream(seed * 7919 + 1, curtailment, origin)
        self._cutouts = [
            EventStream(seed * 7919 + 1000 + c, cutout, origin) for c in range(cfg.cells)
        ]
        self._anode_effects = [
            EventStream(seed * 7919 + 5000 + c, self._ae_drawer(c), origin)
            for c in range(cfg.cells)
        ]
        self._cell_cache: dict[int, tuple[list[float], dict[str, float]]] = {}
        self._ae_memo: tuple[tuple[int, int], float] = ((-1, -1), 0.0)

    def _ae_drawer(self, c: int) -> Any:
        rate_per_ms = max(self.config.ae_per_cell_day, 1e-9) / _DAY_MS

        def draw(rng: random.Random, after_ms: int) -> Event:
            t = after_ms
            while True:
                start = (t + int(rng.expovariate(rate_per_ms))) // 1000 * 1000 + 1000
                seconds = min(480, 15 + int(rng.expovariate(1 / 70)))
                peak = round(rng.triangular(8.5, AE_MAX_V, 22.0), 2)
                end = start + seconds * 1000
                # a cut-out cell has no bath to short: no anode effects while it is out
                if not self._cutouts[c].overlapping(start, end):
                    return Event(start, end, peak)
                t = end

        return draw

    # -- per-step signals --------------------------------------------------------------
    def _step(self, k: int) -> tuple[list[float], dict[str, float]]:
        hit = self._cell_cache.get(k)
        if hit is not None:
            return hit
        cfg = self.config
        t = self.step_start(k)
        hours = (t - self.origin_ms) / 3_600_000
        drift = 4.0 * math.sin(2 * math.pi * hours / 74.0 + self._phase[0]) + 2.0 * math.sin(
            2 * math.pi * hours / 11.0 + self._phase[1]
        )
        dip = self._curtailments.active(t)
        current = cfg.current_ka + drift + 0.8 * noise(self.seed, 1, k) - (dip.size if dip else 0)
        current = min(max(current, 300.0), 600.0)
        slow = 0.02 * math.sin(2 * math.pi * hours / 30.0 + self._phase[2])
        rng = step_rng(self.seed, 2, k)
        cells: list[float] = []
        for c in range(cfg.cells):
            v = self._base_v[c] + slow + rng.gauss(0.0, 0.015)  # drawn even when cut out
            cells.append(0.0 if self._cutouts[c].active(t) else min(max(v, CELL_MIN_V), CELL_MAX_V))
        in_operation = float(sum(1 for v in cells if v > 0))
        line_v = sum(cells) + BUSBAR_V_PER_KA * current
        dc_kw = current * line_v
        sig = {
            "line_current_ka": current,
            "cells_in_operation": in_operation,
            "line_voltage_v": line_v,
            "dc_power_kw": dc_kw,
            "ac_power_kw": dc_kw / cfg.rectifier_efficiency + cfg.auxiliary_kw,
            "aluminium_kg_per_h": FARADAY_KG_PER_KAH * current * cfg.current_efficiency
            * in_operation,
        }  # fmt: skip
        sig["anode_kg_per_h"] = sig["aluminium_kg_per_h"] * cfg.net_anode_kg_per_t / 1000.0
        if len(self._cell_cache) > 4096:
            self._cell_cache.clear()
        self._cell_cache[k] = (cells, sig)
        return cells, sig

    def signals(self, k: int) -> dict[str, float]:
        return self._step(k)[1]

    def _ae_extra_kwh(self, k: int, until_ms: int) -> float:
        """DC energy anode effects add in step k up to until_ms, above the normal voltage."""
        a = self.step_start(k)
        if until_ms <= a:
            return 0.0
        if self._ae_memo[0] == (k, until_ms):
            return self._ae_memo[1]
        cells, sig = self._step(k)
        extra = 0.0
        for c in range(self.config.cells):
            for ev in self._anode_effects[c].overlapping(a, until_ms):
                overlap = min(ev.end_ms, until_ms) - max(ev.start_ms, a)
                extra += (ev.size - cells[c]) * overlap / 3_600_000
        extra *= sig["line_current_ka"]
        self._ae_memo = ((k, until_ms), extra)
        return extra

    def step_increment(self, total: str, source: str, k: int, sig: dict[str, float]) -> float:
        base = super().step_increment(total, source, k, sig)
        return base + self._ae_energy(total, k, self.step_start(k) + STEP_MS)

    def partial_increment(
        self, total: str, source: str, k: int, sig: dict[str, float], t_ms: int
    ) -> float:
        base = super().partial_increment(total, source, k, sig, t_ms)
        return base + self._ae_energy(total, k, t_ms)

    def _ae_energy(self, total: str, k: int, until_ms: int) -> float:
        if total == "dc_energy_kwh":
            return self._ae_extra_kwh(k, until_ms)
        if total == "ac_energy_kwh":
            return self._ae_extra_kwh(k, until_ms) / self.config.rectifier_efficiency
        return 0.0

    # -- instantaneous values at an instant ---------------------------------------------
    def cell_voltage(self, c: int, t_ms: int) -> float:
        """Cell c (0-based) voltage: normal, anode effect plateau, or 0 when cut out."""
        cells, _ = self._step(self.step_of(t_ms))
        if cells[c] > 0 and (ev := self._anode_effects[c].active(t_ms)) is not None:
            return ev.size
        return cells[c]

    def value(self, name: str, t_ms: int) -> float:
        t_ms = max(t_ms, self.origin_ms)
        if name.startswith("cell."):
            _, field, num = name.split(".")
            c = int(num) - 1
            if field == "voltage_v":
                return self.cell_voltage(c, t_ms)
            if field == "in_operation":
                return 1.0 if self._step(self.step_of(t_ms))[0][c] > 0 else 0.0
            started = self._anode_effects[c].started_by(t_ms)
            if field == "ae_count":
                return float(self._ae_initial[c][0] + len(started))
            if field == "ae_seconds":
                secs = sum(min(t_ms, ev.end_ms) - ev.start_ms for ev in started) / 1000
                return self._ae_initial[c][1] + secs
            raise KeyError(name)
        if name in ("line_voltage_v", "dc_power_kw", "ac_power_kw"):
            cells, sig = self._step(self.step_of(t_ms))
            line_v = sig["line_voltage_v"] + sum(
                self.cell_voltage(c, t_ms) - cells[c] for c in range(self.config.cells)
            )
            dc_kw = sig["line_current_ka"] * line_v
            return {
                "line_voltage_v": line_v,
                "dc_power_kw": dc_kw,
                "ac_power_kw": dc_kw / self.config.rectifier_efficiency + self.config.auxiliary_kw,
            }[name]
        return super().value(name, t_ms)

    def anode_effects(self, t_ms: int) -> list[dict[str, Any]]:
        """Every anode effect started by t_ms: cell (1-based), start, end, peak voltage."""
        out = [
            {"cell": c + 1, "start_ms": ev.start_ms, "end_ms": ev.end_ms, "peak_v": ev.size}
            for c in range(self.config.cells)
            for ev in self._anode_effects[c].started_by(t_ms)
        ]
        out.sort(key=lambda a: (a["start_ms"], a["cell"]))
        return out

    def truth(self, t_ms: int) -> dict[str, Any]:
        t_ms = max(t_ms, self.origin_ms)
        base = super().truth(t_ms)
        totals = base["totals"]
        assert isinstance(totals, dict)
        aes = self.anode_effects(t_ms)
        return {
            **base,
            "cells": self.config.cells,
            "current_efficiency": self.config.current_efficiency,
            "aluminium_kg": totals["aluminium_kg"],
            "dc_energy_kwh": totals["dc_energy_kwh"],
            "ac_energy_kwh": totals["ac_energy_kwh"],
            "operating_cell_days": totals["cell_hours"] / 24,
            "anode_effect_count": len(aes),
            "anode_effect_seconds": sum(min(t_ms, a["end_ms"]) - a["start_ms"] for a in aes) / 1000,
            "anode_effects": aes,
        }


def potline_map(cells: int) -> PlantMap:
    """Unit ids and registers of a potline with ``cells`` cells."""
    if not 1 <= cells <= MAX_CELLS:
        raise ValueError(f"cells must be 1..{MAX_CELLS}")
    U32, U64, U16 = DataType.UINT32, DataType.UINT64, DataType.UINT16
    max_line_v = cells * AE_MAX_V + BUSBAR_V_PER_KA * 600
    max_dc_kw = 600 * max_line_v
    devices = [
        info_device(),
        Device(10, "rectifier", (
            gauge("line_current_ka", "input", 0, ByteOrder.CDAB, "kA", 300, 600,
                  "line_current_ka"),
            gauge("line_voltage_v", "input", 2, ByteOrder.CDAB, "V", 0, max_line_v,
                  "line_voltage_v"),
            gauge("dc_power_kw", "input", 4, ByteOrder.CDAB, "kW", 0, max_dc_kw, "dc_power_kw"),
            counter("dc_energy_kwh", "holding", 0, U64, ByteOrder.CDAB, "kWh", 0.01,
                    "dc_energy_kwh"),
        )),
        Device(11, "ac_meter", (
            gauge("ac_power_kw", "input", 0, ByteOrder.ABCD, "kW", 0, max_dc_kw / 0.9 + 1000,
                  "ac_power_kw"),
            counter("ac_energy_kwh", "holding", 0, U32, ByteOrder.BADC, "kWh", 1.0,
                    "ac_energy_kwh"),
        )),
        Device(12, "potline_plc", (
            gauge("cells_in_operation", "holding", 0, ByteOrder.ABCD, "cells", 0, cells,
                  "cells_in_operation", dtype=U16),
            counter("aluminium_output_kg", "holding", 2, U32, ByteOrder.DCBA, "kg", 0.1,
                    "aluminium_kg"),
            counter("anode_consumed_kg", "holding", 4, U32, ByteOrder.DCBA, "kg", 0.1,
                    "anode_kg"),
        )),
    ]  # fmt: skip
    for g in range(math.ceil(cells / CELLS_PER_CONTROLLER)):
        regs = []
        for i in range(CELLS_PER_CONTROLLER):
            n = g * CELLS_PER_CONTROLLER + i + 1
            if n > cells:
                break
            a = i * 10
            p = f"cell_{n:03d}"
            regs += [
                gauge(f"{p}_voltage_v", "holding", a, ByteOrder.ABCD, "V", 0, AE_MAX_V,
                      f"cell.voltage_v.{n}"),
                counter(f"{p}_ae_count", "holding", a + 2, U32, ByteOrder.DCBA, "count", 1.0,
                        f"cell.ae_count.{n}"),
                counter(f"{p}_ae_seconds", "holding", a + 4, U32, ByteOrder.DCBA, "s", 1.0,
                        f"cell.ae_seconds.{n}"),
                gauge(f"{p}_in_operation", "holding", a + 6, ByteOrder.ABCD, "flag", 0, 1,
                      f"cell.in_operation.{n}", dtype=U16),
            ]  # fmt: skip
        devices.append(Device(FIRST_CONTROLLER_UNIT + g, f"pot_controller_{g + 1}", tuple(regs)))
    return PlantMap("aluminium", tuple(devices))
