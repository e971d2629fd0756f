"""Reading a simulator the way a client does: pymodbus and Debian's mbpoll."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
from collections.abc import Iterable

import pytest
from pymodbus.client import AsyncModbusTcpClient

from protocols.modbus_codec import decode
from simulators.registers import Device, Register

START_MS = 1_790_812_800_000  # 2026-10-01T00:00:00Z: plant time of most tests


def spans(regs: Iterable[Register]) -> list[tuple[int, int]]:
    """Contiguous (address, count) read windows covering registers, ≤ 120 registers each."""
    out: list[tuple[int, int]] = []
    for r in sorted(regs, key=lambda r: r.address):
        if out and r.address == out[-1][0] + out[-1][1] and out[-1][1] + r.count <= 120:
            out[-1] = (out[-1][0], out[-1][1] + r.count)
        else:
            out.append((r.address, r.count))
    return out


def decode_image(image: dict[int, int], regs: Iterable[Register]) -> dict[str, float]:
    values: dict[str, float] = {}
    for r in regs:
        words = [image[r.address + i] for i in range(r.count)]
        values[r.name] = float(decode(words, r.dtype, r.byte_order, scale=r.scale))  # type: ignore[arg-type]
    return values


async def read_raw(
    client: AsyncModbusTcpClient, unit: int, table: str, address: int, count: int
) -> list[int]:
    fn = client.read_holding_registers if table == "holding" else client.read_input_registers
    rr = await fn(address, count=count, device_id=unit)
    assert not rr.isError(), f"unit {unit} {table} {address}+{count}: {rr}"
    return list(rr.registers)


async def read_device(client: AsyncModbusTcpClient, device: Device) -> dict[str, float]:
    """Every register of one unit, decoded, in as few reads as the map allows."""
    values: dict[str, float] = {}
    for table in ("holding", "input"):
        regs = device.table(table)
        image: dict[int, int] = {}
        for address, count in spans(regs):
            words = await read_raw(client, device.unit, table, address, count)
            image.update({address + i: w for i, w in enumerate(words)})
        values.update(decode_image(image, regs))
    return values


def mbpoll_binary() -> str:
    path = shutil.which("mbpoll")
    if path is None:
        pytest.fail("Debian's mbpoll is not installed; run .ci/run (it installs it)")
    return path


_LINE = re.compile(r"^\[(\d+)\]:\s+0x([0-9A-Fa-f]{4})\s*$")


async def mbpoll_read(port: int, unit: int, table: str, address: int, count: int) -> list[int]:
    """Registers read by Debian's mbpoll in a subprocess (a foreign Modbus client)."""
    kind = "4:hex" if table == "holding" else "3:hex"
    proc = await asyncio.create_subprocess_exec(
        mbpoll_binary(), "-m", "tcp", "-a", str(unit), "-0", "-r", str(address),
        "-c", str(count), "-t", kind, "-1", "127.0.0.1", "-p", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"mbpoll failed: {err.decode()} {out.decode()}"
    words: dict[int, int] = {}
    for line in out.decode().splitlines():
        if m := _LINE.match(line.strip()):
            words[int(m.group(1))] = int(m.group(2), 16)
    assert sorted(words) == list(range(address, address + count)), out.decode()
    return [words[a] for a in range(address, address + count)]


async def raw_request(port: int, unit: int, function: int, address: int, count: int) -> bytes:
    """Send one Modbus TCP request on a fresh socket; return every byte until the server
    closes (b"" means it hung up without answering) or one full answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    pdu = struct.pack(">BHH", function, address, count)
    writer.write(struct.pack(">HHHB", 1, 0, len(pdu) + 1, unit) + pdu)
    await writer.drain()
    head = await reader.read(7)
    body = b""
    if len(head) == 7:
        body = await reader.readexactly(struct.unpack(">H", head[4:6])[0] - 1)
    writer.close()
    return head + body


def client(port: int, timeout: float = 3.0) -> AsyncModbusTcpClient:
    """A client that neither retries nor reconnects on its own: faults stay visible."""
    return AsyncModbusTcpClient(
        "127.0.0.1", port=port, timeout=timeout, retries=0, reconnect_delay=0
    )
