"""Request planning: group a device's points into the fewest Modbus requests.

Pure: points in, requests out. Points of one unit id and table are sorted by address and
merged while the request stays within the device's limit (≤ 125 registers, ≤ 2000 bits by
protocol, less if the device's quirks say so) and the hole between two points is at most
``gap_fill`` registers (reading unused registers is cheaper than another round trip, but
some devices answer exception 02 for holes, so the default is 0).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.config import DeviceConfig, PointConfig
from protocols.modbus_codec import ByteOrder, DataType, decoder

Decode = Callable[[Sequence[int]], int | float | bool | str]


@dataclass(slots=True)
class PlannedPoint:
    """One point inside a request: where its registers sit and how to decode them."""

    id: str
    offset: int  # registers/bits from the request's start
    count: int
    decode: Decode | None  # None: a bit from a coil/discrete table
    min: float | None
    max: float | None
    frozen_polls: int | None
    #: The ``struct`` code of the raw value when it is the engineering value read in the
    #: registers' own big-endian order (no scale, offset or swap), else None.
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Columns:
    """A whole response decoded by one ``struct`` call: for a request whose every point is
    plain (see ``PlannedPoint.code``), with no limits or frozen check, none overlapping."""

    ids: tuple[str, ...]
    registers: struct.Struct  # the response's registers → its bytes
    values: struct.Struct  # those bytes → every point's value, in order
    floats: bool  # a value may be NaN or infinite: checked before the readings are taken


@dataclass(slots=True)
class Request:
    unit: int
    table: str
    address: int  # protocol address (after address_offset)
    count: int
    points: list[PlannedPoint] = field(default_factory=list)
    columns: Columns | None = None


def _decoder_for(pt: PointConfig) -> Decode | None:
    if pt.table in ("coil", "discrete"):
        return None
    if pt.type is DataType.BIT:
        bit = pt.bit
        return lambda regs: float((regs[0] >> bit) & 1) if bit is not None else 0.0
    return decoder(pt.type, pt.byte_order, scale=pt.scale, offset=pt.offset, length=pt.length)


def plan_requests(device: DeviceConfig, points: Sequence[PointConfig]) -> list[Request]:
    """The fewest requests that read ``points`` of ``device`` within its limits."""
    q = device.quirks
    groups: dict[tuple[int, str], list[PointConfig]] = {}
    for pt in points:
        unit = device.unit_id if pt.unit_id is None else pt.unit_id
        groups.setdefault((unit, pt.table), []).append(pt)
    requests: list[Request] = []
    for (unit, table), pts in sorted(groups.items()):
        bits = table in ("coil", "discrete")
        limit = q.max_bits_per_request if bits else q.max_registers_per_request
        gap = q.gap_fill if not bits else max(q.gap_fill, 0)
        pts.sort(key=lambda p: p.address)
        current: Request | None = None
        for pt in pts:
            addr = pt.address + q.address_offset
            n = pt.registers()
            if n > limit:
                raise ValueError(f"point {pt.id} needs {n} registers, above the request limit")
            if current is not None:
                end = current.address + current.count
                new_end = max(end, addr + n)
                if addr - end <= gap and new_end - current.address <= limit:
                    current.count = new_end - current.address
                    current.points.append(_planned(pt, addr - current.address, n))
                    continue
            current = Request(unit, table, addr, n, [_planned(pt, 0, n)])
            requests.append(current)
    for req in requests:
        req.columns = _columns(req)
    return requests


def _columns(req: Request) -> Columns | None:
    """The one-call decoding of ``req`` (None when any point needs its own decoding)."""
    fmt, at = [">"], 0
    for p in req.points:
        if p.code is None or p.min is not None or p.max is not None or p.frozen_polls:
            return None
        if p.offset < at:  # overlapping points
            return None
        fmt.append("x" * (2 * (p.offset - at)) + p.code)
        at = p.offset + p.count
    return Columns(
        tuple(p.id for p in req.points),
        struct.Struct(f">{req.count}H"),
        struct.Struct("".join(fmt)),
        any(p.code in "fd" for p in req.points),  # type: ignore[operator]
    )


def _planned(pt: PointConfig, offset: int, n: int) -> PlannedPoint:
    lo = pt.min if pt.min is not None else -math.inf
    hi = pt.max if pt.max is not None else math.inf
    return PlannedPoint(
        pt.id,
        offset,
        n,
        _decoder_for(pt),
        None if lo == -math.inf else lo,
        None if hi == math.inf else hi,
        pt.frozen_polls,
        _code(pt),
    )


_CODES = {
    DataType.UINT16: "H",
    DataType.INT16: "h",
    DataType.UINT32: "I",
    DataType.INT32: "i",
    DataType.UINT64: "Q",
    DataType.INT64: "q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}


def _code(pt: PointConfig) -> str | None:
    """``PlannedPoint.code`` of a point: a numeric register type with scale 1, offset 0,
    read big-endian (a 16-bit value reads the same in CDAB, which only swaps words)."""
    code = _CODES.get(pt.type)
    if code is None or pt.table in ("coil", "discrete") or pt.scale != 1.0 or pt.offset != 0.0:
        return None
    if pt.byte_order is ByteOrder.ABCD or (pt.byte_order is ByteOrder.CDAB and code in "Hh"):
        return code
    return None
