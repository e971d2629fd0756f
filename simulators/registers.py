"""Register maps: the single description of what each simulated device serves.

One ``PlantMap`` per kind drives both the Modbus server (which encodes model values into
registers on every read) and ``mrv-sim describe`` (which agent configs are written from), so
the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from protocols.modbus_codec import ByteOrder, DataType, encode, register_count

__all__ = ["Device", "PlantMap", "Register", "Table"]

Table = str  # "holding" | "input" (coils/discrete are not used by the simulated plants)
TABLES: tuple[str, ...] = ("holding", "input")

_COUNTER_BITS = {DataType.UINT16: 16, DataType.UINT32: 32, DataType.UINT64: 64}


@dataclass(frozen=True)
class Register:
    """One served value: where it lives, how it is encoded, and which model quantity it shows.

    ``source`` names the model quantity (see the plant models); ``counter`` marks cumulative
    totals, the only registers that rollover and reset faults act on.
    """

    name: str
    table: Table
    address: int
    dtype: DataType
    byte_order: ByteOrder
    unit: str
    min: float
    max: float
    source: str
    scale: float = 1.0
    counter: bool = False

    @property
    def count(self) -> int:
        return register_count(self.dtype)

    @property
    def wrap(self) -> int | None:
        """The raw modulus of an integer counter (2**bits), None for floats."""
        bits = _COUNTER_BITS.get(self.dtype)
        return None if bits is None else 1 << bits

    def encode(self, value: float, raw_offset: float = 0) -> list[int]:
        """Registers for an engineering value, clamped into range, counter jumps applied."""
        if self.wrap is not None:
            raw = round(value / self.scale) + raw_offset
            return encode(raw % self.wrap, self.dtype, self.byte_order)
        if self.counter:  # a float counter (the SDM630 kWh registers): reset still applies
            value += raw_offset * self.scale
        value = min(max(value, self.min), self.max)
        return encode(value, self.dtype, self.byte_order, scale=self.scale)

    def raw_value(self, value: float) -> int:
        """The raw integer a counter would show for an engineering value (no jumps)."""
        return round(value / self.scale)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "address": self.address,
            "type": str(self.dtype),
            "byte_order": str(self.byte_order),
            "unit": self.unit,
            "min": self.min,
            "max": self.max,
            "scale": self.scale,
        }


@dataclass(frozen=True)
class Device:
    """One Modbus unit id on the simulator's port (a rectifier, a pot controller, a meter)."""

    unit: int
    name: str
    registers: tuple[Register, ...]

    def __post_init__(self) -> None:
        for table in TABLES:
            spans = sorted(
                (r.address, r.address + r.count, r.name) for r in self.registers if r.table == table
            )
            for (_, end, a), (start, _, b) in pairwise(spans):
                if start < end:
                    raise ValueError(f"unit {self.unit}: {a} overlaps {b}")

    def table(self, table: Table) -> tuple[Register, ...]:
        return tuple(r for r in self.registers if r.table == table)

    def register(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(f"unit {self.unit} has no register {name!r}")


@dataclass(frozen=True)
class PlantMap:
    kind: str
    devices: tuple[Device, ...] = field(default_factory=tuple)

    def device(self, unit: int) -> Device:
        for d in self.devices:
            if d.unit == unit:
                return d
        raise KeyError(f"{self.kind} has no unit {unit}")

    @property
    def units(self) -> list[int]:
        return [d.unit for d in self.devices]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "devices": [
                {
                    "unit": d.unit,
                    "name": d.name,
                    "registers": [r.describe() for r in d.registers],
                }
                for d in self.devices
            ],
        }


INFO_UNIT = 247


def info_device() -> Device:
    """The clock/info unit every simulated plant carries: plant time for agents and debugging."""
    u64_max = float(2**64 - 1)
    return Device(
        INFO_UNIT,
        "clock",
        (
            Register(
                "plant_time_ms", "holding", 0, DataType.UINT64, ByteOrder.ABCD, "ms",
                0, u64_max, "info.plant_time_ms",
            ),
            Register(
                "uptime_s", "holding", 4, DataType.UINT32, ByteOrder.ABCD, "s",
                0, float(2**32 - 1), "info.uptime_s",
            ),
        ),
    )  # fmt: skip


def counter(
    name: str,
    table: Table,
    address: int,
    dtype: DataType,
    order: ByteOrder,
    unit: str,
    scale: float,
    source: str,
) -> Register:
    """A cumulative total: served from 0 up to the type's wrap (raw × scale)."""
    bits = _COUNTER_BITS[dtype]
    return Register(
        name, table, address, dtype, order, unit, 0.0, float((1 << bits) - 1) * scale, source,
        scale=scale, counter=True,
    )  # fmt: skip


def gauge(
    name: str,
    table: Table,
    address: int,
    order: ByteOrder,
    unit: str,
    lo: float,
    hi: float,
    source: str,
    dtype: DataType = DataType.FLOAT32,
) -> Register:
    """An instantaneous measurement, clamped into its documented range."""
    return Register(name, table, address, dtype, order, unit, lo, hi, source)
