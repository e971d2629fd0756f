"""Helpers for agent tests: configs, a verifying subscriber and a stand-in collector ack-er.

The subscriber checks what a collector would: each envelope verifies with the agent's
public key, the payload validates, and the chain links. It acks like the collector does
(a signed ack retained on the ack topic, only for the contiguous prefix it holds), with the
collector key ``agent_config`` writes beside the agent's key (``keys/collector.key``).
Everything waits on conditions (a new message arrived), never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from protocols.ack import Ack, sign_ack
from protocols.chain import ChainLink, check_chain
from protocols.envelope import payload_hash, verify_envelope
from protocols.keys import load_private_key, load_public_jwk, public_key_from_jwk, write_key_pair
from protocols.payload import BatchPayload, parse_payload
from protocols.topics import ack_topic

TIMEOUT = 40.0  # generous overall bound for any awaited condition


def agent_config(
    tmp: Path,
    broker_port: int,
    devices: list[dict[str, Any]],
    *,
    site: str = "plant1",
    agent: str = "agent1",
    poll_interval: float = 0.2,
    publish_interval: float = 0.5,
    **extra: Any,
) -> dict[str, Any]:
    keys = tmp / "keys"
    if not (keys / "agent.key").exists():
        write_key_pair(keys)
    if not (keys / "collector.key").exists():
        write_key_pair(keys, name="collector")
    cfg: dict[str, Any] = {
        "site": site,
        "agent": agent,
        "key_file": str(keys / "agent.key"),
        "collector_key": str(keys / "collector.pub.jwk"),
        "data_dir": str(tmp / "data"),
        "broker": {
            "host": "127.0.0.1",
            "port": broker_port,
            "reconnect": {"initial": 0.1, "max": 0.5},
        },
        "devices": devices,
        "poll_groups": {"default": {"interval": poll_interval}},
        "publish": {"interval": publish_interval, "ack_timeout": 5},
    }
    cfg.update(extra)
    return cfg


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Received:
    seq: int
    envelope: bytes
    payload: BatchPayload
    raw_payload: bytes

    @property
    def hash(self) -> str:
        return payload_hash(self.raw_payload)


@dataclass
class Collector:
    """Subscribes to an agent's topics, verifies every batch, optionally acks."""

    port: int
    site: str
    agent: str
    jwk_path: Path
    ack: bool = True
    protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V5
    batches: dict[int, Received] = field(default_factory=dict)
    duplicates: int = 0
    equivocations: list[int] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    acked: int = 0
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)
    _task: asyncio.Task[None] | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Collector:
        self._key = public_key_from_jwk(load_public_jwk(self.jwk_path))
        self._collector_key = load_private_key(self.jwk_path.parent / "collector.key")
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._connected.wait(), TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task

    async def _run(self) -> None:
        """Keep a subscription alive across broker restarts (aiomqtt never reconnects)."""
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, protocol=self.protocol, identifier=None
                ) as client:
                    await client.subscribe(f"mrv/v1/{self.site}/{self.agent}/+", qos=1)
                    self._connected.set()
                    async for msg in client.messages:
                        await self._handle(client, str(msg.topic), bytes(msg.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError:
                self._connected.clear()
                await asyncio.sleep(0.1)

    async def _handle(self, client: aiomqtt.Client, topic: str, data: bytes) -> None:
        kind = topic.rsplit("/", 1)[1]
        if kind == "status":
            if data:
                self.status.append(json.loads(data))
        elif kind == "data":
            parsed = verify_envelope(data, lambda kid: self._key)
            payload = parse_payload(parsed.payload)
            have = self.batches.get(payload.seq)
            if have is not None:
                if have.envelope == data:
                    self.duplicates += 1
                else:
                    self.equivocations.append(payload.seq)
            else:
                self.batches[payload.seq] = Received(payload.seq, data, payload, parsed.payload)
            if self.ack:
                through = self.contiguous_through()
                if through > self.acked:
                    self.acked = through
                    ack = Ack(self.site, self.agent, through, self.batches[through].hash, 0)
                    await client.publish(
                        ack_topic(self.site, self.agent),
                        sign_ack(ack, self._collector_key),
                        qos=1,
                        retain=True,
                    )
        async with self._cond:
            self._cond.notify_all()

    def contiguous_through(self) -> int:
        n = 0
        while n + 1 in self.batches:
            n += 1
        return n

    async def wait_for(self, predicate: Callable[[], bool], what: str = "condition") -> None:
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(predicate), TIMEOUT)
            except TimeoutError:
                raise AssertionError(
                    f"timed out waiting for {what}; have seqs {sorted(self.batches)[-5:]}"
                ) from None

    def assert_chain(self) -> None:
        """Every seq from 1 present once, linked, nothing equivocated."""
        assert not self.equivocations, f"equivocation at seq {self.equivocations}"
        seqs = sorted(self.batches)
        assert seqs == list(range(1, len(seqs) + 1)), f"gaps in {seqs}"
        links = [
            ChainLink(s, self.batches[s].payload.prev, payload_hash(self.batches[s].raw_payload))
            for s in seqs
        ]
        brk = check_chain(links)
        assert brk is None, str(brk)

    def readings(self) -> list[Any]:
        return [r for s in sorted(self.batches) for r in self.batches[s].payload.readings]
