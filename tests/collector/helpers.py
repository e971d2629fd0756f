"""A small signing agent built from ``protocols`` (the real agent lands separately)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from collector.config import CollectorConfig, parse_config
from protocols.envelope import parse_envelope, payload_hash, sign_envelope
from protocols.errors import EnvelopeError
from protocols.keys import Ed25519PrivateKey, generate_private_key, public_jwk
from protocols.payload import encode_payload
from protocols.topics import ack_topic, data_topic
from simulators.processes import ManagedProcess, command

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass
class Signer:
    """Makes a valid chain of signed batches for one agent."""

    site: str
    agent: str
    key: Ed25519PrivateKey = field(default_factory=generate_private_key)
    seq: int = 0
    prev: str | None = None
    batches: dict[int, bytes] = field(default_factory=dict)
    payloads: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def jwk(self) -> dict[str, str]:
        return public_jwk(self.key)

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    @property
    def topic(self) -> str:
        return data_topic(self.site, self.agent)

    def payload(
        self, n: int = 10, *, seq: int | None = None, prev: str | None = None, **over: Any
    ) -> dict[str, Any]:
        seq = seq if seq is not None else self.seq + 1
        base = T0 + (seq - 1) * n * 1000
        p: dict[str, Any] = {
            "v": 1,
            "site": self.site,
            "agent": self.agent,
            "seq": seq,
            "prev": prev if prev is not None or seq == 1 else self.prev,
            "created": base + n * 1000,
            "clock": {"source": "ntp", "synced": True},
            "readings": [
                {
                    "id": f"potline1.p{i % 5}",
                    "ts": base + i * 1000,
                    "value": float(seq * 1000 + i),
                    "quality": "good",
                }
                for i in range(n)
            ],
            "events": [],
        }
        p.update(over)
        return p

    def sign(self, payload: dict[str, Any] | bytes, key: Ed25519PrivateKey | None = None) -> bytes:
        body = payload if isinstance(payload, bytes) else encode_payload(payload)
        k = key or self.key
        return sign_envelope(body, k, public_jwk(k)["kid"])

    def next(self, n: int = 10, **over: Any) -> bytes:
        """Sign the next batch of the chain and advance."""
        p = self.payload(n, **over)
        body = encode_payload(p)
        env = self.sign(body)
        self.seq = p["seq"]
        self.prev = payload_hash(body)
        self.batches[self.seq] = env
        self.payloads[self.seq] = p
        return env


def config_for(tmp: Path, port: int, **over: Any) -> CollectorConfig:
    data: dict[str, Any] = {
        "data_dir": str(tmp / "data"),
        "broker": {
            "host": "127.0.0.1",
            "port": port,
            "client_id": "collector-test",
            "reconnect_initial_s": 0.1,
            "reconnect_max_s": 1.0,
        },
        "limits": {"max_envelope_bytes": 4 * 1024 * 1024},
        "sites": {"smelter-1": {"industry": "aluminium"}},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return parse_config(data)


class Publisher:
    """A raw MQTT client that publishes anything on any topic and listens to acks."""

    def __init__(
        self, port: int, client_id: str, *, username: str | None = None, password: str | None = None
    ) -> None:
        self.client = aiomqtt.Client(
            "127.0.0.1",
            port,
            identifier=client_id,
            username=username,
            password=password,
            protocol=aiomqtt.ProtocolVersion.V5,
        )
        self.acks: dict[str, int] = {}
        self._ack_changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Publisher:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        await self.client.__aexit__(None, None, None)

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        await self.client.publish(topic, payload, qos=qos)

    async def follow_acks(self, site: str, agent: str) -> None:
        await self.client.subscribe(ack_topic(site, agent), qos=1)
        if self._task is None:
            self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for m in self.client.messages:
            try:  # the collector's signed ack (its signature is the agent's business)
                through = json.loads(parse_envelope(bytes(m.payload)).payload)["through"]  # type: ignore[arg-type]
            except (EnvelopeError, KeyError, ValueError):
                continue
            async with self._ack_changed:
                self.acks[m.topic.value] = through
                self._ack_changed.notify_all()

    async def wait_ack(self, site: str, agent: str, through: int, timeout: float = 30) -> None:
        topic = ack_topic(site, agent)

        async def _w() -> None:
            async with self._ack_changed:
                await self._ack_changed.wait_for(lambda: self.acks.get(topic, 0) >= through)

        await asyncio.wait_for(_w(), timeout)


def group_collector(
    tmp: Path,
    i: int,
    url: str,
    key: Path,
    port: int,
    sites: dict[str, dict[str, Any]],
    **over: Any,
) -> ManagedProcess:
    """``mrv-collector run`` number ``i`` of a shared-subscription group on store ``url``,
    signing acks with the group's one ``key`` (``TMP/collector-I/collector.yaml``)."""
    d = tmp / f"collector-{i}"
    d.mkdir(parents=True)
    cfg = {
        "data_dir": str(d / "data"),
        "database": url,
        "signing_key": str(key),
        "broker": {"host": "127.0.0.1", "port": port, "protocol": "5",
                   "shared_group": "collectors", "client_id": f"collector-{i}",
                   "reconnect_initial_s": 0.1, "reconnect_max_s": 1.0},
        "sites": sites,
        **over,
    }  # fmt: skip
    (d / "collector.yaml").write_text(yaml.safe_dump(cfg))
    p = ManagedProcess(
        f"collector-{i}",
        [*command("mrv-collector"), "run", "-c", str(d / "collector.yaml")],
        d / "collector.log",
    )
    p.ready_marker = "connected to broker"
    return p
