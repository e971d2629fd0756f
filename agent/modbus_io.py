"""Modbus links: the lean TCP client for ``tcp``, pymodbus for ``rtu`` and ``rtu_over_tcp``.

A link is one connection (a TCP socket, a serial port, or a serial gateway over TCP) with a
lock, so devices sharing an RS-485 line never interleave requests. Reads return plain lists
of ints (registers, or 0/1 bits) or the raw data bytes, or raise ``ReadFailed`` with a short
reason that becomes the ``reason`` of ``bad`` readings: ``timeout``, ``connection``,
``exception:02``.

Modbus TCP goes through ``agent.modbus_tcp`` (the agent's hot path, a fraction of
pymodbus' CPU per request). This is the only module that calls pymodbus (its API changes
between minor versions), imported on the first serial link only: an agent with only TCP
devices never loads it. pymodbus's own reconnect and retry machinery is switched off: the
poller decides when to retry and back off, so a dead device cannot stall the event loop or
another device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.config import ModbusTransport, Table
from agent.drivers import ReadFailed
from agent.modbus_tcp import ModbusTcpLink

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient


@dataclass(frozen=True, slots=True)
class Endpoint:
    transport: ModbusTransport
    host: str | None = None
    port: int | None = None
    serial_port: str | None = None
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


__all__ = [
    "AnyLink",
    "Endpoint",
    "ModbusLink",
    "ModbusTcpLink",
    "ModbusTransport",
    "ReadFailed",
    "Table",
    "link_for",
    "read_once",
]


class ModbusLink:
    """One pymodbus connection (serial, or RTU framing over TCP) with one request lock."""

    def __init__(self, endpoint: Endpoint, timeout: float = 1.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        from pymodbus import FramerType
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        ep = self.endpoint
        common = {"timeout": self.timeout, "retries": 0, "reconnect_delay": 0}
        if ep.transport == "rtu":
            assert ep.serial_port
            return AsyncModbusSerialClient(
                ep.serial_port,
                framer=FramerType.RTU,
                baudrate=ep.baudrate,
                parity=ep.parity,
                stopbits=ep.stopbits,
                bytesize=ep.bytesize,
                **common,  # type: ignore[arg-type]
            )
        assert ep.host and ep.port
        framer = FramerType.RTU if ep.transport == "rtu_over_tcp" else FramerType.SOCKET
        return AsyncModbusTcpClient(ep.host, port=ep.port, framer=framer, **common)  # type: ignore[arg-type]

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the connection or raise ``ReadFailed('connection')``."""
        if self.connected:
            return
        self.close()
        client = self._make_client()
        from pymodbus.exceptions import ModbusException

        try:
            ok = await asyncio.wait_for(client.connect(), self.timeout + 1.0)
        except (TimeoutError, OSError, ModbusException) as exc:
            client.close()
            raise ReadFailed("connection", str(exc)) from None
        if not ok or not client.connected:
            client.close()
            raise ReadFailed("connection", f"cannot connect to {self.describe()}")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def describe(self) -> str:
        ep = self.endpoint
        if ep.transport == "rtu":
            return f"rtu:{ep.serial_port}"
        return f"{ep.transport}:{ep.host}:{ep.port}"

    async def read(self, table: Table, address: int, count: int, unit: int) -> list[int]:
        """Read ``count`` registers or bits; bits come back as 0/1 ints."""
        if self._client is None or not self._client.connected:
            raise ReadFailed("connection", "not connected")
        client = self._client
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

        try:
            if table == "holding":
                coro = client.read_holding_registers(address, count=count, device_id=unit)
            elif table == "input":
                coro = client.read_input_registers(address, count=count, device_id=unit)
            elif table == "coil":
                coro = client.read_coils(address, count=count, device_id=unit)
            else:
                coro = client.read_discrete_inputs(address, count=count, device_id=unit)
            # pymodbus applies its own timeout; this outer bound only guards against hangs
            # (a timeout scope, not wait_for: no task per request)
            async with asyncio.timeout(self.timeout * 2 + 1.0):
                resp = await coro
        except (TimeoutError, ModbusIOException) as exc:
            # A late answer would be taken for the next request's: start a fresh connection.
            self.close()
            raise ReadFailed("timeout", str(exc)) from None
        except ConnectionException as exc:
            self.close()
            raise ReadFailed("connection", str(exc)) from None
        except (ModbusException, OSError) as exc:
            self.close()
            raise ReadFailed("connection", str(exc)) from None
        if resp.isError():
            code = getattr(resp, "exception_code", 0)
            raise ReadFailed(f"exception:{code:02d}", f"function {resp.function_code}")
        if table in ("coil", "discrete"):
            return [1 if b else 0 for b in resp.bits[:count]]
        regs = resp.registers
        if len(regs) < count:
            raise ReadFailed("short_response", f"{len(regs)} of {count} registers")
        return list(regs[:count])

    async def read_bytes(self, table: Table, address: int, count: int, unit: int) -> bytes:
        """As ``read``, as the lean client's data bytes (registers big-endian, bits packed)."""
        values = await self.read(table, address, count, unit)
        if table in ("coil", "discrete"):
            packed = bytearray((count + 7) // 8)
            for i, b in enumerate(values):
                packed[i >> 3] |= b << (i & 7)
            return bytes(packed)
        return struct.pack(f">{count}H", *values)


AnyLink = ModbusLink | ModbusTcpLink


def link_for(endpoint: Endpoint, timeout: float) -> AnyLink:
    """The lean client for Modbus TCP, pymodbus for serial lines and RTU over TCP."""
    if endpoint.transport == "tcp":
        assert endpoint.host and endpoint.port
        return ModbusTcpLink(endpoint.host, endpoint.port, timeout)
    return ModbusLink(endpoint, timeout)


async def read_once(
    host: str, port: int, unit: int, table: Table, address: int, count: int, timeout: float = 2.0
) -> list[int]:
    """Connect, read, close: for ``mrv-agent probe``."""
    link = link_for(Endpoint("tcp", host=host, port=port), timeout)
    try:
        await link.connect()
        return await link.read(table, address, count, unit)
    finally:
        link.close()
