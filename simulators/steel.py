"""An integrated steelworks: coke ovens, sinter plant, blast furnace, BOF shop, gases, power.

Every carbon flow the guideline's carbon balance (CETS-AG-03.01-V01-2024) needs per process
is a totaliser: coking coal in and coke, tar and crude benzene out at the coke ovens;
limestone, dolomite and coke breeze at the sinter plant; coke and injected coal in, hot metal
and blast-furnace gas out at the furnace; hot metal and scrap in, crude steel and converter
gas out at the BOF shop; the share of blast-furnace gas sent off site. Blast-furnace stops
take coke, injected coal, hot metal and its gas down together; the coke ovens and the steel
shop run on their own schedules. Totals are exact integrals of the flows. Ratios are
plausible plant figures (e.g. 0.77 t coke per t coal; per t steel 0.15 t scrap and 70 Nm³
converter gas), not guideline factors.
"""

from __future__ import annotations

import math
import random
from functools import partial

from protocols.modbus_codec import ByteOrder, DataType

from .model import EventStream, SteppedModel, step_aligned, step_rng
from .registers import Device, PlantMap, counter, gauge, info_device

__all__ = ["Steelworks", "steel_map"]


class Steelworks(SteppedModel):
    TOTALS = {
        "crude_steel_t": "crude_steel_tph",
        "coke_t": "coke_tph",
        "pci_coal_t": "pci_tph",
        "bfg_nm3": "bfg_nm3h",
        "cog_nm3": "cog_nm3h",
        "energy_kwh": "power_kw",
        "coking_coal_t": "coking_coal_tph",
        "coke_produced_t": "coke_produced_tph",
        "tar_t": "tar_tph",
        "crude_benzene_t": "crude_benzene_tph",
        "limestone_t": "limestone_tph",
        "dolomite_t": "dolomite_tph",
        "coke_breeze_t": "coke_breeze_tph",
        "hot_metal_t": "hot_metal_tph",
        "scrap_t": "scrap_tph",
        "bofg_nm3": "bofg_nm3h",
        "bfg_export_nm3": "bfg_export_nm3h",
    }

    def __init__(self, seed: int, origin_ms: int) -> None:
        super().__init__(seed, origin_ms)
        rng = random.Random(seed)
        self._phase = rng.uniform(0, 2 * math.pi)
        self.initial = {
            "crude_steel_t": rng.uniform(1e5, 3e6),
            "coke_t": rng.uniform(1e4, 5e5),
            "pci_coal_t": rng.uniform(1e4, 2e5),
            "bfg_nm3": rng.uniform(1e8, 1e9),
            "cog_nm3": rng.uniform(1e7, 1e8),
            "energy_kwh": rng.uniform(1e7, 1e8),
        }
        more = random.Random(seed * 7919 + 23)  # own generator: earlier draws unchanged
        for name in self.TOTALS:
            self.initial.setdefault(name, more.uniform(1e4, 1e6))
        o = self.origin_ms
        self._bf_stops = EventStream(
            seed * 7919 + 21, lambda r, t: step_aligned(r, t, 10 * 24, (2.0, 8.0), (0, 0)), o
        )
        self._shop_stops = EventStream(
            seed * 7919 + 22, lambda r, t: step_aligned(r, t, 4 * 24, (1.0, 6.0), (0, 0)), o
        )

    def signals(self, k: int) -> dict[str, float]:
        t = self.step_start(k)
        s = self.seed
        n = partial(step_rng(s, k).gauss, 0.0, 1.0)
        hours = (t - self.origin_ms) / 3_600_000
        bf_on = self._bf_stops.active(t) is None
        shop_on = self._shop_stops.active(t) is None
        hot_metal = 350.0 * (1 + 0.02 * math.sin(2 * math.pi * hours / 23 + self._phase))
        steel = max(0.0, 380.0 + 15 * n()) if shop_on else 0.0
        sig = {
            "crude_steel_tph": steel,
            "coke_tph": max(0.0, hot_metal * 0.35 + 2 * n()) if bf_on else 0.0,
            "pci_tph": max(0.0, hot_metal * 0.15 + 1 * n()) if bf_on else 0.0,
            "bfg_nm3h": max(0.0, hot_metal * 1500 + 8000 * n()) if bf_on else 0.0,
            "cog_nm3h": max(0.0, 60000 + 1500 * n()),
            "power_kw": 60000 + (70000 if shop_on else 0) + 2000 * n(),
        }
        # drawn after the original signals so those stay as they were for a given seed
        coal = max(0.0, 169.0 + 3 * n())
        sinter = bf_on
        sig.update(
            {
                "coking_coal_tph": coal,
                "coke_produced_tph": coal * 0.77,
                "tar_tph": coal * 0.035,
                "crude_benzene_tph": coal * 0.01,
                "limestone_tph": max(0.0, hot_metal * 0.12 + 0.5 * n()) if sinter else 0.0,
                "dolomite_tph": max(0.0, hot_metal * 0.05 + 0.2 * n()) if sinter else 0.0,
                "coke_breeze_tph": max(0.0, hot_metal * 0.05 + 0.2 * n()) if sinter else 0.0,
                "hot_metal_tph": hot_metal if bf_on else 0.0,
                "scrap_tph": steel * 0.15,
                "bofg_nm3h": steel * 70.0,  # converter gas recovered per t steel
                "bfg_export_nm3h": sig["bfg_nm3h"] * 0.1,
            }
        )
        return sig


def steel_map() -> PlantMap:
    U32, U64 = DataType.UINT32, DataType.UINT64
    return PlantMap("steel", (
        info_device(),
        Device(2, "steel_shop", (
            gauge("crude_steel_rate_tph", "input", 0, ByteOrder.ABCD, "t/h", 0, 600,
                  "crude_steel_tph"),
            counter("crude_steel_total_t", "holding", 0, U32, ByteOrder.BADC, "t", 0.01,
                    "crude_steel_t"),
        )),
        Device(3, "bf_injection", (
            gauge("coke_rate_tph", "input", 0, ByteOrder.ABCD, "t/h", 0, 250, "coke_tph"),
            gauge("pci_rate_tph", "input", 2, ByteOrder.ABCD, "t/h", 0, 120, "pci_tph"),
            counter("coke_total_t", "holding", 0, U64, ByteOrder.ABCD, "t", 0.001, "coke_t"),
            counter("pci_coal_total_t", "holding", 4, U64, ByteOrder.ABCD, "t", 0.001,
                    "pci_coal_t"),
        )),
        Device(4, "gas_flows", (
            gauge("bfg_flow_nm3h", "input", 0, ByteOrder.CDAB, "Nm3/h", 0, 1_000_000,
                  "bfg_nm3h"),
            gauge("cog_flow_nm3h", "input", 2, ByteOrder.CDAB, "Nm3/h", 0, 150_000,
                  "cog_nm3h"),
            counter("bfg_total_nm3", "holding", 0, U64, ByteOrder.CDAB, "Nm3", 1.0, "bfg_nm3"),
            counter("cog_total_nm3", "holding", 4, U64, ByteOrder.CDAB, "Nm3", 1.0, "cog_nm3"),
        )),
        Device(6, "coke_ovens", (
            counter("coking_coal_total_t", "holding", 0, U64, ByteOrder.ABCD, "t", 0.001,
                    "coking_coal_t"),
            counter("coke_produced_total_t", "holding", 4, U64, ByteOrder.ABCD, "t", 0.001,
                    "coke_produced_t"),
            counter("tar_total_t", "holding", 8, U64, ByteOrder.ABCD, "t", 0.001, "tar_t"),
            counter("crude_benzene_total_t", "holding", 12, U64, ByteOrder.ABCD, "t", 0.001,
                    "crude_benzene_t"),
        )),
        Device(7, "sinter_plant", (
            counter("limestone_total_t", "holding", 0, U64, ByteOrder.ABCD, "t", 0.001,
                    "limestone_t"),
            counter("dolomite_total_t", "holding", 4, U64, ByteOrder.ABCD, "t", 0.001,
                    "dolomite_t"),
            counter("coke_breeze_total_t", "holding", 8, U64, ByteOrder.ABCD, "t", 0.001,
                    "coke_breeze_t"),
        )),
        Device(8, "bof_shop", (
            counter("hot_metal_total_t", "holding", 0, U64, ByteOrder.ABCD, "t", 0.001,
                    "hot_metal_t"),
            counter("scrap_total_t", "holding", 4, U64, ByteOrder.ABCD, "t", 0.001, "scrap_t"),
            counter("bofg_total_nm3", "holding", 8, U64, ByteOrder.ABCD, "Nm3", 1.0,
                    "bofg_nm3"),
            counter("bfg_export_total_nm3", "holding", 12, U64, ByteOrder.ABCD, "Nm3", 1.0,
                    "bfg_export_nm3"),
        )),
        Device(5, "power_meter", (
            gauge("active_power_kw", "input", 0, ByteOrder.DCBA, "kW", 0, 250_000, "power_kw"),
            counter("energy_import_kwh", "holding", 0, U32, ByteOrder.DCBA, "kWh", 0.1,
                    "energy_kwh"),
        )),
    ))  # fmt: skip
