"""The collector's only contact with aiomqtt (its API moves between versions).

aiomqtt 2.x never reconnects by itself: ``connect`` opens one session and the caller's loop
(``collector.ingest``) retries with back-off. paho acknowledges QoS 1 deliveries itself on
receipt, which is why the contract's end-to-end ``ack`` topic, not PUBACK, tells an agent
that a batch is stored.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
from aiomqtt import MqttError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["BrokerError", "InboundMessage", "MqttConnection", "MqttSettings", "connect"]

#: Raised for every broker failure: refused, lost, timed out.
BrokerError = MqttError

#: How long the broker keeps a persistent MQTT 5 session after the collector disconnects.
SESSION_EXPIRY_S = 24 * 3600
DISCONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    client_id: str
    protocol: str = "5"  # "5" or "3.1.1"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls: bool = False
    tls_insecure: bool = False
    persistent_session: bool = True
    keepalive: int = 30
    will_topic: str | None = None
    will_payload: bytes = b""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    retain: bool


def _tls_context(s: MqttSettings) -> ssl.SSLContext | None:
    if not s.tls:
        return None
    ctx = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
    if s.cert_file is not None:
        ctx.load_cert_chain(str(s.cert_file), str(s.key_file) if s.key_file else None)
    if s.tls_insecure:
        ctx.check_hostname = False
    return ctx


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if payload is None:
        return b""
    return str(payload).encode("utf-8")


class MqttConnection:
    """One connected session: subscribe, receive in groups, publish."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._messages = client.messages

    async def subscribe(self, filters: list[str], qos: int = 1) -> None:
        for f in filters:
            await self._client.subscribe(f, qos=qos)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish; at QoS 1 this returns after the broker's PUBACK."""
        await self._client.publish(topic, payload, qos=qos, retain=retain)

    def _convert(self, m: aiomqtt.Message) -> InboundMessage:
        return InboundMessage(m.topic.value, _payload_bytes(m.payload), bool(m.retain))

    async def next_group(self, max_messages: int) -> list[InboundMessage]:
        """Wait for one message, then take whatever else is already queued (up to a limit).

        Messages queued before a disconnect are still handed out; ``BrokerError`` comes only
        when the queue is empty and the session is gone.
        """
        it = self._messages
        group = [self._convert(await anext(it))]
        while len(group) < max_messages and len(it) > 0:
            group.append(self._convert(await anext(it)))
        return group


@asynccontextmanager
async def connect(s: MqttSettings) -> AsyncIterator[MqttConnection]:
    v5 = s.protocol == "5"
    properties: Properties | None = None
    kwargs: dict[str, object] = {}
    if v5:
        properties = Properties(PacketTypes.CONNECT)
        if s.persistent_session:
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        kwargs["clean_start"] = not s.persistent_session
    else:
        kwargs["clean_session"] = not s.persistent_session
    will = None
    if s.will_topic is not None:
        will = aiomqtt.Will(s.will_topic, s.will_payload, qos=1, retain=True)
    client = aiomqtt.Client(
        s.host,
        s.port,
        identifier=s.client_id,
        username=s.username,
        password=s.password,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        keepalive=s.keepalive,
        tls_context=_tls_context(s),
        tls_insecure=s.tls_insecure if s.tls else None,
        properties=properties,
        will=will,
        timeout=10,
        **kwargs,  # type: ignore[arg-type]
    )
    await client.__aenter__()
    try:
        yield MqttConnection(client)
    finally:
        # aiomqtt waits without limit for the broker to confirm a disconnect; a collector
        # that is shutting down must not hang on a half-dead connection.
        with suppress(TimeoutError, MqttError):
            await asyncio.wait_for(
                asyncio.shield(client.__aexit__(None, None, None)), DISCONNECT_TIMEOUT_S
            )
