"""The OPC UA driver (asyncua): numeric variables of a DCS or PLC server, read by node id.

One session per server URL. A poll reads the Value attribute of all of a device's nodes in
one Read service call (``mode: subscribe``: the first poll of a session reads, then
monitors the nodes, and later polls take the latest value the server reported); each value's quality comes from its OPC UA status code (Good ->
good, Uncertain* -> uncertain, Bad* -> bad with the code's name as the reason, e.g.
``opcua:BadNodeIdUnknown``), its time from the poll slot or, with ``timestamps: source``,
from the server's SourceTimestamp. A lost session raises ``ReadFailed('connection')``; the
poller backs off and the next poll opens a new session.

This module is imported only when a device has ``transport: opcua``: asyncua stays out of
the memory of agents that read Modbus alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.crypto import security_policies

from agent.config import OpcuaDeviceConfig, OpcuaPointConfig
from agent.derived.base import ReadingTuple
from agent.drivers import DeviceLink, DeviceState, ReadFailed, judge

logging.getLogger("asyncua").setLevel(logging.CRITICAL)

#: Failures of a session or its transport (asyncua raises several kinds).
_LINK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    ConnectionError,
    ua.UaError,
    asyncio.IncompleteReadError,
)
#: and of opening one (a certificate that does not load raises ValueError)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*_LINK_ERRORS, ValueError)


@dataclass(slots=True)
class NodePoint:
    """One planned variable: its parameter id, node id and engineering conversion."""

    id: str
    node_id: str
    scale: float
    offset: float
    min: float | None
    max: float | None
    frozen_polls: int | None


@dataclass(slots=True)
class NodeRequest:
    """All variables of one device in one poll group: one Read service call."""

    points: list[NodePoint]
    source_timestamps: bool
    nodes: list[Any] = field(default_factory=list)  # asyncua Node objects, per session
    session: int = -1
    last_ts: list[int] = field(default_factory=list)  # per point: the last reading's time


def quality_of(code: ua.StatusCode) -> tuple[str, str | None]:
    """(quality, reason) from an OPC UA status code: its two severity bits (OPC 10000-4
    "StatusCode": 00 Good, 01 Uncertain, 10 Bad)."""
    if code.is_good():
        return "good", None
    name = code.name
    return ("uncertain" if code.is_uncertain() else "bad"), f"opcua:{name}"


def _ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:  # asyncua hands out UTC, naive in some versions
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def decode_values(
    out: list[ReadingTuple],
    req: NodeRequest,
    values: Sequence[ua.DataValue],
    ts: int,
    st: DeviceState,
) -> None:
    """Readings from a Read response: one per point, in the request's order.

    With source timestamps a reading takes the server's SourceTimestamp when it is newer
    than the point's previous reading; a value that has not changed keeps its old
    SourceTimestamp (OPC UA stamps changes), so it is read as holding at the poll slot."""
    last = req.last_ts
    if req.source_timestamps and len(last) != len(req.points):
        last[:] = [0] * len(req.points)
    for i, (p, dv) in enumerate(zip(req.points, values, strict=True)):
        when = ts
        if req.source_timestamps:
            src = _ms(dv.SourceTimestamp)
            when = src if src is not None and src > last[i] else max(ts, last[i] + 1)
            last[i] = when
        quality, reason = quality_of(dv.StatusCode or ua.StatusCode())
        raw = dv.Value.Value if dv.Value is not None else None
        if quality == "bad":
            out.append((p.id, when, None, "bad", reason, None))
            continue
        if isinstance(raw, bool):
            raw = int(raw)
        if not isinstance(raw, int | float):
            out.append((p.id, when, None, "bad", "not_numeric", None))
            continue
        value = raw * p.scale + p.offset if (p.scale != 1.0 or p.offset) else raw
        if quality == "uncertain":
            out.append((p.id, when, value, "uncertain", reason, None))
            continue
        judge(out, p.id, when, value, p.min, p.max, p.frozen_polls, st)


class OpcuaLink(DeviceLink):
    """One OPC UA session to one server URL."""

    def __init__(self, device: OpcuaDeviceConfig) -> None:
        self.url = device.endpoint
        self.timeout = device.timeout
        self.security = device.security
        self.subscribe = device.mode == "subscribe"
        self.publishing_ms = device.publishing_interval * 1000
        self.lock = asyncio.Lock()
        self._client: Client | None = None
        self._session = 0
        self._closing: set[asyncio.Task[None]] = set()
        self._subscription: Any = None
        self._latest: dict[Any, ua.DataValue] = {}  # subscribe: NodeId -> last reported value

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        """asyncua's data-change callback (subscribe mode): keep the latest DataValue."""
        self._latest[node.nodeid] = data.monitored_item.Value

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def connect(self) -> None:
        if self._client is not None:
            return
        client = Client(self.url, timeout=self.timeout)
        sec = self.security
        try:
            if sec.policy != "None":
                client.application_uri = sec.application_uri
                policy = getattr(security_policies, f"SecurityPolicy{sec.policy}")
                await client.set_security(
                    policy,
                    certificate=str(sec.certificate),
                    private_key=str(sec.private_key),
                    server_certificate=(
                        None if sec.server_certificate is None else str(sec.server_certificate)
                    ),
                    mode=getattr(ua.MessageSecurityMode, sec.mode),
                )
            await asyncio.wait_for(client.connect(), self.timeout + 2.0)
        except _CONNECT_ERRORS as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 1.0)
            raise ReadFailed("connection", f"{self.url}: {exc or type(exc).__name__}") from None
        self._client = client
        self._session += 1
        self._latest = {}
        self._subscription = None

    async def read(
        self, request: NodeRequest, ts: int, state: DeviceState, out: list[ReadingTuple]
    ) -> None:
        client = self._client
        if client is None:
            raise ReadFailed("connection", "not connected")
        fresh = request.session != self._session
        if fresh:  # Node objects belong to one session
            request.nodes = [client.get_node(p.node_id) for p in request.points]
            request.session = self._session
        try:
            if self.subscribe and not fresh:
                if client.uaclient.state is not UaClientState.CONNECTED:
                    raise ConnectionError("session lost")
                values = [self._latest_value(n) for n in request.nodes]
            else:
                values = await asyncio.wait_for(
                    client.read_attributes(request.nodes, ua.AttributeIds.Value),
                    self.timeout * 2 + 1.0,
                )
                if self.subscribe:  # first poll of a session: read, then monitor
                    await asyncio.wait_for(self._monitor(client, request), self.timeout * 2 + 1.0)
        except TimeoutError:
            self.close()
            raise ReadFailed("timeout", self.url) from None
        except _LINK_ERRORS as exc:
            self.close()
            raise ReadFailed("connection", f"{self.url}: {exc or type(exc).__name__}") from None
        decode_values(out, request, values, ts, state)

    def _latest_value(self, node: Any) -> ua.DataValue:
        dv = self._latest.get(node.nodeid)
        if dv is None:
            return ua.DataValue(
                None, ua.StatusCode(ua.UInt32(ua.StatusCodes.BadWaitingForInitialData))
            )
        return dv

    async def _monitor(self, client: Client, request: NodeRequest) -> None:
        if self._subscription is None:
            self._subscription = await client.create_subscription(self.publishing_ms, self)
        handles = await self._subscription.subscribe_data_change(request.nodes, queuesize=1)
        for node, handle in zip(request.nodes, handles, strict=True):
            if isinstance(handle, ua.StatusCode):  # e.g. BadNodeIdUnknown: never reported
                self._latest[node.nodeid] = ua.DataValue(None, handle)

    def describe(self) -> str:
        return self.url

    def close(self) -> None:
        """Drop the session; the CloseSession request is sent in the background."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(_disconnect(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _disconnect(client: Client) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 2.0)


class OpcuaDriver:
    name = "opcua"

    def link(self, device: OpcuaDeviceConfig) -> OpcuaLink:
        return OpcuaLink(device)

    def plan(self, device: OpcuaDeviceConfig, points: Sequence[Any]) -> list[NodeRequest]:
        pts: Sequence[OpcuaPointConfig] = points
        planned = [
            NodePoint(p.id, p.node_id, p.scale, p.offset, p.min, p.max, p.frozen_polls) for p in pts
        ]
        return [NodeRequest(planned, device.timestamps == "source")] if planned else []


DRIVER = OpcuaDriver()


async def read_nodes(
    url: str, node_ids: Sequence[str], timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Connect, read the nodes' values with their status and timestamps, close (``probe``)."""
    client = Client(url, timeout=timeout)
    try:
        await asyncio.wait_for(client.connect(), timeout + 2.0)
    except _CONNECT_ERRORS as exc:
        raise ReadFailed("connection", f"{url}: {exc or type(exc).__name__}") from None
    try:
        nodes = [client.get_node(n) for n in node_ids]
        values = await client.read_attributes(nodes, ua.AttributeIds.Value)
        out = []
        for nid, dv in zip(node_ids, values, strict=True):
            code = dv.StatusCode or ua.StatusCode()
            variant = dv.Value
            out.append(
                {
                    "node_id": nid,
                    "value": None if variant is None else _plain(variant.Value),
                    "type": None if variant is None else variant.VariantType.name,
                    "status": code.name,
                    "quality": quality_of(code)[0],
                    "source_timestamp": _ms(dv.SourceTimestamp),
                }
            )
        return out
    except _LINK_ERRORS as exc:
        raise ReadFailed("connection", f"{url}: {exc or type(exc).__name__}") from None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 2.0)


def _plain(v: Any) -> Any:
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


async def make_certificate(
    out_dir: Path, application_uri: str, host_name: str
) -> tuple[Path, Path]:
    """A self-signed agent certificate (DER, valid one year) and RSA key (PEM, mode 0600)
    for Basic256Sha256; valid existing files are kept. The server must trust the
    certificate (copy it to the server's trusted list)."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    out_dir.mkdir(parents=True, exist_ok=True)
    cert, key = out_dir / "agent-cert.der", out_dir / "agent-key.pem"
    old = os.umask(0o077)  # the key is never readable by others, not even for a moment
    try:
        await setup_self_signed_certificate(
            key,
            cert,
            application_uri,
            host_name,
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            {"organizationName": "Plant MRV agent"},
        )
    finally:
        os.umask(old)
    key.chmod(0o600)
    return cert, key
