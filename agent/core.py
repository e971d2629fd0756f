"""The agent: pollers → readings spool → batches (signed, committed) → publisher.

Batching runs on the plant clock and never waits for MQTT: a batch is cut every
``publish.interval`` plant seconds from whatever the pollers put in the spool, signed once,
and committed to the outbox; the publisher drains the outbox whenever the broker is there.
All SQLite work (and the signing next to it) runs on one dedicated thread so an fsync never
stalls a poll.

    async with Agent(load_config("agent.yaml")) as agent:
        await agent.wait_stopped()          # or: await Agent(cfg).run() until stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from agent.batch import BatchSigner, SignedBatch, resign
from agent.catalogue import catalogue_json
from agent.clock import AgentClock
from agent.config import AgentConfig, collector_jwk
from agent.derived.base import DerivedContext, Interval, PointInfo, ReadingTuple
from agent.derived.engine import DerivedEngine
from agent.drivers import DeviceLink
from agent.logs import get_logger
from agent.outbox import BatchRow, Outbox, outbox_path
from agent.poller import GroupPoller, build_pollers
from agent.publisher import Publisher
from protocols.keys import Ed25519PrivateKey, load_private_key, public_jwk
from protocols.version import package_version
from protocols.wire import encode_payload

log = get_logger("agent")
T = TypeVar("T")

#: Wall seconds between looks at device health (a change republishes the status).
HEALTH_CHECK_S = 2.0
AGENT_VERSION = package_version()


def derived_context(cfg: AgentConfig, now_ms: int) -> DerivedContext:
    """The batch grid (aligned like the batch loop) and the points derived kinds read."""
    interval = max(1, round(cfg.publish.interval * 1000))
    # Only derived kinds read the points: without any, do not hold an entry per point.
    points = {
        p.id: PointInfo(
            scale=p.scale,
            type=p.type.value,
            interval_ms=max(1, round(cfg.poll_groups[p.poll_group].interval * 1000)),
        )
        for _, p in (cfg.all_points() if cfg.derived else ())
    }
    return DerivedContext(
        start_ms=now_ms // interval * interval, interval_ms=interval, points=points
    )


async def _cancel_all(tasks: list[asyncio.Task[None]], limit_s: float = 10.0) -> None:
    """Cancel tasks and wait for them, cancelling again while any is still running.

    On Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that arrives as its inner
    awaitable completes (gh-86296); a poller at 50 reads/s hits that race, ignores the one
    cancel and polls on, and SIGTERM never finishes. Repeating the cancel ends it.
    """
    pending = {t for t in tasks if not t.done()}
    deadline = time.monotonic() + limit_s
    while pending and time.monotonic() < deadline:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for t in tasks:
        if t.done() and not t.cancelled():
            with contextlib.suppress(Exception):
                t.result()
    if pending:
        log.error("tasks_not_stopped", tasks=[t.get_name() for t in pending])


class Agent:
    """One edge agent. Use as an async context manager, or ``await run()`` until ``stop()``."""

    def __init__(self, config: AgentConfig, *, key: Ed25519PrivateKey | None = None) -> None:
        self.cfg = config
        self.key = key if key is not None else load_private_key(config.key_file)
        collector_jwk(config)  # acks are signed: a missing or unusable collector_key stops here
        self.kid = public_jwk(self.key)["kid"]
        self.clock = AgentClock(config.clock)
        self.signer = BatchSigner(config.site, config.agent, self.key, self.kid)
        self.engine = DerivedEngine(config.derived, derived_context(config, self.clock.now_ms()))
        self._spool: list[ReadingTuple] = []
        self._events: list[dict[str, Any]] = []
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        self._links: dict[str, DeviceLink] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._last_cut_ms = 0
        self._limit_alarm = False
        self.outbox: Outbox | None = None
        self.publisher: Publisher | None = None
        self.pollers: list[GroupPoller] = []
        self.batches_committed = 0
        self._published_health: tuple[tuple[str, Any], ...] = ()
        self.health_checks = 0  # looks at device health so far (for tests)
        self.committed = asyncio.Condition()

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """Start, run until ``request_stop()`` (e.g. SIGTERM), then stop cleanly."""
        await self.start()
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def start(self) -> None:
        cfg = self.cfg
        self.outbox = await self._db(
            functools.partial(
                Outbox,
                outbox_path(cfg.data_dir),
                site=cfg.site,
                agent=cfg.agent,
                synchronous=cfg.outbox.synchronous,
            )
        )
        if self.engine:
            self.engine.restore(await self._db(self.outbox.derived_state))
        self._last_cut_ms = self.clock.now_ms()
        log.info(
            "agent_started",
            site=cfg.site,
            agent=cfg.agent,
            kid=self.kid,
            head_seq=self.outbox.head_seq,
            acked_through=self.outbox.acked_through,
            devices=len(cfg.devices),
            points=sum(len(d.points) for d in cfg.devices),
            derived=len(cfg.derived),
            clock=cfg.clock.source,
        )
        self.pollers = build_pollers(
            cfg.devices,
            {k: g.interval for k, g in cfg.poll_groups.items()},
            self.clock,
            self._on_readings,
            self._links,
        )
        for poller in self.pollers:
            poller.on_event = self._on_event
        self.publisher = Publisher(cfg, self.outbox, self._db, self._birth, self._resign)
        for p in self.pollers:
            self._tasks.append(asyncio.create_task(p.run(), name=f"poll-{p.group}"))
        self._tasks.append(asyncio.create_task(self._batch_loop(), name="batches"))
        self._tasks.append(asyncio.create_task(self._clock_watch(), name="clock-watch"))
        self._tasks.append(asyncio.create_task(self._health_watch(), name="health-watch"))
        self._publisher_task = asyncio.create_task(self.publisher.run(), name="publisher")
        self.metrics_server: asyncio.Server | None = None
        if cfg.metrics.enabled:
            from agent.metrics import serve_metrics

            self.metrics_server = await serve_metrics(self, cfg.metrics.host, cfg.metrics.port)
            self.metrics_port = self.metrics_server.sockets[0].getsockname()[1]
            log.info("metrics_serving", host=cfg.metrics.host, port=self.metrics_port)

    async def stop(self, grace_s: float = 3.0) -> None:
        """Stop polling, commit what is spooled, publish it if the broker is there, close."""
        if self._stopped.is_set():
            return
        await _cancel_all(self._tasks)
        self._tasks.clear()
        if getattr(self, "metrics_server", None) is not None:
            self.metrics_server.close()  # type: ignore[union-attr]
        for link in self._links.values():
            link.close()
        if self.outbox is not None:
            with contextlib.suppress(Exception):
                await self.cut(self.clock.now_ms())
        if self.publisher is not None:
            self.publisher.request_stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._publisher_task), grace_s)
            except (TimeoutError, asyncio.CancelledError, Exception):
                await _cancel_all([self._publisher_task])
        if self.outbox is not None:
            await self._db(self.outbox.close)
        self._executor.shutdown(wait=True)
        log.info("agent_stopped", batches_committed=self.batches_committed)
        self._stopped.set()

    # -- readings and batches ------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        """An event for the next batch (e.g. ``poll_overrun``: why slots were missed)."""
        self._events.append(event)

    def _on_readings(self, readings: list[ReadingTuple]) -> None:
        self._spool.extend(readings)
        if self.engine:
            self.engine.observe(readings)
        excess = len(self._spool) - self.cfg.spool.max_readings
        if excess > 0:
            del self._spool[:excess]
            log.error("spool_overflow", dropped_readings=excess)
            self._events.append(
                {"type": "readings_dropped", "ts": self.clock.now_ms(), "count": excess}
            )

    async def _batch_loop(self) -> None:
        interval = max(1, round(self.cfg.publish.interval * 1000))
        due = (self.clock.now_ms() // interval + 1) * interval
        while True:
            delay = self.clock.wall_delay_s(due)
            if delay > 0:
                await asyncio.sleep(delay)
            now = self.clock.now_ms()
            if now - due >= interval:
                due += (now - due) // interval * interval
            await self.cut(due)
            due += interval

    async def _clock_watch(self) -> None:
        while True:
            await self._notice_submissions()
            jump = self.clock.check_jump()
            if jump is not None:
                log.warning("clock_jump", jump_ms=jump.jump_ms, at_ms=jump.at_ms)
                self._events.append(
                    {"type": "clock_jump", "ts": jump.at_ms, "jump_ms": jump.jump_ms}
                )
            await asyncio.sleep(1.0)

    async def _notice_submissions(self) -> None:
        """``mrv-agent submit`` appends to this chain from another process: publish it."""
        moved = self.outbox is not None and await self._db(self.outbox.refresh)
        if moved and self.publisher is not None:
            self.publisher.notify()

    async def cut(self, end_ms: int) -> list[SignedBatch]:
        """Close the interval ending at ``end_ms``: sign and commit its batches."""
        assert self.outbox is not None
        readings, self._spool = self._spool, []
        events, self._events = self._events, []
        if self.engine:
            out = self.engine.close(Interval(self._last_cut_ms, end_ms))
            readings.extend(out.readings)
            events.extend(out.events)
        self._last_cut_ms = end_ms
        jumps = self.clock.take_jumps()
        if not readings and not events:
            return []
        state = self.engine.state() if self.engine else None
        clock_state = self.clock.state(jumps)
        try:
            batches, notices = await self._db(
                self._sign_and_commit, readings, events, end_ms, clock_state, state
            )
        except (sqlite3.Error, OSError) as exc:
            # Nothing was committed: keep the readings for the next interval and say so.
            log.error("outbox_commit_failed", error=str(exc), readings_kept=len(readings))
            self._spool[:0] = readings
            self._events[:0] = events
            return []
        for n in notices:
            self._events.append({**n, "ts": end_ms})
        self.batches_committed += len(batches)
        if batches:
            log.debug(
                "batches_committed",
                first_seq=batches[0].seq,
                last_seq=batches[-1].seq,
                readings=len(readings),
            )
        if self.publisher is not None:
            self.publisher.notify()
        async with self.committed:
            self.committed.notify_all()
        return batches

    def _sign_and_commit(
        self,
        readings: list[ReadingTuple],
        events: list[dict[str, Any]],
        created_ms: int,
        clock_state: dict[str, Any],
        state: dict[str, Any] | None,
    ) -> tuple[list[SignedBatch], list[dict[str, Any]]]:
        """Runs on the outbox thread: chunk, sign, commit in one transaction, check limits."""
        ob = self.outbox
        assert ob is not None
        size = self.cfg.publish.max_readings_per_batch
        batches: list[SignedBatch] = []
        chunks = [readings[i : i + size] for i in range(0, len(readings), size)] or [[]]

        def build(seq: int, prev: str | None) -> list[BatchRow]:
            # Runs under the outbox's write lock, from the head as stored: `mrv-agent
            # submit` may have appended to this chain since the last cut.
            batches.clear()
            for i, chunk in enumerate(chunks):
                b = self.signer.build(
                    seq + 1, prev, created_ms, clock_state, chunk, events if i == 0 else ()
                )
                batches.append(b)
                seq, prev = b.seq, b.hash
            return [
                BatchRow(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
                for b in batches
            ]

        ob.append(build, state)
        return batches, self._enforce_limits()

    def _resign(self, envelope: bytes, seq: int, prev: str) -> BatchRow:
        """Outbox thread: one batch signed again under a new seq (``Outbox.continue_after``)."""
        b = resign(self.signer, envelope, seq, prev)
        return BatchRow(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)

    def _enforce_limits(self) -> list[dict[str, Any]]:
        """Apply the outbox limit policy (outbox thread); return events to announce."""
        ob, lim = self.outbox, self.cfg.outbox
        assert ob is not None
        st = ob.stats()
        reasons = []
        if lim.max_bytes is not None and st.bytes > lim.max_bytes:
            reasons.append(f"size {st.bytes} > max_bytes {lim.max_bytes}")
        if (
            lim.max_age_days is not None
            and st.oldest_wall is not None
            and time.time() - st.oldest_wall > lim.max_age_days * 86400
        ):
            reasons.append(f"oldest unacked batch older than {lim.max_age_days} days")
        free = ob.free_disk_bytes()
        if free < lim.min_free_disk_bytes:
            reasons.append(f"free disk {free} < min_free_disk_bytes {lim.min_free_disk_bytes}")
        if not reasons:
            if self._limit_alarm:
                log.info("outbox_limit_cleared", batches=st.batches, bytes=st.bytes)
            self._limit_alarm = False
            return []
        if lim.on_full == "keep" or st.batches <= 1:
            if not self._limit_alarm:
                log.error(
                    "outbox_limit_reached",
                    policy="keep",
                    reasons="; ".join(reasons),
                    batches=st.batches,
                    bytes=st.bytes,
                    action="keeping every unacked batch; check the collector and the link",
                )
            self._limit_alarm = True
            return []
        dropped = ob.drop_oldest(max(1, st.batches // 10))
        if dropped is None:
            return []
        log.error(
            "outbox_dropped",
            policy="drop_oldest",
            reasons="; ".join(reasons),
            first_seq=dropped[0],
            last_seq=dropped[1],
        )
        return [{"type": "outbox_dropped", "first_seq": dropped[0], "last_seq": dropped[1]}]

    # -- status ----------------------------------------------------------------------------

    def device_health(self) -> list[dict[str, Any]]:
        """Per device: connected, last good read, errors by reason (status message)."""
        seen: dict[str, dict[str, Any]] = {}
        for poller in self.pollers:
            for dp in poller.devices:
                if dp.device.name not in seen:
                    seen[dp.device.name] = dp.state.summary(dp.device.name)
        return list(seen.values())

    async def _health_watch(self) -> None:
        """Republish the (retained) status when a device goes down or comes back, so the
        collector shows it and raises ``device_down`` without waiting for a reconnect."""
        while True:
            await asyncio.sleep(HEALTH_CHECK_S)
            self.health_checks += 1
            now = tuple((d["name"], d["connected"]) for d in self.device_health())
            if now != self._published_health and self.publisher is not None:
                await self.publisher.republish_status()

    def _birth(self) -> bytes:
        """``encode_payload`` of {online, agent_version, config_hash, kid, industry,
        catalogue, clock, ts}: the same bytes, with the catalogue (one entry per parameter)
        built on demand and encoded entry by entry, as it can be megabytes of dicts."""
        head = encode_payload(
            {
                "online": True,
                "agent_version": AGENT_VERSION,
                "config_hash": self.cfg.config_hash,
                "kid": self.kid,
                "industry": self.cfg.industry,
            }
        )
        devices = self.device_health()
        # what _health_watch compares with: republish only when a device's health changed
        self._published_health = tuple((d["name"], d["connected"]) for d in devices)
        tail = encode_payload(
            {"clock": self.clock.state(), "devices": devices, "ts": self.clock.now_ms()}
        )
        return b"".join((head[:-1], b',"catalogue":', catalogue_json(self.cfg), b",", tail[1:]))
