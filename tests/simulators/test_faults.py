"""Each fault mode produces exactly the failure a Modbus client sees on a real network."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.exceptions import ConnectionException, ModbusIOException

from protocols.modbus_codec import decode
from simulators import Fault, FaultError, FaultMode, ManualClock, PlantSimulator, parse_fault

from .helpers import START_MS, client, raw_request, read_device, read_raw

HOUR_S = 3600
RECTIFIER, AC_METER, PLC, CONTROLLER, INFO = 10, 11, 12, 21, 247


def _potline(clock: ManualClock, **kw: object) -> PlantSimulator:
    return PlantSimulator("aluminium", clock=clock, seed=3, **kw)  # type: ignore[arg-type]


async def _current(c: object, unit: int = RECTIFIER) -> float:
    return float(decode(await read_raw(c, unit, "input", 0, 2), "FLOAT32", "CDAB"))  # type: ignore[arg-type]


async def test_timeout_means_no_answer_and_other_units_still_answer() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        sim.inject(Fault(FaultMode.TIMEOUT, unit=RECTIFIER))
        c = client(sim.port, timeout=0.3)
        await c.connect()
        with pytest.raises(ModbusIOException):
            await c.read_input_registers(0, count=2, device_id=RECTIFIER)
        c.close()
        other = client(sim.port)
        await other.connect()
        assert (await read_device(other, sim.map.device(PLC)))["cells_in_operation"] > 0
        sim.clear()
        assert 300 <= await _current(other) <= 600
        other.close()


async def test_exception_fault_answers_with_the_configured_code() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        c = client(sim.port)
        await c.connect()
        f = sim.inject(parse_fault("exception:unit=11:code=6"))
        rr = await c.read_holding_registers(0, count=2, device_id=AC_METER)
        assert rr.isError() and rr.exception_code == 6
        sim.clear(f)
        sim.inject(Fault(FaultMode.EXCEPTION, unit=AC_METER))  # default: 4, device failure
        rr = await c.read_holding_registers(0, count=2, device_id=AC_METER)
        assert rr.isError() and rr.exception_code == 4
        assert not (await c.read_input_registers(0, count=2, device_id=RECTIFIER)).isError()
        c.close()


async def test_drop_closes_the_connection() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        sim.inject(Fault(FaultMode.DROP, unit=RECTIFIER))
        # on the wire: the server hangs up (EOF) instead of answering
        assert await raw_request(sim.port, RECTIFIER, 4, 0, 2) == b""
        answer = await raw_request(sim.port, PLC, 3, 0, 1)
        assert answer[7] == 3 and len(answer) == 7 + 1 + 1 + 2  # other units still answer
        # through pymodbus: the read fails and the client is left disconnected
        c = client(sim.port, timeout=0.5)
        await c.connect()
        with pytest.raises((ConnectionException, ModbusIOException)):
            await c.read_input_registers(0, count=2, device_id=RECTIFIER)
        assert not c.connected
        c.close()


async def test_late_answer_arrives_late_and_does_not_block_other_units() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        sim.inject(parse_fault("late:unit=10:delay=1s"))
        slow, fast = client(sim.port), client(sim.port)
        await slow.connect()
        await fast.connect()
        late = asyncio.create_task(_current(slow))
        # while the rectifier's answer is held back, the PLC answers on another connection
        plc = await read_device(fast, sim.map.device(PLC))
        assert plc["cells_in_operation"] > 0
        assert not late.done()
        assert await late == pytest.approx(sim.value("line_current_ka"), rel=1e-6)
        # a client that gives up sooner than the delay sees a timeout
        impatient = client(sim.port, timeout=0.2)
        await impatient.connect()
        with pytest.raises(ModbusIOException):
            await impatient.read_input_registers(0, count=2, device_id=RECTIFIER)
        for c in (slow, fast, impatient):
            c.close()


async def test_freeze_serves_the_values_of_the_instant_it_began() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        c = client(sim.port)
        await c.connect()
        f = sim.inject(Fault(FaultMode.FREEZE, unit=RECTIFIER, for_ms=2 * HOUR_S * 1000))
        rect, plc = sim.map.device(RECTIFIER), sim.map.device(PLC)
        frozen = await read_device(c, rect)
        metal = (await read_device(c, plc))["aluminium_output_kg"]
        clock.advance(HOUR_S)
        assert await read_device(c, rect) == frozen
        assert (await read_device(c, plc))["aluminium_output_kg"] > metal  # others move on
        clock.advance(HOUR_S)  # the window is over
        thawed = await read_device(c, rect)
        assert thawed["dc_energy_kwh"] > frozen["dc_energy_kwh"]
        assert sim.clear(f) == 1
        c.close()


async def test_rollover_wraps_the_counter_and_the_modular_delta_is_the_truth() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        c = client(sim.port)
        await c.connect()
        reg = sim.map.device(PLC).register("aluminium_output_kg")
        sim.inject(parse_fault("rollover:unit=12:register=aluminium_output_kg:margin=500"))
        raw0 = decode(await read_raw(c, PLC, "holding", 2, 2), "UINT32", "DCBA")
        assert raw0 == 2**32 - 500
        true0 = sim.value("aluminium_output_kg")
        clock.advance(HOUR_S)
        raw1 = decode(await read_raw(c, PLC, "holding", 2, 2), "UINT32", "DCBA")
        assert raw1 < raw0  # it wrapped
        moved = ((raw1 - raw0) % 2**32) * reg.scale
        true_moved = round(sim.value("aluminium_output_kg") / reg.scale) - round(true0 / reg.scale)
        assert moved == pytest.approx(true_moved * reg.scale)
        # other counters of the same unit are untouched
        assert (await read_device(c, sim.map.device(PLC)))["cells_in_operation"] > 0
        c.close()


async def test_reset_restarts_counters_from_zero_like_a_replaced_meter() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        c = client(sim.port)
        await c.connect()
        meter = sim.map.device(AC_METER)
        before = (await read_device(c, meter))["ac_energy_kwh"]
        assert before > 1e6
        f = sim.inject(Fault(FaultMode.RESET, unit=AC_METER))
        assert (await read_device(c, meter))["ac_energy_kwh"] == 0
        e0 = sim.value("ac_energy_kwh")
        clock.advance(HOUR_S)
        after = (await read_device(c, meter))["ac_energy_kwh"]
        assert after == pytest.approx(sim.value("ac_energy_kwh") - e0, abs=1)
        sim.clear(f)  # the new meter stays installed
        assert (await read_device(c, meter))["ac_energy_kwh"] == after
        c.close()


async def test_reset_of_a_float_energy_register_on_the_sdm630() -> None:
    clock = ManualClock(START_MS)
    async with PlantSimulator("meter", clock=clock, seed=3) as sim:
        c = client(sim.port)
        await c.connect()
        sim.inject(parse_fault("reset:unit=1:register=import_energy_kwh"))
        assert (await read_device(c, sim.map.device(1)))["import_energy_kwh"] == 0
        clock.advance(HOUR_S)
        v = (await read_device(c, sim.map.device(1)))["import_energy_kwh"]
        assert 1 < v < 200  # about an hour of a feeder's load
        with pytest.raises(FaultError):
            sim.inject(Fault(FaultMode.ROLLOVER, unit=1))  # float counters have no wrap
        c.close()


async def test_unit_restart_answers_gateway_no_response_then_comes_back() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        c = client(sim.port)
        await c.connect()
        sim.inject(parse_fault("restart:unit=21:for=90s"))
        rr = await c.read_holding_registers(0, count=2, device_id=CONTROLLER)
        assert rr.isError() and rr.exception_code == 0x0B
        assert not (await c.read_holding_registers(0, count=1, device_id=PLC)).isError()
        clock.advance(90)
        assert not (await c.read_holding_registers(0, count=2, device_id=CONTROLLER)).isError()
        c.close()


async def test_device_restart_drops_everyone_refuses_then_reboots() -> None:
    clock = ManualClock(START_MS)
    async with _potline(clock) as sim:
        c = client(sim.port)
        await c.connect()
        clock.advance(HOUR_S)
        info = sim.map.device(INFO)
        assert (await read_device(c, info))["uptime_s"] == HOUR_S
        c.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        sim.inject(Fault(FaultMode.RESTART, for_ms=60_000))
        await sim.sync()
        assert await reader.read() == b""  # the device dropped every connection
        writer.close()
        refused = client(sim.port)
        assert not await refused.connect()
        refused.close()
        clock.advance(60 + 30)
        await sim.sync()
        c = client(sim.port)
        assert await c.connect()
        values = await read_device(c, info)
        assert values["uptime_s"] == 30  # rebooted 30 plant seconds ago
        assert values["plant_time_ms"] == clock.now_ms()
        c.close()


async def test_faults_scheduled_in_plant_time() -> None:
    clock = ManualClock(START_MS)
    spec = "exception:unit=10:at=2026-10-01T02:00:00Z:for=30m:code=3"
    async with _potline(clock, faults=[parse_fault(spec)]) as sim:
        c = client(sim.port)
        await c.connect()
        outcomes = []
        for minutes in (0, 119, 120, 149, 150):
            clock.set_ms(START_MS + minutes * 60_000)
            rr = await c.read_input_registers(0, count=2, device_id=RECTIFIER)
            outcomes.append(rr.exception_code if rr.isError() else 0)
        assert outcomes == [0, 0, 3, 3, 0]
        rel = sim.inject(parse_fault("timeout:unit=11:at=+3h:for=10m", START_MS))
        assert rel.at_ms == START_MS + 3 * HOUR_S * 1000
        c.close()


def test_fault_grammar() -> None:
    f = parse_fault("timeout:unit=3:at=2026-10-05T00:00:00Z:for=10m")
    assert (f.mode, f.unit, f.for_ms) == (FaultMode.TIMEOUT, 3, 600_000)
    assert f.at_ms == 1_791_158_400_000
    assert parse_fault(f.spec()) == f
    late = parse_fault("late:delay=250ms")
    assert late.delay_s == 0.25 and late.unit is None and late.at_ms is None
    assert parse_fault("exception:code=0x0B").code == 11
    assert parse_fault("rollover:unit=12:register=aluminium_output_kg:margin=10").margin == 10
    for bad in (
        "explode",
        "timeout:unit=x",
        "timeout:for=soon",
        "timeout:at=yesterday",
        "timeout:color=red",
        "reset:for=10m",
        "freeze:register=x",
        "exception:code=0",
        "timeout:3",
    ):
        with pytest.raises(FaultError):
            parse_fault(bad, START_MS)


async def test_inject_rejects_unknown_units_and_registers() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        with pytest.raises(FaultError):
            sim.inject(Fault(FaultMode.TIMEOUT, unit=99))
        with pytest.raises(FaultError):
            sim.inject(Fault(FaultMode.RESET, unit=12, register="no_such_counter"))


async def test_unknown_unit_and_writes_are_refused_like_a_gateway_and_a_meter() -> None:
    async with _potline(ManualClock(START_MS)) as sim:
        c = client(sim.port)
        await c.connect()
        rr = await c.read_holding_registers(0, count=1, device_id=99)
        assert rr.isError() and rr.exception_code == 0x0B
        rr = await c.write_register(0, 1, device_id=PLC)
        assert rr.isError()
        rr = await c.read_input_registers(0, count=1, device_id=PLC)  # PLC has no inputs
        assert rr.isError() and rr.exception_code == 2
        c.close()
