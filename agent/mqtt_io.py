"""The only module that calls aiomqtt (2.x: QoS 1 publish returns after PUBACK, no reconnect).

``MqttSession`` is one broker connection with a will, TLS and credentials from the config;
reconnecting with back-off is the publisher's job. ``MqttError`` is the one exception the
rest of the agent catches for anything that went wrong on the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
from aiomqtt import MqttError, ProtocolVersion, Will

from agent.config import BrokerConfig

__all__ = ["MqttError", "MqttSession"]

#: aiomqtt waits without limit for the broker to confirm a disconnect; an agent that is
#: stopping (SIGTERM) must not hang on a half-dead connection (the collector caps it the same).
DISCONNECT_TIMEOUT_S = 5.0


def _tls_context(cfg: BrokerConfig) -> ssl.SSLContext | None:
    if cfg.tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.tls.ca)
    if cfg.tls.cert is not None:
        ctx.load_cert_chain(cfg.tls.cert, cfg.tls.key)
    if cfg.tls.insecure:
        ctx.check_hostname = False
    return ctx


def read_password(path: Path | None) -> str | None:
    if path is None:
        return None
    return path.read_text(encoding="utf-8").strip()


class MqttSession:
    """An async context manager around one aiomqtt client connection."""

    def __init__(
        self,
        cfg: BrokerConfig,
        client_id: str,
        *,
        will_topic: str | None = None,
        will_payload: bytes | None = None,
    ) -> None:
        will = (
            Will(will_topic, will_payload, qos=1, retain=True) if will_topic is not None else None
        )
        self._client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=read_password(cfg.password_file),
            identifier=client_id,
            protocol=ProtocolVersion.V5 if cfg.protocol == "5" else ProtocolVersion.V311,
            will=will,
            keepalive=cfg.keepalive,
            timeout=cfg.connect_timeout,
            tls_context=_tls_context(cfg),
            clean_session=True if cfg.protocol != "5" else None,
        )

    async def __aenter__(self) -> MqttSession:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        with contextlib.suppress(TimeoutError, MqttError):
            await asyncio.wait_for(
                asyncio.shield(self._client.__aexit__(*exc)), DISCONNECT_TIMEOUT_S
            )

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        await self._client.publish(topic, payload, qos=qos, retain=retain)

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        await self._client.subscribe(topic, qos=qos)

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        async for msg in self._client.messages:
            payload = msg.payload
            if isinstance(payload, str):
                payload = payload.encode("utf-8")
            elif not isinstance(payload, bytes | bytearray):
                payload = b"" if payload is None else str(payload).encode()
            yield str(msg.topic), bytes(payload)
