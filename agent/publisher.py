"""The MQTT side: connect with back-off, birth/will, publish the outbox in seq order, take acks.

Delivery rules (DESIGN.md "Delivery"): a batch leaves the outbox only when the collector's
retained ``ack`` covers it — a PUBACK only means the broker has it. After every (re)connect
the publisher starts again from the oldest unacked batch; if the ack makes no progress for
``ack_timeout`` while batches are outstanding, it republishes from the oldest unacked batch
too (and doubles the timeout until the ack moves, so a dead collector is not flooded). At
most ``window`` batches are published ahead of the ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent.config import AgentConfig, collector_jwk
from agent.logs import get_logger
from agent.mqtt_io import MqttError, MqttSession
from agent.outbox import BatchRow, Outbox, StoredBatch
from protocols.ack import AckRejected, verify_ack
from protocols.keys import public_key_from_jwk
from protocols.topics import (
    ack_topic,
    data_topic,
    document_topic,
    notice_topic,
    status_topic,
)
from protocols.wire import encode_payload

log = get_logger("agent.publisher")

OFFLINE = encode_payload({"online": False})
# Envelope bytes fetched from the outbox per round trip to its thread (at least one batch):
# publishing is one batch at a time anyway, so a larger read only raises peak RSS.
FETCH_MAX_BYTES = 512 * 1024


class Publisher:
    def __init__(
        self,
        cfg: AgentConfig,
        outbox: Outbox,
        db: Callable[..., Awaitable[Any]],
        birth: Callable[[], bytes],
        resign: Callable[[bytes, int, str], BatchRow],
    ) -> None:
        self.cfg = cfg
        jwk = collector_jwk(cfg)  # ConfigError naming collector_key if unusable
        self.collector_kid = jwk["kid"]
        self.collector_pub = public_key_from_jwk(jwk)
        self.resign = resign
        self.outbox = outbox
        self.db = db
        self.birth = birth
        self.data_topic = data_topic(cfg.site, cfg.agent)
        self.status_topic = status_topic(cfg.site, cfg.agent)
        self.ack_topic = ack_topic(cfg.site, cfg.agent)
        self.notice_topic = notice_topic(cfg.site, cfg.agent)
        self.rejected: dict[str, Any] | None = None  # the collector's current notice
        self.wake = asyncio.Event()
        self.connected = asyncio.Event()
        self.cursor = 0  # highest seq published on the current connection
        self.published = 0  # publishes done (for metrics and tests)
        self.republished = 0
        self.connects = 0
        self.acks = 0  # acks accepted (for metrics)
        self.documents_published = 0
        self.acks_rejected = 0  # messages on the ack topic that were not trusted (alarms)
        self._stopping = False
        self._session: MqttSession | None = None
        self._ack_seen = asyncio.Event()

    def _on_notice(self, payload: bytes) -> None:
        """The collector says it quarantines our batches (or, empty, that it stopped)."""
        import json

        if not payload:
            if self.rejected is not None:
                log.info("collector_accepts_again", previous_reason=self.rejected.get("reason"))
            self.rejected = None
            return
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        self.rejected = data
        log.error(
            "collector_rejected",
            reason=data.get("reason"),
            message=str(data.get("message"))[:300],
            seq=data.get("seq"),
            action=data.get("hint")
            or "check the collector's quarantine (mrv-collector quarantine list)",
        )

    async def republish_status(self) -> None:
        """Publish the status message again (retained), e.g. after a device's health changed."""
        session = self._session
        if session is None or not self.connected.is_set():
            return
        try:
            await session.publish(self.status_topic, self.birth(), qos=1, retain=True)
        except MqttError as exc:
            log.warning("status_not_published", error=str(exc))

    def notify(self) -> None:
        """A new batch was committed."""
        self.wake.set()

    async def run(self) -> None:
        reconnect = self.cfg.broker.reconnect
        delay = reconnect.initial
        while not self._stopping:
            try:
                session = MqttSession(
                    self.cfg.broker,
                    self.cfg.client_id,
                    will_topic=self.status_topic,
                    will_payload=OFFLINE,
                )
                async with session:
                    self._session = session
                    self.connects += 1
                    delay = reconnect.initial
                    await self._connected(session)
            except MqttError as exc:
                log.warning("broker_disconnected", error=str(exc), retry_in_s=round(delay, 2))
            except OSError as exc:
                log.warning("broker_unreachable", error=str(exc), retry_in_s=round(delay, 2))
            finally:
                self._session = None
                self.connected.clear()
            if self._stopping:
                break
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, reconnect.max)

    async def _connected(self, session: MqttSession) -> None:
        await session.subscribe(self.ack_topic, qos=1)
        await session.subscribe(self.notice_topic, qos=1)
        await session.publish(self.status_topic, self.birth(), qos=1, retain=True)
        log.info("broker_connected", host=self.cfg.broker.host, port=self.cfg.broker.port)
        self.cursor = self.outbox.acked_through  # republish everything not yet acked
        self.connected.set()
        self._ack_seen.clear()
        reader = asyncio.create_task(self._read_acks(session), name="ack-reader")
        try:
            # The collector's retained ack tells what it already holds; read it before
            # publishing so a seq it holds is never sent again with other contents.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._ack_seen.wait(), min(2.0, self.cfg.publish.ack_timeout)
                )
            await self._send(session)
            if self._stopping:
                await session.publish(self.status_topic, OFFLINE, qos=1, retain=True)
                log.info("broker_goodbye", published_through=self.cursor)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, MqttError):
                await reader

    async def _read_acks(self, session: MqttSession) -> None:
        async for topic, payload in session.messages():
            if topic == self.notice_topic:
                self._on_notice(payload)
                continue
            if topic != self.ack_topic or not payload:
                continue
            try:
                ack = verify_ack(
                    payload,
                    self.collector_pub,
                    self.collector_kid,
                    site=self.cfg.site,
                    agent=self.cfg.agent,
                )
            except AckRejected as exc:
                # Anyone who can publish on the broker could send this: never act on it.
                self.acks_rejected += 1
                log.error(
                    "ALARM ack_rejected",
                    reason=exc.reason,
                    error=str(exc)[:300],
                    action="ignored; no batch deleted",
                )
                continue
            through = ack.through
            if through > self.outbox.head_seq:
                # A power cut took commits the collector already holds: continue the chain
                # at through + 1 with prev = the stored hash; batches committed since are
                # signed again under new seqs, none is lost and no seq is reused.
                old_head = self.outbox.head_seq
                moved = await self.db(self.outbox.continue_after, through, ack.hash, self.resign)
                log.warning(
                    "chain_continued_after_lost_commits",
                    collector_through=through,
                    outbox_head=old_head,
                    resigned=[f"{a}->{b}" for a, b in moved][:20],
                    head=self.outbox.head_seq,
                )
                self.cursor = max(self.cursor, through)
                deleted = await self.db(self.outbox.ack, through)
            else:
                maybe = await self.db(self.outbox.ack_if_held, through, ack.hash)
                if maybe is None:
                    self.acks_rejected += 1
                    log.error(
                        "ALARM ack_hash_mismatch",
                        through=through,
                        collector_hash=ack.hash,
                        outbox_hash=await self.db(self.outbox.batch_hash, through),
                        action="ignored; every batch kept",
                    )
                    continue
                deleted = maybe
            self._ack_seen.set()
            self.acks += 1
            if deleted:
                log.info("acked", through=self.outbox.acked_through, deleted=deleted)
            self.wake.set()
        raise MqttError("message stream ended")

    async def _send(self, session: MqttSession) -> None:
        pub = self.cfg.publish
        ack_timeout = pub.ack_timeout
        last_progress = time.monotonic()
        last_acked = self.outbox.acked_through
        while True:
            acked = self.outbox.acked_through
            if acked != last_acked:
                last_acked, last_progress, ack_timeout = acked, time.monotonic(), pub.ack_timeout
            self.cursor = max(self.cursor, acked)
            room = pub.window - (self.cursor - acked)
            if self.outbox.collector_ahead is not None:
                room = 0  # never reuse a seq the collector holds (see _read_acks)
            if room > 0 and self.cursor < self.outbox.head_seq:  # else nothing to fetch
                batches: list[StoredBatch] = await self.db(
                    self.outbox.unacked, self.cursor, min(room, 64), FETCH_MAX_BYTES
                )
                if batches:
                    n = len(batches)
                    while batches:
                        # Drop each envelope once published: nothing keeps the last one
                        # (~0.5 MB at 5,000 readings) while the publisher waits.
                        b = batches.pop(0)
                        if b.seq <= self.outbox.acked_through:
                            continue  # acked (or re-chained) while this list was out
                        await session.publish(self.data_topic, b.envelope, qos=1)
                        await self._send_documents(session, b)
                        self.cursor = b.seq
                        self.published += 1
                        del b
                    if self.cursor - acked == n:
                        last_progress = time.monotonic()  # the timer starts at first send
                    continue
            if self._stopping and (room <= 0 or self.cursor >= self.outbox.head_seq):
                return
            self.wake.clear()
            timeout = None
            if self.cursor > self.outbox.acked_through:
                timeout = max(0.0, last_progress + ack_timeout - time.monotonic())
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                log.warning(
                    "ack_timeout",
                    acked_through=self.outbox.acked_through,
                    published_through=self.cursor,
                    republish_from=self.outbox.acked_through + 1,
                    next_timeout_s=min(ack_timeout * 2, pub.ack_timeout * 16),
                )
                self.republished += self.cursor - self.outbox.acked_through
                self.cursor = self.outbox.acked_through
                last_progress = time.monotonic()
                ack_timeout = min(ack_timeout * 2, pub.ack_timeout * 16)

    async def _send_documents(self, session: MqttSession, batch: StoredBatch) -> None:
        """The documents a batch references, right after it (the collector accepts a
        document only once a stored batch names its digest, and holds its ack until every
        referenced document is stored; so a lost document is republished with its batch)."""
        seq = batch.seq
        for d in batch.documents:
            path = self.outbox.documents_dir / d.sha256
            try:
                data = await self.db(path.read_bytes)
            except OSError as exc:
                log.error("document_unreadable", sha256=d.sha256, seq=seq, error=str(exc))
                continue
            topic = document_topic(self.cfg.site, self.cfg.agent, d.sha256)
            await session.publish(topic, data, qos=1)
            self.documents_published += 1

    def request_stop(self) -> None:
        """Finish: publish what is committed, say goodbye on ``status``, then disconnect.

        The caller awaits the ``run`` task with a grace period and cancels it after that.
        """
        self._stopping = True
        self.wake.set()
