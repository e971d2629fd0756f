"""The running collector: MQTT ingest → verification pipeline → evidence store → acks, plus
the InfluxDB mirror and an optional HTTP app, all in one event loop.

Verification and SQLite writes run in one dedicated worker thread, a group of messages per
transaction, so the event loop stays free for MQTT keep-alives and HTTP while a large group
commits. Acks are published only after the group's transaction has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collector import alarms as alarm_kinds
from collector.alarms import AlarmNotifier, GapWatch
from collector.config import CollectorConfig, ConfigError
from collector.documents import document_refs, import_folder
from collector.models import now_ms
from collector.mqtt_adapter import (
    BrokerError,
    InboundMessage,
    MqttConnection,
    MqttSettings,
    connect,
)
from collector.pipeline import Accepted, Decision, Duplicate, Quarantined, VerificationPipeline
from collector.store import EvidenceStore, IngestTransaction, StoreError, store_for
from protocols.ack import Ack, AckSigner
from protocols.errors import EnvelopeError, InvalidId
from protocols.payload import parse_status
from protocols.submission import MAX_DOCUMENT_BYTES
from protocols.topics import (
    DATA_FILTER,
    DOCUMENT_FILTER,
    STATUS_FILTER,
    ack_topic,
    notice_topic,
    parse_document_topic,
    parse_topic,
    shared,
)

log = logging.getLogger("collector.ingest")

#: Rejections an agent is told about on its notice topic (it can act on them).
NOTICE_REASONS = frozenset(
    {"unknown_kid", "kid_mismatch", "key_revoked", "key_expired", "bad_signature", "schema",
     "chain", "equivocation"}
)  # fmt: skip
NOTICE_REPEAT_S = 60.0
NOTICE_HINTS = {
    "unknown_kid": "the collector does not know key {kid}: ask its operator to run "
    "mrv-collector enroll --site {site} --agent {agent} --key agent.pub.jwk",
    "kid_mismatch": "key {kid} is enrolled for another site/agent: check site and agent in "
    "the config",
    "key_revoked": "key {kid} was revoked: make a new key (mrv-agent keygen) and enroll it",
    "key_expired": "the batch was created outside key {kid}'s validity period: check the clock",
}

#: How long shutdown waits for the group in progress (commit + acks) before cancelling it.
STOP_TIMEOUT_S = 15.0

#: The verifier web UI and HTTP API (issue 8), served when ``http.enabled`` names no other app.
DEFAULT_HTTP_APP = "collector.web:collector_app"

#: ``factory(collector) -> ASGI app``: how the HTTP API / web UI plugs into ``run``.
AppFactory = Callable[["Collector"], Any]


class IngestFailed(Exception):
    """Ingest cannot go on (e.g. the store refuses every write): the process must exit
    non-zero so its supervisor (systemd ``Restart=on-failure``, the demo) restarts it."""


@dataclass
class IngestStats:
    accepted: int = 0
    duplicates: int = 0
    readings: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    alarms: int = 0
    groups: int = 0
    internal_errors: int = 0
    status_messages: int = 0
    connects: int = 0
    documents: int = 0


def _settings(cfg: CollectorConfig) -> MqttSettings:
    b = cfg.broker
    tls = b.tls
    return MqttSettings(
        host=b.host,
        port=b.port,
        client_id=b.client_id,
        protocol=b.protocol,
        username=b.username,
        password=b.password(),
        tls=tls is not None,
        ca_file=tls.ca_file if tls else None,
        cert_file=tls.cert_file if tls else None,
        key_file=tls.key_file if tls else None,
        tls_insecure=bool(tls and tls.insecure),
        persistent_session=b.persistent_session,
        keepalive=b.keepalive_s,
    )


def load_app_factory(spec: str) -> AppFactory:
    """Import ``module:function``; the function builds the ASGI app for a collector."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(f"http.app: expected 'module:function', got {spec!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"http.app: cannot import {spec!r}: {exc}") from None


class Collector:
    """The collector service; use as ``async with Collector(config) as c: ...``.

    ``store`` is open for queries as soon as the context is entered. ``http_app`` (an ASGI
    app or a factory taking the collector) overrides ``config.http.app``.
    """

    def __init__(
        self,
        config: CollectorConfig,
        *,
        store: EvidenceStore | None = None,
        http_app: Any | None = None,
    ) -> None:
        self.config = config
        self._own_store = store is None
        self.store: EvidenceStore = store or store_for(config)
        from collector.identity import collector_key

        #: Signs every ack (agents trust only acks that verify with its public key).
        self.ack_key = collector_key(config)
        self._ack_signer = AckSigner(self.ack_key)
        self.pipeline = VerificationPipeline(max_envelope_bytes=config.limits.max_envelope_bytes)
        #: lab reports and settlement slips, in the store (collector/documents.py)
        self.documents = self.store.documents
        self._import_documents_folder()
        self.stats = IngestStats()
        self.alarms = AlarmNotifier(config.alarms)
        self._gaps = GapWatch(config.alarms.gap_after_s) if config.alarms.enabled else None
        self._offline: set[tuple[str, str]] = set()
        self._notices: list[tuple[str, str, bytes]] = []
        self._noticed: dict[tuple[str, str, str], float] = {}
        self._devices_down: dict[tuple[str, str], set[str]] = {}
        self.started_at = now_ms()
        self.connected = asyncio.Event()
        #: Set when ingest died for a reason it cannot handle; ``run`` then exits non-zero.
        self.failed = asyncio.Event()
        self.failure: BaseException | None = None
        self._http_app = http_app
        self._committed = asyncio.Condition()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mrv-ingest")
        self._tasks: list[asyncio.Task[None]] = []
        self._ingest_task: asyncio.Task[None] | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._waiting_for_messages = False
        self._conn: MqttConnection | None = None
        self._http_server: Any = None
        self.mirror: Any = None
        self.http_port: int | None = None

    def _import_documents_folder(self) -> None:
        """A data dir from before documents moved into the store: import it once."""
        try:
            import_folder(self.config.data_dir / "documents", self.store)
        except StoreError as exc:  # the folder stays; the next start tries again
            log.error("old documents folder not imported", extra={"fields": {"error": str(exc)}})

    # -- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._ingest_task = asyncio.create_task(self._supervised_ingest(), name="mrv-ingest")
        self._tasks.append(self._ingest_task)
        if self.config.alarms.enabled:
            self._tasks.append(asyncio.create_task(self._watch_offline(), name="mrv-alarms-watch"))
            self._tasks.append(
                asyncio.create_task(self._watch_deadlines(), name="mrv-deadline-watch")
            )
        if self.config.influx.enabled:
            from collector.influx_mirror import InfluxMirror

            self.mirror = InfluxMirror(self.config.influx, self.store)
            self._tasks.append(asyncio.create_task(self.mirror.run(), name="mrv-influx-mirror"))
        app = self._http_app
        if app is None and self.config.http.enabled:
            app = load_app_factory(self.config.http.app or DEFAULT_HTTP_APP)
        if app is not None and (self.config.http.enabled or self._http_app is not None):
            await self._start_http(app)

    async def close(self) -> None:
        if self._http_server is not None:
            self._http_server.should_exit = True
        # Ingest stops between groups: a group being stored is committed and acked first.
        self._stopping = True
        for task in self._tasks:
            if task is self._http_task:
                continue  # uvicorn stops on should_exit, running the app's lifespan shutdown
            if task is not self._ingest_task or self._waiting_for_messages:
                task.cancel()
        _, pending = (
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            if self._tasks
            else (set(), set())
        )
        for task in pending:
            log.warning(
                "task did not stop in time; cancelling", extra={"fields": {"task": task.get_name()}}
            )
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        # Let a group that is still committing finish before the store closes.
        await asyncio.get_running_loop().run_in_executor(self._executor, lambda: None)
        self._executor.shutdown(wait=True)
        if self.mirror is not None:
            self.mirror.close()
        self.alarms.close()
        if self._own_store:
            self.store.close()

    async def _start_http(self, app: Any) -> None:
        import uvicorn

        if _is_factory(app):
            app = app(self)

        class _EmbeddedServer(uvicorn.Server):
            # The collector owns SIGTERM/SIGINT; uvicorn must not capture them.
            @contextlib.contextmanager
            def capture_signals(self):
                yield

        _check_port_free(self.config.http.host, self.config.http.port)
        cfg = uvicorn.Config(
            app,
            host=self.config.http.host,
            port=self.config.http.port,
            ssl_certfile=str(tls.cert_file) if (tls := self.config.http.tls) else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        server = _EmbeddedServer(cfg)
        self._http_server = server
        task = asyncio.create_task(server.serve(), name="mrv-http")
        self._http_task = task
        self._tasks.append(task)
        while not server.started:
            if task.done():
                try:
                    task.result()
                except BaseException as exc:  # uvicorn exits (SystemExit) when it cannot bind
                    raise ConfigError(
                        f"http: the server did not start ({type(exc).__name__}: {exc}); "
                        f"check http.host and http.port"
                    ) from None
                raise ConfigError("http: server stopped before it started")
            await asyncio.sleep(0.01)
        sockets = [s for srv in server.servers for s in srv.sockets]
        self.http_port = sockets[0].getsockname()[1] if sockets else self.config.http.port

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate()`` holds, re-checked after every committed group and connect."""

        async def _wait() -> None:
            async with self._committed:
                await self._committed.wait_for(predicate)

        await asyncio.wait_for(_wait(), timeout)

    # -- ingest ------------------------------------------------------------------------
    async def _supervised_ingest(self) -> None:
        """Ingest must never end silently while the process runs: a hostile message is
        quarantined inside ``_process``; anything that still escapes here means ingest cannot
        go on, so it is logged, ``failed`` is set and ``mrv-collector run`` exits non-zero."""
        try:
            await self._ingest_forever()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the supervisor must see every death
            self.failure = exc
            log.critical(
                "ingest stopped; the collector must be restarted",
                extra={"fields": {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}},
                exc_info=not isinstance(exc, IngestFailed),
            )
            self.failed.set()
            async with self._committed:
                self._committed.notify_all()

    async def _ingest_forever(self) -> None:
        cfg = self.config.broker
        settings = _settings(self.config)
        filters = [DATA_FILTER, STATUS_FILTER, DOCUMENT_FILTER]
        if cfg.shared_group:
            filters = [shared(f, cfg.shared_group) for f in filters]
        delay = cfg.reconnect_initial_s
        while True:
            try:
                async with connect(settings) as conn:
                    self._conn = conn
                    await conn.subscribe(filters, qos=1)
                    self.stats.connects += 1
                    delay = cfg.reconnect_initial_s
                    log.info(
                        "connected to broker",
                        extra={"fields": {"broker": f"{cfg.host}:{cfg.port}", "filters": filters}},
                    )
                    self.connected.set()
                    async with self._committed:
                        self._committed.notify_all()
                    await self._republish_acks(conn)
                    while not self._stopping:
                        self._waiting_for_messages = True
                        try:
                            group = await conn.next_group(self.config.limits.group_max_messages)
                        finally:
                            self._waiting_for_messages = False
                        await self._handle_group(conn, group)
                    return
            except BrokerError as exc:
                self.connected.clear()
                self._conn = None
                log.warning(
                    "broker connection failed; reconnecting",
                    extra={"fields": {"error": str(exc), "retry_in_s": round(delay, 2)}},
                )
            if self._stopping:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, cfg.reconnect_max_s)

    async def _republish_acks(self, conn: MqttConnection) -> None:
        """After (re)connecting, re-send every agent's ack: one may have been lost in a crash
        between commit and publish."""
        acks = await asyncio.get_running_loop().run_in_executor(self._executor, self._all_acks)
        await self._publish_acks(conn, acks)

    def _all_acks(self) -> list[tuple[str, bytes]]:
        """Worker thread: each agent's ack of its contiguous prefix (the hash stored at its
        end), signed, and noted as sent in the same transaction."""
        out: dict[tuple[str, str], tuple[int, str]] = {}
        states = [st for st in self.store.agents() if st.contiguous_through > 0]
        if not states:
            return []
        with self.store.ingest((st.site, st.agent) for st in states) as tx:
            for st in states:
                _decide_ack(tx, (st.site, st.agent), st.contiguous_through, out)
        return self._signed_acks(out)

    def _signed_acks(self, acks: dict[tuple[str, str], tuple[int, str]]) -> list[tuple[str, bytes]]:
        """Worker thread: (topic, signed ack) for each agent; one Ed25519 signature each."""
        sign = self._ack_signer.sign
        return [
            (ack_topic(site, agent), sign(Ack(site, agent, through, digest, now_ms())))
            for (site, agent), (through, digest) in acks.items()
        ]

    async def _publish_acks(self, conn: MqttConnection, acks: list[tuple[str, bytes]]) -> None:
        """Publish the signed acks (already noted as sent in the transaction that decided
        them: a lost one is harmless, every ack is sent again after a reconnect)."""
        for topic, body in acks:
            await conn.publish(topic, body, qos=1, retain=True)

    async def _handle_group(self, conn: MqttConnection, group: list[InboundMessage]) -> None:
        loop = asyncio.get_running_loop()
        # Shielded: once a group is handed to the worker its commit and acks complete even if
        # shutdown cancels the ingest task meanwhile.
        acks = await asyncio.shield(loop.run_in_executor(self._executor, self._process, group))
        async with self._committed:
            self._committed.notify_all()
        if self.mirror is not None:
            self.mirror.wake.set()
        await self._publish_acks(conn, acks)
        await self._publish_notices(conn)

    async def _publish_notices(self, conn: MqttConnection) -> None:
        """Tell an agent that its batches are rejected (retained, on its notice topic), or
        clear that once one is accepted again. Never fails ingest."""
        notices, self._notices = self._notices, []
        for site, agent, body in notices:
            try:
                await conn.publish(notice_topic(site, agent), body, qos=1, retain=True)
            except BrokerError as exc:
                log.warning("notice not published", extra={"fields": {"error": str(exc)}})

    def _notice(self, d: Quarantined) -> None:
        if d.site is None or d.agent is None or d.reason not in NOTICE_REASONS:
            return
        key = (d.site, d.agent, d.reason)
        now = time.monotonic()
        if now - self._noticed.get(key, -1e9) < NOTICE_REPEAT_S:
            return
        self._noticed[key] = now
        hint = NOTICE_HINTS.get(d.reason, "").format(site=d.site, agent=d.agent, kid=d.kid)
        body = {
            "v": 1,
            "site": d.site,
            "agent": d.agent,
            "reason": d.reason,
            "message": d.message[:500],
            "kid": d.kid,
            "seq": d.seq,
            "at": now_ms(),
            "hint": hint,
        }
        self._notices.append((d.site, d.agent, json.dumps(body, ensure_ascii=False).encode()))

    def _process(self, group: list[InboundMessage]) -> list[tuple[str, bytes]]:
        """Worker thread: verify and store a group; return the signed acks to send.

        The group is one transaction. If it fails for an unforeseen reason (a bug, a value
        the store cannot hold), it is rolled back and every message is processed alone, so
        the legitimate ones are stored and only the one that fails is quarantined with
        reason ``internal``. If even that quarantine cannot be written, ingest cannot go on.
        """
        try:
            return self._signed_acks(self._process_group(group))
        except Exception as exc:  # quarantine and go on (DESIGN.md "Security")
            first = exc
        log.error(
            "group failed; processing its messages one by one",
            extra={"fields": {"error": f"{type(first).__name__}: {str(first)[:300]}"}},
        )
        acks: dict[tuple[str, str], tuple[int, str]] = {}
        for msg in group:
            try:
                acks.update(self._process_group([msg]))
            except Exception as exc:  # this message only
                self._quarantine_internal(msg, exc)
        return self._signed_acks(acks)

    def _quarantine_internal(self, msg: InboundMessage, exc: BaseException) -> None:
        self.stats.internal_errors += 1
        detail = f"{type(exc).__name__}: {str(exc)[:400]}"
        log.error(
            "message could not be processed; quarantined",
            extra={"fields": {"topic": msg.topic, "error": detail, "bytes": len(msg.payload)}},
        )
        where: tuple[str | None, str | None] = (None, None)
        with contextlib.suppress(InvalidId):
            t = parse_topic(msg.topic)
            where = (t.site, t.agent)
        q = Quarantined(
            "internal", f"could not be processed: {detail}", msg.topic, msg.payload, *where
        )
        try:
            with self.store.ingest(()) as tx:  # a quarantine touches no agent's chain
                tx.quarantine(q, now_ms())
        except Exception as exc2:
            raise IngestFailed(f"cannot even quarantine a message: {exc2}") from exc2
        self.stats.quarantined["internal"] += 1

    def _process_group(self, group: list[InboundMessage]) -> dict[tuple[str, str], tuple[int, str]]:
        """Verify and store a group in one transaction, the acks it allows noted as sent in
        it too; return those acks (agent → through, hash) to sign and publish."""
        received = now_ms()
        decisions: list[Decision] = []
        statuses: list[tuple[str, str, bool, dict[str, Any] | None]] = []
        acks: dict[tuple[str, str], tuple[int, str]] = {}
        wanted: set[tuple[str, str]] = set()
        with self.store.ingest(_group_agents(group)) as tx:
            for msg in group:
                doc = self._document_topic(msg, tx, received)
                if doc is not None:
                    if isinstance(doc, Quarantined):
                        decisions.append(doc)
                        tx.quarantine(doc, received)
                    else:
                        wanted.add(doc)
                    continue
                if msg.topic.endswith("/status"):
                    st = self._status(msg)
                    if isinstance(st, Quarantined):
                        decisions.append(st)
                        tx.quarantine(st, received)
                    elif st is not None:
                        statuses.append(st)
                    continue
                decision = self.pipeline.decide(msg.topic, msg.payload, tx)
                decisions.append(decision)
                if isinstance(decision, Accepted):
                    tx.store_batch(decision, received)
                    refs = document_refs(decision.site, decision.agent, decision.payload)
                    if refs:
                        # the same transaction: the ack is held until every one is stored
                        tx.reference_documents(refs)
                        for sha in tx.documents_from_quarantine(refs, received):
                            self.stats.documents += 1
                            log.info(
                                "document taken from its quarantined copy",
                                extra={"fields": {"sha256": sha, "seq": decision.seq}},
                            )
                    if self._gaps is not None:
                        for a in self._gaps.observe(
                            decision.site, decision.agent, decision.payload.readings
                        ):
                            self.alarms.notify(a)
                elif isinstance(decision, Quarantined):
                    tx.quarantine(decision, received)
                if isinstance(decision, Accepted | Duplicate):
                    tx.seen(decision.site, decision.agent, received)
                    wanted.add((decision.site, decision.agent))
            for key in wanted:
                _decide_ack(tx, key, tx.contiguous_through(*key), acks)
        for site, agent, online, data in statuses:
            self.store.record_status(site, agent, online, data, received)
            self._status_alarms(site, agent, online, data)
        # Counted only now that they are stored: tests and callers wait on these counters.
        self.stats.status_messages += sum(1 for m in group if m.topic.endswith("/status"))
        self._account(decisions)
        return acks

    def _document_topic(
        self, msg: InboundMessage, tx: IngestTransaction, received: int
    ) -> tuple[str, str] | Quarantined | None:
        """A document message: stored if a stored batch of that agent references its digest
        (then the agent's ack may move); otherwise quarantined with the reason. None for
        any other topic."""
        try:
            parsed = parse_document_topic(msg.topic)
        except InvalidId as exc:
            return Quarantined("topic", str(exc), msg.topic, msg.payload)
        if parsed is None:
            return None
        site, agent, sha = parsed

        def reject(reason: str, message: str) -> Quarantined:
            return Quarantined(reason, message, msg.topic, msg.payload, site, agent)

        if len(msg.payload) > MAX_DOCUMENT_BYTES:
            return reject("document_too_large", f"{len(msg.payload)} bytes > 20 MB")
        if hashlib.sha256(msg.payload).hexdigest() != sha:
            return reject("document_digest_mismatch", "bytes do not hash to the topic's digest")
        if not tx.document_referenced(site, agent, sha):
            return reject(
                "document_unreferenced",
                "no stored batch of this agent references the digest yet (a whole copy "
                "kept here is stored when such a batch arrives)",
            )
        if tx.store_document(sha, msg.payload, received):
            self.stats.documents += 1
        return (site, agent)

    def _status(
        self, msg: InboundMessage
    ) -> tuple[str, str, bool, dict[str, Any] | None] | Quarantined | None:
        """A birth/death message, or its quarantine (strict JSON, like batches)."""
        if not msg.payload:
            return None  # a cleared retained message
        try:
            t = parse_topic(msg.topic)
        except InvalidId as exc:
            return Quarantined("topic", str(exc), msg.topic, msg.payload)
        try:
            status, data = parse_status(
                msg.payload, max_bytes=self.config.limits.max_envelope_bytes
            )
        except EnvelopeError as exc:
            return Quarantined(
                exc.reason, f"status message: {exc}", msg.topic, msg.payload, t.site, t.agent
            )
        return t.site, t.agent, status.online, data if status.online else None

    def _status_alarms(
        self, site: str, agent: str, online: bool, data: dict[str, Any] | None
    ) -> None:
        """Death message → agent offline; a device the agent reports unreachable → down."""
        if not online:
            if (site, agent) not in self._offline:
                self._offline.add((site, agent))
                st = self.store.agent_state(site, agent)
                self.alarms.notify(
                    alarm_kinds.agent_offline(site, agent, st.last_seen if st else None, will=True)
                )
            return
        if (site, agent) in self._offline:
            self._offline.discard((site, agent))
            self.alarms.forget("agent_offline", site, agent)
        devices = (data or {}).get("devices")
        if not isinstance(devices, list):
            return
        down = self._devices_down.setdefault((site, agent), set())
        for dev in devices:
            if not isinstance(dev, dict) or not isinstance(dev.get("name"), str):
                continue
            name = dev["name"]
            if dev.get("connected") is False:
                if name not in down:
                    down.add(name)
                    cause = dev.get("last_error")
                    self.alarms.notify(
                        alarm_kinds.device_down(
                            site, agent, name, cause if isinstance(cause, str) else None
                        )
                    )
            elif name in down:
                down.discard(name)
                self.alarms.forget("device_down", site, agent, name)

    async def _watch_offline(self) -> None:
        """Agents silent for longer than ``alarms.offline_after_s`` (wall clock)."""
        loop = asyncio.get_running_loop()
        limit_ms = self.config.alarms.offline_after_s * 1000
        while True:
            await asyncio.sleep(self.config.alarms.check_interval_s)
            try:
                states = await loop.run_in_executor(self._executor, self.store.agents)
            except Exception as exc:  # an alarm check must never stop the collector
                log.warning("offline check failed", extra={"fields": {"error": str(exc)}})
                continue
            now = now_ms()
            for st in states:
                key = (st.site, st.agent)
                seen = max(st.last_seen or 0, st.status_at or 0) or None
                silent = seen is None or now - seen > limit_ms
                if silent and key not in self._offline:
                    self._offline.add(key)
                    self.alarms.notify(alarm_kinds.agent_offline(st.site, st.agent, seen))
                elif not silent and st.online is not False and key in self._offline:
                    self._offline.discard(key)
                    self.alarms.forget("agent_offline", st.site, st.agent)

    async def _watch_deadlines(self) -> None:
        """Months not sealed/submitted whose internal or platform deadline is near or past."""
        from collector.records.month_status import deadline_alarms

        loop = asyncio.get_running_loop()
        while True:
            try:
                due = await loop.run_in_executor(
                    self._executor, deadline_alarms, self.config, self.store, now_ms()
                )
            except Exception as exc:  # an alarm check must never stop the collector
                log.warning("deadline check failed", extra={"fields": {"error": str(exc)}})
                due = []
            for alarm in due:
                self.alarms.notify(alarm)
            await asyncio.sleep(max(self.config.alarms.check_interval_s, 1.0))

    def _account(self, decisions: list[Decision]) -> None:
        s = self.stats
        s.groups += 1
        for d in decisions:
            if isinstance(d, Accepted):
                s.accepted += 1
                stale = [k for k in self._noticed if k[:2] == (d.site, d.agent)]
                if stale:  # accepted again: clear the agent's rejection notice
                    for k in stale:
                        del self._noticed[k]
                    self._notices.append((d.site, d.agent, b""))
                s.readings += len(d.payload.readings)
                log.debug(
                    "batch stored",
                    extra={"fields": {"site": d.site, "agent": d.agent, "seq": d.seq}},
                )
            elif isinstance(d, Duplicate):
                s.duplicates += 1
                log.info(
                    "duplicate batch acknowledged",
                    extra={"fields": {"site": d.site, "agent": d.agent, "seq": d.seq}},
                )
            else:
                s.quarantined[d.reason] += 1
                self._notice(d)
                if d.reason in ("chain", "equivocation") and d.site and d.agent:
                    self.alarms.notify(
                        alarm_kinds.chain_break(d.site, d.agent, d.reason, d.message, d.seq)
                    )
                else:
                    self.alarms.notify(
                        alarm_kinds.quarantine(d.site, d.agent, d.reason, d.message, d.seq)
                    )
                fields = {
                    "reason": d.reason,
                    "detail": d.message[:500],
                    "topic": d.topic,
                    "site": d.site,
                    "agent": d.agent,
                    "kid": d.kid,
                    "seq": d.seq,
                    "bytes": len(d.raw),
                }
                if d.alarm:
                    s.alarms += 1
                    log.error("ALARM: equivocation, batch quarantined", extra={"fields": fields})
                else:
                    log.warning("batch quarantined", extra={"fields": fields})


def _group_agents(group: list[InboundMessage]) -> set[tuple[str, str]]:
    """The agents whose chains and documents a group's transaction may touch: the site and
    agent of every batch and document topic (their ingest locks on PostgreSQL). A topic that
    does not parse only ever reaches the quarantine."""
    out: set[tuple[str, str]] = set()
    for msg in group:
        with contextlib.suppress(InvalidId):
            doc = parse_document_topic(msg.topic)
            if doc is not None:
                out.add(doc[:2])
                continue
            t = parse_topic(msg.topic)
            if t.kind != "status":
                out.add((t.site, t.agent))
    return out


def _check_port_free(host: str, port: int) -> None:
    """A one-line config error for an HTTP port in use, before uvicorn tries (and exits)."""
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"http.port: {host}:{port} cannot be used ({exc.strerror or exc}); "
                "set http.port to a free port (or http.enabled: false)"
            ) from None


def _is_factory(obj: Any) -> bool:
    """A FastAPI/Starlette app is callable too; treat only plain functions as factories."""
    import inspect

    return inspect.isfunction(obj) or inspect.ismethod(obj)


def _decide_ack(
    tx: IngestTransaction,
    key: tuple[str, str],
    contiguous: int,
    acks: dict[tuple[str, str], tuple[int, str]],
) -> None:
    """The ack an agent's contiguous prefix allows (through, hash stored there) into
    ``acks``, noted as sent in the same transaction; none while nothing is stored."""
    through = tx.ack_limit(*key, contiguous)
    link = tx.stored_link(*key, through) if through > 0 else None
    if link is not None:
        acks[key] = (through, link.hash)
        tx.mark_acked(*key, through)
