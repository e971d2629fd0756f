"""``PlantSimulator``: a plant model served over Modbus TCP, with faults and ground truth.

Glue between the pure parts (a plant model, its register map, the fault book) and the I/O
adapters (the pymodbus server, the JSON control endpoint). Used in-process by tests and the
demo, and by ``mrv-sim run`` in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from protocols.plant_clock import PlantClock

from .aluminium import Potline, PotlineConfig, potline_map
from .cement import CementKiln, cement_map
from .faults import ONE_SHOT, Fault, FaultError, FaultMode
from .meter import ThreePhaseMeter, meter_map
from .modbus_server import GATEWAY_NO_RESPONSE, ModbusUnitsServer, Verdict
from .model import SteppedModel
from .registers import INFO_UNIT, PlantMap, Register
from .steel import Steelworks, steel_map

__all__ = ["KINDS", "Clock", "ManualClock", "PlantSimulator", "build_plant"]

KINDS: tuple[str, ...] = ("aluminium", "cement", "steel", "meter")


class Clock(Protocol):
    """Anything that tells plant time: ``PlantClock`` or, in tests, ``ManualClock``."""

    @property
    def start_ms(self) -> int | None: ...

    def now_ms(self) -> int: ...


class ManualClock:
    """A plant clock that moves only when told, so tests need neither sleeps nor thresholds."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def set_ms(self, t_ms: int) -> None:
        self._now = t_ms

    def advance(self, seconds: float) -> int:
        self._now += round(seconds * 1000)
        return self._now


@dataclass(frozen=True)
class PlantOptions:
    """Kind-specific knobs (only the potline has any today)."""

    cells: int = 24
    current_efficiency: float = 0.94
    ae_per_cell_day: float = 0.05


def build_plant(
    kind: str, seed: int, origin_ms: int, options: PlantOptions | None = None
) -> tuple[SteppedModel, PlantMap]:
    """The model and register map of one kind of plant."""
    opts = options or PlantOptions()
    if kind == "aluminium":
        cfg = PotlineConfig(
            cells=opts.cells,
            current_efficiency=opts.current_efficiency,
            ae_per_cell_day=opts.ae_per_cell_day,
        )
        return Potline(seed, origin_ms, cfg), potline_map(opts.cells)
    if kind == "cement":
        return CementKiln(seed, origin_ms), cement_map()
    if kind == "steel":
        return Steelworks(seed, origin_ms), steel_map()
    if kind == "meter":
        return ThreePhaseMeter(seed, origin_ms), meter_map()
    raise ValueError(f"unknown plant kind {kind!r} (one of: {', '.join(KINDS)})")


def describe(kind: str, cells: int = 24) -> dict[str, Any]:
    """``mrv-sim describe`` output without starting anything."""
    if kind == "aluminium":
        return potline_map(cells).describe()
    return build_plant(kind, 1, 0)[1].describe()


# How bad a fault is for a request: the worst active one decides what the client sees.
_PRIORITY = [FaultMode.RESTART, FaultMode.DROP, FaultMode.TIMEOUT, FaultMode.EXCEPTION]


class PlantSimulator:
    """A simulated plant on a Modbus TCP port; an async context manager.

    ``port=0`` picks a free port (read ``.port`` after start). Plant time comes from
    ``clock`` if given (e.g. a ``ManualClock``), else from ``PlantClock(start_ms, speed,
    anchor_wall_s)``: the anchor defaults to now, the start to the anchor's wall time. Same seed and same plant time give the same
    values whatever the read pattern.
    """

    def __init__(
        self,
        kind: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        speed: float = 1.0,
        start_ms: int | None = None,
        anchor_wall_s: float | None = None,
        cells: int = 24,
        current_efficiency: float = 0.94,
        ae_per_cell_day: float = 0.05,
        faults: Iterable[Fault] = (),
        control_port: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown plant kind {kind!r} (one of: {', '.join(KINDS)})")
        if clock is None:
            anchor = time.time() if anchor_wall_s is None else anchor_wall_s
            clock = PlantClock(
                start_ms=int(anchor * 1000) if start_ms is None else start_ms,
                speed=speed,
                anchor_wall_s=anchor,
            )
        if clock.start_ms is None:
            raise ValueError("the plant clock needs a start time")
        self.kind = kind
        self.host = host
        self.seed = seed
        self.clock: Clock = clock
        self.start_ms: int = clock.start_ms
        opts = PlantOptions(cells, current_efficiency, ae_per_cell_day)
        self.model, self.map = build_plant(kind, seed, self.start_ms, opts)
        self._requested_port = port
        self._control_port = control_port
        self._faults: dict[int, Fault] = {}
        self._jumps: dict[int, Fault] = {}  # applied rollover/reset faults: they stay
        self._jump_delta: dict[tuple[int, int, str], float] = {}
        self._next_id = 1
        self._down_for_restart = False
        self.requests: Counter[str] = Counter()
        self._server = ModbusUnitsServer(self._layout(), self._fill, self._gate)
        self._control: Any = None
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.port = 0
        self.control_port: int | None = None
        for f in faults:
            self.inject(f)

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> PlantSimulator:
        self.port = await self._server.start(self.host, self._requested_port)
        if self._control_port is not None:
            from .control import ControlServer

            self._control = ControlServer(self)
            self.control_port = await self._control.start(self.host, self._control_port)
        self._supervisor = asyncio.create_task(self._supervise(), name="plant-supervisor")
        await self.sync()
        return self

    async def stop(self) -> None:
        self._stopping.set()  # wake answers held back by `late` faults: nobody waits any more
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._control is not None:
            await self._control.stop()
            self._control = None
        await self._server.stop()

    async def __aenter__(self) -> PlantSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Run until cancelled (the CLI's main loop)."""
        await asyncio.Event().wait()

    # -- what the plant is ---------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return self.map.describe()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def truth(self, t_ms: int | None = None) -> dict[str, Any]:
        """Ground truth since the start (what a perfect agent would have measured)."""
        t = self.now_ms() if t_ms is None else t_ms
        return {
            "kind": self.kind,
            "seed": self.seed,
            "plant_time_ms": t,
            "start_ms": self.start_ms,
            **self.model.truth(t),
            "faults": self.faults(),
            "requests": dict(self.requests),
            "listening": self._server.listening,
        }

    def value(self, name: str, unit: int | None = None, t_ms: int | None = None) -> float:
        """The engineering value a register would show without faults (for tests)."""
        reg = self._register(name, unit)
        return self._model_value(reg, self.now_ms() if t_ms is None else t_ms)

    def _register(self, name: str, unit: int | None) -> Register:
        for d in self.map.devices:
            if unit is not None and d.unit != unit:
                continue
            for r in d.registers:
                if r.name == name:
                    return r
        raise KeyError(f"no register {name!r}")

    # -- faults --------------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        """Schedule a fault (at its ``at_ms`` or now); returns it with its id."""
        if fault.unit is not None and fault.unit not in self.map.units:
            raise FaultError(f"{self.kind} has no unit {fault.unit}")
        if fault.register is not None:
            regs = [
                r
                for d in self.map.devices
                if fault.targets(d.unit)
                for r in d.registers
                if r.name == fault.register and r.counter
            ]
            if not regs:
                raise FaultError(f"no counter named {fault.register!r} on the targeted units")
        if fault.mode is FaultMode.ROLLOVER and not any(
            r.counter and r.wrap is not None
            for d in self.map.devices
            if fault.targets(d.unit)
            for r in d.registers
        ):
            raise FaultError("rollover needs an integer counter on the targeted units")
        scheduled = fault.scheduled(self.now_ms(), self._next_id)
        self._next_id += 1
        self._faults[scheduled.id] = scheduled
        self._wake.set()
        return scheduled

    def clear(self, fault: Fault | int | None = None, *, unit: int | None = None) -> int:
        """End faults: one (by object or id), those of a unit, or all. Returns how many.

        Counter jumps that already happened stay, like a replaced meter.
        """
        now = self.now_ms()
        if isinstance(fault, Fault):
            ids = [fault.id]
        elif isinstance(fault, int):
            ids = [fault]
        else:
            ids = [i for i, f in self._faults.items() if unit is None or f.unit == unit]
        n = 0
        for i in ids:
            f = self._faults.pop(i, None)
            if f is None:
                continue
            n += 1
            if f.mode in ONE_SHOT and f.at_ms is not None and f.at_ms <= now:
                self._jumps[i] = f
        self._wake.set()
        return n

    def faults(self) -> list[dict[str, Any]]:
        now = self.now_ms()
        return [
            {**f.to_dict(), "active": f.active(now) or (f.mode in ONE_SHOT and f.at_ms <= now)}  # type: ignore[operator]
            for f in self._faults.values()
        ]

    def _active(self, unit: int, t_ms: int) -> list[Fault]:
        return [f for f in self._faults.values() if f.targets(unit) and f.active(t_ms)]

    # -- the whole device restarting -----------------------------------------------------
    async def sync(self) -> None:
        """Bring the listener in line with device-wide restarts at the current plant time."""
        now = self.now_ms()
        restarting = any(
            f.mode is FaultMode.RESTART and f.unit is None and f.active(now)
            for f in self._faults.values()
        )
        if restarting and self._server.listening:
            self._down_for_restart = True
            await self._server.stop()
        elif not restarting and self._down_for_restart:
            await self._server.start(self.host, self.port)
            self._down_for_restart = False

    async def _supervise(self) -> None:
        # asyncio.wait, not wait_for: on 3.11 wait_for can swallow a cancel that races a wake
        while True:
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=0.05)
            finally:
                waiter.cancel()
            self._wake.clear()
            try:
                await self.sync()
            except OSError:  # port briefly unavailable after a restart: try again
                continue

    # -- serving -------------------------------------------------------------------------
    def _layout(self) -> dict[int, dict[str, list[tuple[int, int]]]]:
        layout: dict[int, dict[str, list[tuple[int, int]]]] = {}
        for d in self.map.devices:
            tables: dict[str, list[tuple[int, int]]] = {}
            for r in d.registers:
                tables.setdefault(r.table, []).append((r.address, r.count))
            layout[d.unit] = tables
        return layout

    async def _gate(self, unit: int, table: str) -> Verdict:
        now = self.now_ms()
        active = self._active(unit, now)
        self.requests[str(unit)] += 1
        modes = {f.mode: f for f in active}
        for mode in _PRIORITY:
            f = modes.get(mode)
            if f is None:
                continue
            if mode is FaultMode.RESTART:
                return GATEWAY_NO_RESPONSE if f.unit is not None else "drop"
            if mode is FaultMode.DROP:
                return "drop"
            if mode is FaultMode.TIMEOUT:
                return "silent"
            return f.code
        late = [f.delay_s for f in active if f.mode is FaultMode.LATE]
        if late:
            stopping = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({stopping}, timeout=max(late))
            finally:
                stopping.cancel()
            if self._stopping.is_set():
                return "silent"
        return "serve"

    def _fill(self, unit: int, table: str) -> dict[int, int]:
        now = self.now_ms()
        t = now
        for f in self._active(unit, now):
            if f.mode is FaultMode.FREEZE and f.at_ms is not None:
                t = f.at_ms
        out: dict[int, int] = {}
        for reg in self.map.device(unit).table(table):
            words = reg.encode(self._model_value(reg, t), self._jump(unit, reg, t))
            for i, w in enumerate(words):
                out[reg.address + i] = w
        return out

    def _model_value(self, reg: Register, t_ms: int) -> float:
        if reg.source == "info.plant_time_ms":
            return float(t_ms)
        if reg.source == "info.uptime_s":
            return max(0.0, (t_ms - self._last_boot_ms(t_ms)) / 1000)
        return self.model.value(reg.source, t_ms)

    def _last_boot_ms(self, t_ms: int) -> int:
        boot = self.start_ms
        for f in self._faults.values():
            end = f.end_ms
            if (
                f.mode is FaultMode.RESTART
                and (f.unit is None or f.unit == INFO_UNIT)
                and end is not None
                and end <= t_ms
            ):
                boot = max(boot, end)
        return boot

    def _jump(self, unit: int, reg: Register, t_ms: int) -> float:
        """Total raw offset that rollovers and resets have added to a counter by t_ms."""
        if not reg.counter:
            return 0
        events = sorted(
            (
                f
                for f in (*self._jumps.values(), *self._faults.values())
                if f.mode in ONE_SHOT
                and f.targets(unit)
                and (f.register is None or f.register == reg.name)
                and f.at_ms is not None
                and f.at_ms <= t_ms
            ),
            key=lambda f: (f.at_ms, f.id),
        )
        total = 0.0
        for f in events:
            key = (f.id, unit, reg.name)
            delta = self._jump_delta.get(key)
            if delta is None:
                assert f.at_ms is not None
                value = self._model_value(reg, f.at_ms)
                before = (value / reg.scale if reg.wrap is None else reg.raw_value(value)) + total
                if f.mode is FaultMode.RESET:
                    delta = -before
                elif reg.wrap is not None:
                    delta = (reg.wrap - f.margin) - before
                else:
                    delta = 0.0  # a float counter has no wrap to roll over
                self._jump_delta[key] = delta
            total += delta
        return round(total) if reg.wrap is not None else total
