"""A clinker kiln line: weigh feeder, kiln, coal to kiln and calciner, plant power meter.

Kiln stops (a few per month, hours long) take production, coal and most of the power down
together, as they do on a real line; the totals are exact integrals of the rates served.
"""

from __future__ import annotations

import math
import random
from functools import partial

from protocols.modbus_codec import ByteOrder, DataType

from .model import EventStream, SteppedModel, step_aligned, step_rng
from .registers import Device, PlantMap, counter, gauge, info_device

__all__ = ["CementKiln", "cement_map"]


class CementKiln(SteppedModel):
    TOTALS = {
        "clinker_t": "clinker_tph",
        "coal_kiln_t": "coal_kiln_tph",
        "coal_calciner_t": "coal_calciner_tph",
        "energy_kwh": "power_kw",
    }

    def __init__(self, seed: int, origin_ms: int, clinker_tph: float = 210.0) -> None:
        super().__init__(seed, origin_ms)
        rng = random.Random(seed)
        self.clinker_tph = clinker_tph
        self._phase = rng.uniform(0, 2 * math.pi)
        self.initial = {
            "clinker_t": rng.uniform(1e5, 2e6),
            "coal_kiln_t": rng.uniform(1e4, 2e5),
            "coal_calciner_t": rng.uniform(1e4, 3e5),
            "energy_kwh": rng.uniform(1e7, 1e8),
        }
        self._stops = EventStream(
            seed * 7919 + 11,
            lambda r, t: step_aligned(r, t, 5 * 24, (2.0, 12.0), (0.0, 0.0)),
            self.origin_ms,
        )

    def signals(self, k: int) -> dict[str, float]:
        t = self.step_start(k)
        s = self.seed
        n = partial(step_rng(s, k).gauss, 0.0, 1.0)
        if self._stops.active(t):
            return {
                "clinker_tph": 0.0,
                "kiln_feed_tph": 0.0,
                "coal_kiln_tph": 0.0,
                "coal_calciner_tph": 0.0,
                "kiln_head_temp_c": 650.0 + 20 * n(),
                "power_kw": 4500.0 + 100 * n(),
            }
        hours = (t - self.origin_ms) / 3_600_000
        clinker = self.clinker_tph * (1 + 0.03 * math.sin(2 * math.pi * hours / 19 + self._phase))
        clinker = max(0.0, clinker + 3 * n())
        return {
            "clinker_tph": clinker,
            "kiln_feed_tph": clinker * 1.58 + 2 * n(),
            "coal_kiln_tph": max(0.0, clinker * 0.048 + 0.3 * n()),
            "coal_calciner_tph": max(0.0, clinker * 0.072 + 0.4 * n()),
            "kiln_head_temp_c": 1100.0 + 25 * n(),
            "power_kw": 4500.0 + 75 * clinker + 150 * n(),
        }


def cement_map() -> PlantMap:
    U32, U64 = DataType.UINT32, DataType.UINT64
    return PlantMap("cement", (
        info_device(),
        Device(2, "clinker_weigh_feeder", (
            gauge("clinker_rate_tph", "input", 0, ByteOrder.ABCD, "t/h", 0, 400, "clinker_tph"),
            counter("clinker_total_t", "holding", 0, U32, ByteOrder.ABCD, "t", 0.01,
                    "clinker_t"),
        )),
        Device(3, "kiln", (
            gauge("kiln_feed_tph", "input", 0, ByteOrder.BADC, "t/h", 0, 700, "kiln_feed_tph"),
            gauge("kiln_head_temp_c", "input", 2, ByteOrder.BADC, "°C", 400, 1300,
                  "kiln_head_temp_c"),
        )),
        Device(4, "coal_feeders", (
            gauge("coal_kiln_tph", "input", 0, ByteOrder.DCBA, "t/h", 0, 40, "coal_kiln_tph"),
            gauge("coal_calciner_tph", "input", 2, ByteOrder.DCBA, "t/h", 0, 60,
                  "coal_calciner_tph"),
            counter("coal_kiln_total_t", "holding", 0, U64, ByteOrder.DCBA, "t", 0.001,
                    "coal_kiln_t"),
            counter("coal_calciner_total_t", "holding", 4, U64, ByteOrder.DCBA, "t", 0.001,
                    "coal_calciner_t"),
        )),
        Device(5, "power_meter", (
            gauge("active_power_kw", "input", 0, ByteOrder.CDAB, "kW", 0, 60000, "power_kw"),
            counter("energy_import_kwh", "holding", 0, U32, ByteOrder.CDAB, "kWh", 0.1,
                    "energy_kwh"),
        )),
    ))  # fmt: skip
