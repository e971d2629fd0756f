"""The lean Modbus TCP client against real servers: the plant simulators (pymodbus), Debian's
mbpoll and pymodbus' own client as references, every fault mode a device shows, and the
framing cases a simulator cannot produce (a server written here, on loopback)."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from agent.drivers import ReadFailed
from agent.modbus_io import Endpoint, ModbusLink, ModbusTcpLink, link_for, read_once
from simulators import Fault, FaultMode, ManualClock, PlantSimulator, parse_fault
from tests.agent.support import agent_config, write_yaml
from tests.simulators.helpers import START_MS, client, mbpoll_read, read_raw, spans
from tests.support.servers import free_port

RECTIFIER, AC_METER, PLC = 10, 11, 12


def _potline(clock: ManualClock) -> PlantSimulator:
    return PlantSimulator("aluminium", clock=clock, seed=3)


async def test_every_register_of_the_potline_reads_as_mbpoll_and_pymodbus_read_it() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        lean = ModbusTcpLink("127.0.0.1", sim.port, 2.0)
        await lean.connect()
        ref = client(sim.port)
        await ref.connect()
        windows = 0
        for dev in sim.map.devices:
            for table in ("holding", "input"):
                for address, count in spans(dev.table(table)):
                    got = await lean.read(table, address, count, dev.unit)  # type: ignore[arg-type]
                    assert got == await read_raw(ref, dev.unit, table, address, count)
                    assert got == await mbpoll_read(sim.port, dev.unit, table, address, count)
                    data = await lean.read_bytes(table, address, count, dev.unit)  # type: ignore[arg-type]
                    assert data == struct.pack(f">{count}H", *got)
                    windows += 1
        assert windows > 5 and lean.connected
        lean.close()
        ref.close()
        assert not lean.connected


@asynccontextmanager
async def _bit_server(coils: list[bool], discrete: list[bool]) -> AsyncIterator[int]:
    """A pymodbus server with these coils and discrete inputs (unit 1)."""
    regs = [SimData(address=0, values=0, datatype=DataType.REGISTERS)]
    dev = SimDevice(
        id=1,
        simdata=(
            [SimData(address=0, values=coils, datatype=DataType.BITS)],
            [SimData(address=0, values=discrete, datatype=DataType.BITS)],
            regs,
            regs,
        ),
    )
    port = free_port()
    server = ModbusTcpServer([dev], address=("127.0.0.1", port))
    task = asyncio.create_task(server.serve_forever())
    try:
        for _ in range(200):  # until it listens
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        yield port
    finally:
        await server.shutdown()
        task.cancel()


async def test_coils_and_discrete_inputs_read_as_pymodbus_reads_them() -> None:
    coils = [bool((i * 7) % 3 == 0) for i in range(32)]
    discrete = [bool(i % 5 in (1, 4)) for i in range(32)]
    async with _bit_server(coils, discrete) as port:
        lean = ModbusTcpLink("127.0.0.1", port, 2.0)
        await lean.connect()
        ref = client(port)
        await ref.connect()
        for table, read in (("coil", ref.read_coils), ("discrete", ref.read_discrete_inputs)):
            for address, count in ((0, 21), (3, 8), (0, 32), (9, 1)):
                rr = await read(address, count=count, device_id=1)
                want = [1 if b else 0 for b in rr.bits[:count]]
                assert await lean.read(table, address, count, 1) == want  # type: ignore[arg-type]
            whole = await lean.read(table, 0, 32, 1)  # type: ignore[arg-type]
            assert 0 < sum(whole) < 32  # a pattern, not all one value
        lean.close()
        ref.close()


async def test_an_exception_answer_is_its_code_and_the_connection_stays() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        link = ModbusTcpLink("127.0.0.1", sim.port, 2.0)
        await link.connect()
        f = sim.inject(parse_fault("exception:unit=11:code=6"))
        with pytest.raises(ReadFailed) as exc:
            await link.read("holding", 0, 2, AC_METER)
        assert exc.value.reason == "exception:06"
        assert link.connected  # the device answered
        assert len(await link.read("input", 0, 2, RECTIFIER)) == 2
        sim.clear(f)
        sim.inject(Fault(FaultMode.EXCEPTION, unit=AC_METER))  # default 4
        with pytest.raises(ReadFailed, match="exception:04"):
            await link.read("holding", 0, 2, AC_METER)
        sim.clear()
        with pytest.raises(ReadFailed, match="exception:02"):  # no such register
            await link.read("holding", 60000, 2, PLC)
        assert len(await link.read("holding", 0, 2, AC_METER)) == 2
        link.close()


async def test_silence_is_a_timeout_then_a_fresh_connection_serves_the_others() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        sim.inject(Fault(FaultMode.TIMEOUT, unit=RECTIFIER))
        link = ModbusTcpLink("127.0.0.1", sim.port, 0.3)
        await link.connect()
        with pytest.raises(ReadFailed) as exc:
            await link.read("input", 0, 2, RECTIFIER)
        assert exc.value.reason == "timeout"
        assert not link.connected  # a late answer must not meet the next request
        with pytest.raises(ReadFailed, match="connection"):
            await link.read("holding", 0, 1, PLC)
        await link.connect()
        assert len(await link.read("holding", 0, 1, PLC)) == 1
        link.close()


async def test_a_late_answer_is_a_timeout_and_never_the_next_requests_answer() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        sim.inject(parse_fault("late:unit=10:delay=600ms"))
        link = ModbusTcpLink("127.0.0.1", sim.port, 0.2)
        await link.connect()
        with pytest.raises(ReadFailed, match="timeout"):
            await link.read("input", 0, 2, RECTIFIER)
        await link.connect()
        ref = client(sim.port)
        await ref.connect()
        want = await read_raw(ref, PLC, "holding", 2, 4)
        for _ in range(4):  # across the moment the late answer is sent
            assert await link.read("holding", 2, 4, PLC) == want
            await asyncio.sleep(0.2)
        sim.clear()
        patient = ModbusTcpLink("127.0.0.1", sim.port, 2.0)
        await patient.connect()
        assert len(await patient.read("input", 0, 2, RECTIFIER)) == 2
        for c in (link, patient):
            c.close()
        ref.close()


async def test_a_dropped_connection_is_a_connection_failure() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        sim.inject(Fault(FaultMode.DROP, unit=RECTIFIER))
        link = ModbusTcpLink("127.0.0.1", sim.port, 2.0)
        await link.connect()
        with pytest.raises(ReadFailed) as exc:
            await link.read("input", 0, 2, RECTIFIER)
        assert exc.value.reason == "connection"
        assert not link.connected
        await link.connect()
        assert len(await link.read("holding", 0, 1, PLC)) == 1
        link.close()


async def test_nobody_listening_is_a_connection_failure() -> None:
    link = ModbusTcpLink("127.0.0.1", free_port(), 0.5)
    with pytest.raises(ReadFailed) as exc:
        await link.connect()
    assert exc.value.reason == "connection" and not link.connected
    with pytest.raises(ReadFailed, match="connection"):
        await link.read("holding", 0, 1, 1)
    with pytest.raises(ReadFailed, match="connection"):
        await read_once("127.0.0.1", free_port(), 1, "holding", 0, 1, timeout=0.5)


async def test_probe_and_links_pick_the_lean_client_for_tcp_only() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        ref = client(sim.port)
        await ref.connect()
        want = await read_raw(ref, PLC, "holding", 2, 4)
        ref.close()
        assert await read_once("127.0.0.1", sim.port, PLC, "holding", 2, 4) == want
    assert isinstance(link_for(Endpoint("tcp", host="h", port=1), 1.0), ModbusTcpLink)
    rtu = link_for(Endpoint("rtu_over_tcp", host="h", port=1), 1.0)
    assert isinstance(rtu, ModbusLink) and rtu.describe() == "rtu_over_tcp:h:1"


def test_a_modbus_tcp_agent_never_imports_pymodbus(tmp_path: Path) -> None:
    """Memory: pymodbus loads only when a serial line or RTU-over-TCP link connects."""
    dev = {
        "name": "m",
        "host": "127.0.0.1",
        "port": 1,
        "points": [{"id": "p", "table": "holding", "address": 0}],
    }
    code = (
        "import sys; from agent.config import load_config; import agent.cli, agent.core; "
        "from agent.poller import build_pollers; cfg = load_config(sys.argv[1]); "
        "links = {}; build_pollers(cfg.devices, {'default': 1.0}, None, print, links); "
        "print('pymodbus' in sys.modules, type(next(iter(links.values())).link).__name__)"
    )
    for transport, want in (("tcp", "False ModbusTcpLink"), ("rtu_over_tcp", "False ModbusLink")):
        path = write_yaml(
            tmp_path / f"{transport}.yaml",
            agent_config(tmp_path, 1, [{**dev, "transport": transport}]),
        )
        res = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
        )
        assert res.stdout.split() == want.split(), res.stderr


# -- framing cases, from a server written here ------------------------------------------

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def _raw_server(answer: Answer) -> AsyncIterator[int]:
    """A TCP server that calls ``answer(request, writer)`` for every 12-byte request."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await answer(await reader.readexactly(12), writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _answer(req: bytes, words: list[int], *, tid_delta: int = 0) -> bytes:
    tid, _, _, unit, f, _, _ = struct.unpack(">HHHBBHH", req)
    body = struct.pack(f">BBB{len(words)}H", unit, f, 2 * len(words), *words)
    return struct.pack(">HHH", (tid + tid_delta) & 0xFFFF, 0, len(body)) + body


async def test_an_answer_split_across_segments_and_one_to_an_old_request() -> None:
    async def answer(req: bytes, w: asyncio.StreamWriter) -> None:
        count = struct.unpack(">H", req[10:])[0]
        stale = _answer(req, [9] * count, tid_delta=-1)  # as if to the request before
        good = _answer(req, list(range(count)))
        w.write(stale + good[:5])
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(good[5:])

    async with _raw_server(answer) as port:
        link = ModbusTcpLink("127.0.0.1", port, 2.0)
        await link.connect()
        for n in (1, 3, 125):
            assert await link.read("holding", 0, n, 1) == list(range(n))
        link.close()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("protocol_id", "connection"),
        ("function", "connection"),
        ("unit", "connection"),
        ("short", "short_response"),
        ("byte_count", "connection"),
    ],
)
async def test_malformed_answers_fail_the_read(kind: str, reason: str) -> None:
    async def answer(req: bytes, w: asyncio.StreamWriter) -> None:
        count = struct.unpack(">H", req[10:])[0]
        out = bytearray(_answer(req, list(range(count))))
        if kind == "protocol_id":
            out[3] = 1
        elif kind == "function":
            out[7] = 4  # holding asked, input answered
        elif kind == "unit":
            out[6] = 99
        elif kind == "short":
            out = bytearray(_answer(req, list(range(count - 1))))
        elif kind == "byte_count":
            out[8] += 2  # claims more data than the frame holds
        w.write(bytes(out))

    async with _raw_server(answer) as port:
        link = ModbusTcpLink("127.0.0.1", port, 2.0)
        await link.connect()
        with pytest.raises(ReadFailed) as exc:
            await link.read("holding", 0, 4, 1)
        assert exc.value.reason == reason
        if reason == "connection":
            assert not link.connected  # the stream cannot be trusted: start afresh
        link.close()
