"""A lean Modbus TCP client: the four reads the agent makes, on one asyncio protocol.

Why not pymodbus here: at the agent's load (100 registers every 100 ms) pymodbus' request
path (PDU objects, framer, transaction manager, ``wait_for``) was most of the agent's CPU
per value. This client does only what the agent asks of a Modbus TCP device:

* read coils (01), discrete inputs (02), holding registers (03), input registers (04);
* MBAP framing (Modbus Messaging on TCP/IP Implementation Guide V1.0b, §3.1.3: transaction
  id, protocol id 0, length, unit id), one request in flight per connection (the link's
  lock), answers matched by transaction id; an answer to an earlier request is skipped;
* a timeout per request: its deadline, checked by one timer per connection that is set
  again only when it fires (no timer, task or timeout scope per request);
* exception responses (function code + 0x80, Modbus Application Protocol V1.1b3 §7) as
  ``ReadFailed("exception:NN")``; the connection stays open (the device answered);
* after a timeout, a lost connection or a malformed answer the connection is closed, so a
  late answer can never be taken for the next request's; the poller reconnects (and backs
  off), as with the pymodbus link.

Registers come back as the response's raw big-endian bytes (``read_bytes``), so a planned
request decodes them with one ``struct`` call, or as ints (``read``).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Literal

from agent.drivers import ReadFailed

Table = Literal["holding", "input", "coil", "discrete"]

#: function code of each table (Modbus Application Protocol V1.1b3, §6.1–6.4)
FUNCTION: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_REQUEST = struct.Struct(">HHHBBHH")  # MBAP (tid, protocol 0, length 6, unit) + fc, addr, count
_HEADER = struct.Struct(">HHH")  # tid, protocol, length (the unit id is the first counted byte)
_MAX_LENGTH = 254  # unit id + the largest PDU (253 bytes)


class _Protocol(asyncio.Protocol):
    """Frames the byte stream into answers and hands the awaited one to its future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.tid = -1  # transaction id awaited
        self.waiter: asyncio.Future[bytes] | None = None
        self.deadline = 0.0  # loop time the awaited answer is due by
        self.timeout = 0.0
        self.watchdog: asyncio.TimerHandle | None = None
        self.lost = False

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """The watchdog fired: fail the awaited answer if it is overdue, else wait on for it
        (one timer per connection, not one per request)."""
        self.watchdog = None
        waiter = self.waiter
        if waiter is None or waiter.done() or self.lost:
            return
        if loop.time() >= self.deadline:
            waiter.set_exception(ReadFailed("timeout", f"no answer within {self.timeout:g} s"))
        else:
            self.watchdog = loop.call_at(self.deadline, self.watch, loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while len(buf) >= 7:
            tid, proto, length = _HEADER.unpack_from(buf)
            if proto != 0 or length < 3 or length > _MAX_LENGTH:
                self._fail(ReadFailed("connection", f"malformed MBAP header {buf[:7].hex()}"))
                return
            end = 6 + length
            if len(buf) < end:
                break
            frame, buf = buf[6:end], buf[end:]
            waiter = self.waiter
            if tid == self.tid and waiter is not None and not waiter.done():
                waiter.set_result(frame)
            # else: an answer nobody waits for (its request timed out): skipped
        self.buf = buf

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ReadFailed("connection", str(exc or "closed by the device")))

    def _fail(self, exc: ReadFailed) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class ModbusTcpLink:
    """One Modbus TCP connection shared by the devices behind it, with one request lock."""

    def __init__(self, host: str, port: int, timeout: float = 1.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.lock = asyncio.Lock()
        self._proto: _Protocol | None = None
        self._tid = 0

    @property
    def connected(self) -> bool:
        p = self._proto
        return p is not None and not p.lost

    async def connect(self) -> None:
        """Open the connection or raise ``ReadFailed('connection')``."""
        if self.connected:
            return
        self.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout + 1.0):
                _, proto = await loop.create_connection(_Protocol, self.host, self.port)
        except (TimeoutError, OSError) as exc:
            raise ReadFailed("connection", str(exc) or type(exc).__name__) from None
        self._proto = proto

    def close(self) -> None:
        p, self._proto = self._proto, None
        if p is not None and p.watchdog is not None:
            p.watchdog.cancel()
            p.watchdog = None
        if p is not None and p.transport is not None:
            p.lost = True
            with contextlib.suppress(Exception):
                p.transport.abort()

    def describe(self) -> str:
        return f"tcp:{self.host}:{self.port}"

    async def read_bytes(self, table: Table, address: int, count: int, unit: int) -> bytes:
        """The data bytes of one read: 2 per register (big-endian), or the packed bits."""
        p = self._proto
        if p is None or p.lost or p.transport is None:
            raise ReadFailed("connection", "not connected")
        fc = FUNCTION[table]
        tid = self._tid = (self._tid + 1) & 0xFFFF
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bytes] = loop.create_future()
        p.tid, p.waiter = tid, waiter
        p.deadline, p.timeout = loop.time() + self.timeout, self.timeout
        if p.watchdog is None:
            p.watchdog = loop.call_at(p.deadline, p.watch, loop)
        p.transport.write(_REQUEST.pack(tid, 0, 6, unit, fc, address, count))
        try:
            frame = await waiter
        except ReadFailed:
            self.close()
            raise
        finally:
            p.waiter = None
        # frame: unit, function, then byte count + data, or the exception code
        got_unit, got_fc = frame[0], frame[1]
        if got_fc == fc | 0x80:
            raise ReadFailed(f"exception:{frame[2]:02d}", f"function {fc}")
        if got_fc != fc or (unit and got_unit != unit):
            self.close()
            raise ReadFailed("connection", f"answer of unit {got_unit} function {got_fc}")
        n = frame[2]
        data = frame[3 : 3 + n]
        if len(data) != n:
            self.close()
            raise ReadFailed("connection", f"byte count {n}, {len(data)} bytes sent")
        need = 2 * count if fc > 2 else (count + 7) // 8
        if n < need:
            raise ReadFailed("short_response", f"{n} of {need} bytes")
        return data[:need] if n > need else data

    async def read(self, table: Table, address: int, count: int, unit: int) -> list[int]:
        """Read ``count`` registers or bits; bits come back as 0/1 ints."""
        data = await self.read_bytes(table, address, count, unit)
        if table in ("coil", "discrete"):
            return unpack_bits(data, count)
        return list(struct.unpack(f">{count}H", data))


def unpack_bits(data: bytes, count: int) -> list[int]:
    """Coil/discrete bits, first bit in the least significant bit of the first byte."""
    return [(data[i >> 3] >> (i & 7)) & 1 for i in range(count)]
