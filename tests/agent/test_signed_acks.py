"""Signed acks (DESIGN.md "Delivery"): only an ack that verifies with the configured
collector key, names this agent and matches the batch hash deletes anything; a forged ack on
a broker without ACL deletes nothing; after lost commits the chain continues at through + 1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt

from agent.batch import BatchSigner, resign
from agent.config import parse_config
from agent.core import Agent
from agent.outbox import BatchRow, Outbox
from agent.regmap import devices_from_map
from protocols.ack import Ack, sign_ack
from protocols.chain import ChainLink, check_chain
from protocols.compact import batch_readings
from protocols.envelope import parse_envelope, payload_hash
from protocols.keys import generate_private_key, load_private_key, public_jwk
from protocols.topics import ack_topic
from simulators.plant import PlantSimulator
from tests.agent.support import TIMEOUT, Collector, agent_config
from tests.support.servers import Mosquitto


async def _until(pred: object, what: str) -> None:
    async def loop() -> None:
        while not pred():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(loop(), TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_forged_acks_delete_nothing_and_a_genuine_one_does(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with PlantSimulator("meter") as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1]),
        )
        cfg = parse_config(raw)
        collector_key = load_private_key(tmp_path / "keys/collector.key")
        topic = ack_topic("plant1", "agent1")
        async with (
            Collector(
                mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk", ack=False
            ) as col,
            Agent(cfg) as agent,
            aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="intruder") as intruder,
        ):
            await col.wait_for(lambda: col.contiguous_through() >= 3, "three batches")
            ob, pub = agent.outbox, agent.publisher
            assert ob is not None and pub is not None
            h2 = col.batches[2].hash
            forged = [
                b'{"through": 999999}',  # the old unsigned ack
                sign_ack(
                    Ack("plant1", "agent1", 3, col.batches[3].hash, 0), generate_private_key()
                ),
                sign_ack(Ack("plant1", "other", 3, col.batches[3].hash, 0), collector_key),
                sign_ack(Ack("plant1", "agent1", 2, "0" * 64, 0), collector_key),  # wrong hash
                b"[" * 100_000,
            ]
            for i, msg in enumerate(forged, 1):
                await intruder.publish(topic, msg, qos=1, retain=True)
                await _until(lambda i=i: pub.acks_rejected >= i, f"forged ack {i} rejected")
            assert ob.acked_through == 0 and ob.stats().first_seq == 1
            seen = col.contiguous_through()
            await col.wait_for(lambda: col.contiguous_through() > seen, "publishing goes on")
            await intruder.publish(
                topic,
                sign_ack(Ack("plant1", "agent1", 2, h2, 0), collector_key),
                qos=1,
                retain=True,
            )
            await _until(lambda: ob.acked_through == 2, "the genuine ack applied")
            assert ob.stats().first_seq == 3 and pub.acks_rejected == len(forged)


def _signed(ob: Outbox, signer: BatchSigner, n: int, value: float) -> None:
    for _ in range(n):
        b = signer.build(
            ob.head_seq + 1, ob.head_hash, 1_700_000_000_000 + ob.head_seq,
            {"source": "system"}, [("p", 1_700_000_000_000, value, "good", None, None)],
        )  # fmt: skip
        ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)


def test_chain_continues_after_lost_commits(tmp_path: Path) -> None:
    """The collector stored 1..6; a power cut left the outbox at head 3; this process then
    committed 4' (new readings). A verified ack through 6 keeps 4' as seq 7 after hash 6."""
    key = generate_private_key()
    signer = BatchSigner("plant1", "agent1", key, public_jwk(key)["kid"])
    path = tmp_path / "o.sqlite3"
    with Outbox(path, site="plant1", agent="agent1") as ob:
        _signed(ob, signer, 3, 1.0)
    h6 = "ab" * 32
    with Outbox(path, site="plant1", agent="agent1") as ob:
        assert ob.opened_head == 3
        _signed(ob, signer, 1, 42.0)  # 4': committed by this process only
        assert ob.batch_hash(4) == ob.head_hash and ob.batch_hash(99) is None

        def again(env: bytes, seq: int, prev: str) -> BatchRow:
            b = resign(signer, env, seq, prev)
            return BatchRow(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)

        assert ob.continue_after(6, h6, again) == [(4, 7)]
        assert (ob.head_seq, ob.acked_through) == (7, 6)
        (b7,) = ob.unacked()
        payload = parse_envelope(b7.envelope).payload
        body = json.loads(payload)
        assert body["seq"] == 7 and body["prev"] == h6 and batch_readings(body)[0]["value"] == 42.0
        assert check_chain([ChainLink.of(7, h6, payload)], first_seq=7, first_prev=h6) is None
        assert b7.hash == payload_hash(payload)
        _signed(ob, signer, 1, 5.0)
        assert ob.head_seq == 8  # new batches follow on
    with Outbox(path, site="plant1", agent="agent1") as ob:
        assert (ob.head_seq, ob.acked_through, ob.collector_ahead) == (8, 6, None)
