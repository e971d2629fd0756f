"""The Modbus driver (TCP, RTU, RTU over TCP): the first driver behind ``agent.drivers``.

Links come from ``agent.modbus_io`` (the lean client ``agent.modbus_tcp`` for TCP, pymodbus
for serial lines and RTU over TCP); request planning is ``agent.plan``. This module joins
them to the driver interface: a device section becomes an ``Endpoint`` (built here only)
and a link, and a response's data bytes are decoded into readings.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from agent.config import DeviceConfig, PointConfig
from agent.derived.base import ReadingTuple
from agent.drivers import DeviceLink, DeviceState, frozen
from agent.modbus_io import AnyLink, Endpoint, Table, link_for
from agent.modbus_tcp import unpack_bits
from agent.plan import Request, plan_requests

_INF = math.inf
_GOOD, _NONE = repeat("good"), repeat(None)


def endpoint_of(dev: DeviceConfig) -> Endpoint:
    """The connection parameters of a device section."""
    s = dev.serial
    return Endpoint(
        dev.transport,
        host=dev.host,
        port=dev.port,
        serial_port=s.port if s else None,
        baudrate=s.baudrate if s else 9600,
        parity=s.parity if s else "N",
        stopbits=s.stopbits if s else 1,
        bytesize=s.bytesize if s else 8,
    )


def decode_data(
    out: list[ReadingTuple], req: Request, data: bytes, ts: int, state: DeviceState
) -> None:
    """Turn one response's data bytes into readings (the hot path: plain tuples, no models)."""
    cols = req.columns
    if cols is not None:  # every point plain: one struct call for the whole response
        values = cols.values.unpack_from(data)
        total = sum(values) if cols.floats else 0
        if total - total == 0:  # all finite (NaN or ±inf: point by point)
            out.extend(zip(cols.ids, repeat(ts), values, _GOOD, _NONE, _NONE))
            return
    if req.table in ("coil", "discrete"):
        regs = unpack_bits(data, req.count)
    else:
        regs = list(struct.unpack_from(f">{req.count}H", data))
    _decode_points(out, req, regs, ts, state)


def decode_into(
    out: list[ReadingTuple],
    req: Request,
    regs: list[int],
    ts: int,
    state: DeviceState,
) -> None:
    """Turn one response's registers (or 0/1 bits) into readings."""
    cols = req.columns
    if cols is not None:  # every point plain: one struct call for the whole response
        values: tuple[Any, ...] = ()
        with contextlib.suppress(struct.error):  # not 16-bit registers: point by point
            values = cols.values.unpack_from(cols.registers.pack(*regs))
        total = sum(values) if cols.floats else 0
        if values and total - total == 0:  # all finite (NaN or ±inf: point by point)
            out.extend(zip(cols.ids, repeat(ts), values, _GOOD, _NONE, _NONE))
            return
    _decode_points(out, req, regs, ts, state)


def _decode_points(
    out: list[ReadingTuple], req: Request, regs: list[int], ts: int, state: DeviceState
) -> None:
    """Point by point: codecs, limits, the frozen check."""
    append = out.append
    for p in req.points:
        dec = p.decode
        try:
            if dec is None:
                value: float | int | None = regs[p.offset]
            else:
                v = dec(regs[p.offset : p.offset + p.count])
                value = float(v) if isinstance(v, bool) else v  # type: ignore[assignment]
        except Exception as exc:  # a codec fault must not take the poll down
            append((p.id, ts, None, "bad", f"decode:{type(exc).__name__}", None))
            continue
        if value != value or value == _INF or value == -_INF:  # NaN / ±inf from a float
            append((p.id, ts, None, "bad", "not_finite", None))
            continue
        if (p.min is not None and value < p.min) or (p.max is not None and value > p.max):  # type: ignore[operator]
            append((p.id, ts, value, "uncertain", "out_of_range", None))
            continue
        if p.frozen_polls is not None and frozen(state, p.id, value, p.frozen_polls):
            append((p.id, ts, value, "uncertain", "frozen", None))
            continue
        append((p.id, ts, value, "good", None, None))


class ModbusDeviceLink(DeviceLink):
    """A Modbus link (lean TCP client or pymodbus) behind the driver interface."""

    def __init__(self, link: AnyLink) -> None:
        self.link = link
        self.lock = link.lock

    @property
    def connected(self) -> bool:
        return self.link.connected

    async def connect(self) -> None:
        await self.link.connect()

    async def read(
        self, request: Request, ts: int, state: DeviceState, out: list[ReadingTuple]
    ) -> None:
        table: Table = request.table  # type: ignore[assignment]  # planned from the config's Table
        data = await self.link.read_bytes(table, request.address, request.count, request.unit)
        decode_data(out, request, data, ts, state)

    def describe(self) -> str:
        return self.link.describe()

    def close(self) -> None:
        self.link.close()


class ModbusDriver:
    name = "modbus"

    def link(self, device: DeviceConfig) -> ModbusDeviceLink:
        return ModbusDeviceLink(link_for(endpoint_of(device), device.timeout))

    def plan(self, device: DeviceConfig, points: Sequence[Any]) -> list[Request]:
        pts: Sequence[PointConfig] = points
        return plan_requests(device, pts)


DRIVER = ModbusDriver()
