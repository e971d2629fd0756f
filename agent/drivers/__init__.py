"""The device-driver seam: how the agent reaches a device, whatever protocol it speaks.

A driver turns a device section of the config into a ``DeviceLink`` (one connection, shared
by the devices behind it) and plans its points into requests. The poller only ever calls
the four link operations below; retries, back-off, the cadence and the ``bad`` readings of
a device that cannot be reached are the poller's, the same for every driver.

    connect()                       open the connection, or raise ReadFailed("connection")
    read(request, ts, state, out)   append one reading per point of a planned request
    describe()                      "tcp:10.0.0.5:502", "opc.tcp://dcs:4840" (logs, check)
    close()                         drop the connection (a later connect() opens a new one)

Drivers are imported only when a device uses them: an agent without OPC UA devices never
loads asyncua. Adding a driver: one module beside these (``DRIVER`` with ``link`` and
``plan``), its transport name in ``DRIVER_MODULES``, its device model in ``agent.config``.
"""

from __future__ import annotations

import asyncio
import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.derived.base import ReadingTuple

#: transport (the ``transport:`` of a device) -> the module holding its ``DRIVER``
DRIVER_MODULES: dict[str, str] = {
    "tcp": "agent.drivers.modbus",
    "rtu": "agent.drivers.modbus",
    "rtu_over_tcp": "agent.drivers.modbus",
    "opcua": "agent.drivers.opcua",
}

_INF = math.inf


class ReadFailed(Exception):
    """A read that produced no values; ``reason`` goes into the bad readings."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(slots=True)
class DeviceState:
    """Back-off and frozen-value bookkeeping of one device."""

    failures: int = 0
    retry_at: float = 0.0  # monotonic
    last_reason: str = "connection"
    last_values: dict[str, tuple[object, int]] = field(default_factory=dict)
    ok_polls: int = 0
    bad_polls: int = 0
    last_good_ms: int | None = None  # plant time of the last poll that read anything
    errors: dict[str, int] = field(default_factory=dict)  # failed polls by reason

    def summary(self, name: str) -> dict[str, object]:
        """The device's health for the agent's status message (and the collector's alarms)."""
        from protocols.reasons import describe_reason

        polled = self.ok_polls + self.bad_polls > 0
        return {
            "name": name,
            "connected": (self.failures == 0) if polled else None,
            "last_good_ms": self.last_good_ms,
            "failures_in_a_row": self.failures,
            "errors": dict(sorted(self.errors.items())),
            "last_error": describe_reason(self.last_reason) if self.failures else None,
        }


class PlannedPointLike(Protocol):
    id: str


class RequestLike(Protocol):
    """What the poller needs of a planned request: the points it yields readings for."""

    @property
    def points(self) -> Sequence[PlannedPointLike]: ...


class DeviceLink(ABC):
    """One connection to one or more devices, with one request lock."""

    lock: asyncio.Lock

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    @abstractmethod
    async def connect(self) -> None:
        """Open the connection or raise ``ReadFailed('connection')``."""

    @abstractmethod
    async def read(
        self, request: Any, ts: int, state: DeviceState, out: list[ReadingTuple]
    ) -> None:
        """Read one planned request and append one reading per point; ``ReadFailed`` when
        the request yielded nothing (the poller then writes the ``bad`` readings)."""

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...


class Driver(Protocol):
    name: str  # "modbus", "opcua": the catalogue's source prefix

    def link(self, device: Any) -> DeviceLink: ...

    def plan(self, device: Any, points: Sequence[Any]) -> list[Any]: ...


def driver_for(transport: str) -> Driver:
    """The driver of a transport, imported on first use."""
    module = importlib.import_module(DRIVER_MODULES[transport])
    driver: Driver = module.DRIVER
    return driver


def judge(
    out: list[ReadingTuple],
    pid: str,
    ts: int,
    value: float | int,
    lo: float | None,
    hi: float | None,
    frozen_polls: int | None,
    state: DeviceState,
) -> None:
    """One decoded value's reading: ``bad`` if not finite, ``uncertain`` when outside
    min/max or frozen for ``frozen_polls`` polls, else ``good`` (every driver's rule)."""
    if value != value or value == _INF or value == -_INF:  # NaN / ±inf from a float
        out.append((pid, ts, None, "bad", "not_finite", None))
    elif (lo is not None and value < lo) or (hi is not None and value > hi):
        out.append((pid, ts, value, "uncertain", "out_of_range", None))
    elif frozen_polls is not None and frozen(state, pid, value, frozen_polls):
        out.append((pid, ts, value, "uncertain", "frozen", None))
    else:
        out.append((pid, ts, value, "good", None, None))


def frozen(state: DeviceState, pid: str, value: object, polls: int) -> bool:
    """Count how many polls in a row ``pid`` read ``value``; True from ``polls`` on."""
    last = state.last_values.get(pid)
    n = last[1] + 1 if last is not None and last[0] == value else 1
    state.last_values[pid] = (value, n)
    return n >= polls


def bad_readings(out: list[ReadingTuple], req: RequestLike, ts: int, reason: str) -> None:
    out.extend((p.id, ts, None, "bad", reason, None) for p in req.points)


__all__ = [
    "DRIVER_MODULES",
    "DeviceLink",
    "DeviceState",
    "Driver",
    "ReadFailed",
    "bad_readings",
    "driver_for",
    "frozen",
    "judge",
]
