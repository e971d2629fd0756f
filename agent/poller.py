"""Polling: one task per (connection, poll group), on slots aligned to the plant clock.

Every slot yields exactly one reading per point: a value, or ``value: null, quality: bad``
with the reason (``timeout``, ``connection``, ``exception:02`` …). A device that failed a
whole poll backs off exponentially; during back-off its slots yield ``bad`` readings at once
so the cadence (and the evidence that the device was down) is kept without waiting on it.
Tasks for different connections are independent, so a dead device never delays another;
devices sharing a connection (an RS-485 line, a gateway) take turns under its lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from agent.clock import AgentClock
from agent.config import DeviceConfig, OpcuaDeviceConfig, Quirks
from agent.derived.base import ReadingTuple
from agent.drivers import DeviceLink, DeviceState, ReadFailed, bad_readings, driver_for
from agent.logs import get_logger
from protocols.reasons import describe_reason

log = get_logger("agent.poller")
Sink = Callable[[list[ReadingTuple]], None]

_NO_QUIRKS = Quirks()  # devices of drivers without Modbus's quirks


class DevicePoll:
    """The requests of one device in one poll group, and the device's failure state."""

    def __init__(
        self, device: DeviceConfig | OpcuaDeviceConfig, requests: list[Any], state: DeviceState
    ) -> None:
        self.device = device
        self.requests = requests
        self.state = state

    async def poll(self, link: DeviceLink, ts: int, out: list[ReadingTuple]) -> None:
        dev, st = self.device, self.state
        if time.monotonic() < st.retry_at:
            # not asked: say why (backing off after the failure named), not only the failure
            for req in self.requests:
                bad_readings(out, req, ts, f"backoff:{st.last_reason}")
            return
        q = dev.quirks if isinstance(dev, DeviceConfig) else _NO_QUIRKS
        ok = 0
        reason = "connection"
        async with link.lock:
            try:
                fresh = not link.connected
                if fresh:  # (connect() on an open link returns at once; no coroutine then)
                    await link.connect()
                if fresh and q.connect_delay:
                    await asyncio.sleep(q.connect_delay)
            except ReadFailed as exc:
                for req in self.requests:
                    bad_readings(out, req, ts, exc.reason)
                self._failed(exc.reason)
                return
            for i, req in enumerate(self.requests):
                if i and q.request_delay:
                    await asyncio.sleep(q.request_delay)
                done = False
                for attempt in range(dev.retries + 1):
                    try:
                        if not link.connected:
                            await link.connect()
                        await link.read(req, ts, st, out)
                        done = True
                        break
                    except ReadFailed as exc:
                        reason = exc.reason
                        if reason.startswith("exception:"):
                            break  # the device answered; asking again will not change it
                        if attempt < dev.retries and reason == "connection":
                            await asyncio.sleep(min(0.05 * (attempt + 1), dev.timeout))
                if not done:
                    bad_readings(out, req, ts, reason)
                    if reason in ("connection", "timeout") and ok == 0:
                        # The device is unreachable: do not spend a timeout per request.
                        for rest in self.requests[i + 1 :]:
                            bad_readings(out, rest, ts, reason)
                        break
                    continue
                ok += 1
            if q.close_after_poll:
                link.close()
        if ok:
            if st.failures:
                log.info("device_recovered", device=dev.name, after_failures=st.failures)
            st.failures = 0
            st.retry_at = 0.0
            st.ok_polls += 1
            st.last_good_ms = ts
        else:
            self._failed(reason)

    def _failed(self, reason: str) -> None:
        st, dev = self.state, self.device
        st.failures += 1
        st.bad_polls += 1
        st.last_reason = reason
        st.errors[reason] = st.errors.get(reason, 0) + 1
        delay = min(dev.backoff.initial * 2 ** (st.failures - 1), dev.backoff.max)
        st.retry_at = time.monotonic() + delay
        log.warning(
            "device_failed",
            device=dev.name,
            reason=reason,
            cause=describe_reason(reason),
            failures=st.failures,
            backoff_s=delay,
        )


class GroupPoller:
    """Polls every device of one connection in one poll group, slot after slot."""

    def __init__(
        self,
        link: DeviceLink,
        group: str,
        interval_s: float,
        devices: list[DevicePoll],
        clock: AgentClock,
        sink: Sink,
    ) -> None:
        self.link = link
        self.group = group
        self.interval_ms = max(1, round(interval_s * 1000))
        self.devices = devices
        self.clock = clock
        self.sink = sink
        self.overruns = 0
        self.on_event: Callable[[dict[str, Any]], None] | None = None

    async def poll_once(self, ts: int) -> list[ReadingTuple]:
        out: list[ReadingTuple] = []
        for dp in self.devices:
            await dp.poll(self.link, ts, out)
        return out

    async def run(self) -> None:
        interval = self.interval_ms
        due = (self.clock.now_ms() // interval + 1) * interval  # aligned to the clock
        while True:
            delay = self.clock.wall_delay_s(due)
            if delay > 0:
                await asyncio.sleep(delay)
            now = self.clock.now_ms()
            if now - due >= interval:
                missed = (now - due) // interval
                self.overruns += 1
                log.warning(
                    "poll_overrun", group=self.group, link=self.link.describe(), missed_slots=missed
                )
                # the missed slots stay gaps (a missing sample, as before), and the batch
                # says why: an event the UI shows as the gap's cause
                if self.on_event is not None:
                    self.on_event(
                        {
                            "type": "poll_overrun",
                            "ts": now,
                            "start": due,
                            "end": due + missed * interval,
                            "missed": int(missed),
                            "group": self.group,
                        }
                    )
                due += missed * interval
            # Straight into the sink: a name kept here would hold this poll's readings
            # through the next sleep and poll, after the batch that took them was cut.
            self.sink(await self.poll_once(due))
            due += interval


def build_pollers(
    devices: Sequence[DeviceConfig | OpcuaDeviceConfig],
    poll_groups: dict[str, float],
    clock: AgentClock,
    sink: Sink,
    links: dict[str, DeviceLink],
) -> list[GroupPoller]:
    """One ``GroupPoller`` per (connection, poll group) that has points."""
    states: dict[str, DeviceState] = {}
    by_key: dict[tuple[str, str], list[DevicePoll]] = {}
    for dev in devices:
        driver = driver_for(dev.transport)
        ep = dev.link_key()
        if ep not in links:
            links[ep] = driver.link(dev)
        state = states.setdefault(dev.name, DeviceState())
        groups: dict[str, list[Any]] = {}
        for pt in dev.points:
            groups.setdefault(pt.poll_group, []).append(pt)
        for group, pts in groups.items():
            by_key.setdefault((ep, group), []).append(DevicePoll(dev, driver.plan(dev, pts), state))
    return [
        GroupPoller(links[ep], group, poll_groups[group], dps, clock, sink)
        for (ep, group), dps in by_key.items()
    ]
