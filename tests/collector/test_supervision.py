"""Ingest is supervised: an unforeseen failure on one message quarantines that message
(reason ``internal``) and ingest goes on; when ingest truly cannot go on, the collector says
so (``failed``) and ``mrv-collector run`` exits non-zero for its supervisor to restart it.

The faults are injected through a real SQLite store whose one write method raises, the way a
value the database cannot hold (SQLite's ``OverflowError``) or a full disk would.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collector import Collector
from collector.service import IngestFailed
from collector.store import sqlite_file
from collector.store.sqlite import SqliteEvidenceStore
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto

SITE = "smelter-1"


class _StoreFailingAt(SqliteEvidenceStore):
    """Raises ``OverflowError`` when storing batch ``bad_seq`` (as SQLite does for an int
    beyond 64 bits); with ``broken`` every write transaction fails."""

    def __init__(self, path: Path, bad_seq: int = 0, broken: bool = False) -> None:
        super().__init__(path)
        self.bad_seq = bad_seq
        self.broken = broken

    @contextlib.contextmanager
    def ingest(self, agents: Any = None) -> Iterator[Any]:
        if self.broken:
            raise sqlite3.OperationalError("disk I/O error")
        with super().ingest(agents) as tx:
            store_batch = tx.store_batch

            def checked(batch: Any, received_at: int) -> None:
                if batch.seq == self.bad_seq:
                    raise OverflowError("Python int too large to convert to SQLite INTEGER")
                store_batch(batch, received_at)

            tx.store_batch = checked
            yield tx


async def test_one_failing_message_is_quarantined_and_ingest_goes_on(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = config_for(tmp_path, mosquitto.port)
    store = _StoreFailingAt(sqlite_file(cfg.database_url), bad_seq=3)
    a = Signer(SITE, "agent-a")
    store.enroll_key(SITE, "agent-a", a.jwk)
    envs = [a.next(20) for _ in range(6)]
    try:
        async with Collector(cfg, store=store) as c:
            await c.connected.wait()
            async with Publisher(mosquitto.port, "agent-a") as pub:
                await pub.follow_acks(SITE, "agent-a")
                for env in envs:
                    await pub.publish(a.topic, env)
                await pub.wait_ack(SITE, "agent-a", 2)
                await c.wait_until(lambda: c.stats.accepted == 5)
                # ingest is alive: the same batch again is now stored and closes the gap
                store.bad_seq = 0
                await pub.publish(a.topic, envs[2])
                await pub.wait_ack(SITE, "agent-a", 6)
            (q,) = c.store.quarantine_entries(reason="internal")
            assert q.seq is None and q.agent == "agent-a" and "OverflowError" in q.message
            assert [e.envelope for e in c.store.envelopes(SITE, "agent-a")] == envs
            assert not c.failed.is_set() and c.stats.internal_errors == 1
    finally:
        store.close()


async def test_ingest_that_cannot_go_on_is_reported_not_silent(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = config_for(tmp_path, mosquitto.port)
    store = _StoreFailingAt(sqlite_file(cfg.database_url), broken=True)
    a = Signer(SITE, "agent-a")
    try:
        async with Collector(cfg, store=store) as c:
            await c.connected.wait()
            async with Publisher(mosquitto.port, "agent-a") as pub:
                await pub.publish(a.topic, a.next(5))
                await c.wait_until(c.failed.is_set)
            assert isinstance(c.failure, IngestFailed)
            assert "disk I/O error" in str(c.failure)
    finally:
        store.close()
