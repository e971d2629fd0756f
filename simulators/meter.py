"""A three-phase DIN-rail energy meter, register map after the Eastron SDM630 family.

FLOAT32 big-endian input registers at the SDM630's documented addresses (phase voltages
0x00–0x04, currents 0x06–0x0A, phase power 0x0C–0x10, total power 0x34, frequency 0x46,
import/export kWh 0x48/0x4A, total kWh 0x156), so agent configs written for the real meter
read the simulator unchanged. The load follows a daily profile.
"""

from __future__ import annotations

import math
import random
from functools import partial

from protocols.modbus_codec import ByteOrder, DataType

from .model import SteppedModel, step_rng
from .registers import Device, PlantMap, Register, info_device

__all__ = ["ThreePhaseMeter", "meter_map"]

POWER_FACTOR = 0.92


class ThreePhaseMeter(SteppedModel):
    TOTALS = {"import_kwh": "total_power_kw"}

    def __init__(self, seed: int, origin_ms: int) -> None:
        super().__init__(seed, origin_ms)
        rng = random.Random(seed)
        self._phase = rng.uniform(0, 2 * math.pi)
        self._export = round(rng.uniform(0, 500), 1)
        self.initial = {"import_kwh": rng.uniform(1e3, 1e6)}

    def signals(self, k: int) -> dict[str, float]:
        t = self.step_start(k)
        s = self.seed
        n = partial(step_rng(s, k).gauss, 0.0, 1.0)
        hours = (t - self.origin_ms) / 3_600_000
        load = 60.0 + 35.0 * math.sin(2 * math.pi * hours / 24 + self._phase)
        sig: dict[str, float] = {"frequency_hz": 50.0 + 0.02 * n()}
        total_w = 0.0
        for p in (1, 2, 3):
            v = 230.0 + 2.0 * n()
            i = max(0.5, load * (1 + 0.05 * n()))
            w = v * i * POWER_FACTOR
            sig[f"l{p}_voltage_v"] = v
            sig[f"l{p}_current_a"] = i
            sig[f"l{p}_power_w"] = w
            total_w += w
        sig["total_power_w"] = total_w
        sig["total_power_kw"] = total_w / 1000
        sig["export_kwh"] = self._export
        return sig

    def value(self, name: str, t_ms: int) -> float:
        if name == "total_kwh":
            return self.total("import_kwh", t_ms) + self._export
        return super().value(name, t_ms)


def meter_map() -> PlantMap:
    f32, abcd = DataType.FLOAT32, ByteOrder.ABCD

    def reg(name: str, addr: int, unit: str, lo: float, hi: float, src: str,
            is_counter: bool = False) -> Register:  # fmt: skip
        return Register(name, "input", addr, f32, abcd, unit, lo, hi, src, counter=is_counter)

    regs = [
        *(reg(f"l{p}_voltage_v", 2 * (p - 1), "V", 200, 260, f"l{p}_voltage_v") for p in (1, 2, 3)),
        *(reg(f"l{p}_current_a", 6 + 2 * (p - 1), "A", 0, 200, f"l{p}_current_a")
          for p in (1, 2, 3)),
        *(reg(f"l{p}_power_w", 12 + 2 * (p - 1), "W", 0, 50_000, f"l{p}_power_w")
          for p in (1, 2, 3)),
        reg("total_power_w", 0x34, "W", 0, 150_000, "total_power_w"),
        reg("frequency_hz", 0x46, "Hz", 49.5, 50.5, "frequency_hz"),
        reg("import_energy_kwh", 0x48, "kWh", 0, 1e9, "import_kwh", True),
        reg("export_energy_kwh", 0x4A, "kWh", 0, 1e9, "export_kwh", True),
        reg("total_energy_kwh", 0x156, "kWh", 0, 1e9, "total_kwh", True),
    ]  # fmt: skip
    return PlantMap("meter", (info_device(), Device(1, "sdm630", tuple(regs))))
