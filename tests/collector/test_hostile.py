"""Hostile and broken inputs published into a live stream (issue 6, "Must show").

Each is published with ``mosquitto_pub`` (or a raw client) while a valid agent streams; each
must land in quarantine with its reason, the collector keeps running and the valid stream is
stored complete, byte-exact.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from collector import Collector
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto

SITE = "smelter-1"
N = 60


async def mosquitto_pub(port: int, topic: str, data: bytes, tmp: Path) -> None:
    f = tmp / f"msg-{abs(hash((topic, data[:64], len(data))))}.bin"
    f.write_bytes(data)
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-f", str(f)
    )
    assert await proc.wait() == 0


async def test_hostile_inputs_are_quarantined_while_the_stream_is_stored(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = config_for(tmp_path, mosquitto.port)
    a, b = Signer(SITE, "agent-a"), Signer(SITE, "agent-b")
    stranger = Signer(SITE, "agent-a")  # same ids, key never enrolled
    async with Collector(cfg) as c:
        c.store.enroll_key(SITE, "agent-a", a.jwk)
        c.store.enroll_key(SITE, "agent-b", b.jwk)
        await c.connected.wait()
        envs = [a.next(100) for _ in range(N)]
        async with Publisher(mosquitto.port, "agent-a") as pub:
            await pub.follow_acks(SITE, "agent-a")

            async def stream(lo: int, hi: int) -> None:
                for env in envs[lo:hi]:
                    await pub.publish(a.topic, env)

            await stream(0, 5)
            await pub.wait_ack(SITE, "agent-a", 5)
            streaming = asyncio.create_task(stream(5, N))

            p = mosquitto.port
            await mosquitto_pub(p, a.topic, bytes(range(256)) * 4, tmp_path)  # garbage
            await mosquitto_pub(
                p, a.topic, b'{"readings": [1, 2, 3], "v": 1}', tmp_path
            )  # JSON, not JWS
            await mosquitto_pub(p, a.topic, stranger.next(10), tmp_path)  # unenrolled key
            await mosquitto_pub(
                p, a.topic, b.next(10), tmp_path
            )  # agent-b's key on agent-a's topic
            await mosquitto_pub(p, a.topic, envs[0], tmp_path)  # replayed old batch
            forged = a.payload(7, seq=3, prev=a.payloads[3]["prev"])  # seq 3, other content
            await mosquitto_pub(p, a.topic, a.sign(forged), tmp_path)
            big = b'{"protected":"' + b"A" * (10 * 1024 * 1024) + b'"}'  # 10 MB
            await mosquitto_pub(p, a.topic, big, tmp_path)
            bad = a.payload(3, seq=4, prev=a.payloads[4]["prev"])
            bad["readings"][1]["ts"] = "yesterday"
            await mosquitto_pub(p, a.topic, a.sign(bad), tmp_path)  # wrong type

            await streaming
            await pub.wait_ack(SITE, "agent-a", N)

            expected = Counter(
                {
                    "malformed": 2,
                    "unknown_kid": 1,
                    "kid_mismatch": 1,
                    "equivocation": 1,
                    "too_large": 1,
                    "wrong_type": 1,  # ts "yesterday": no coercion
                }
            )
            await c.wait_until(
                lambda: (
                    sum(c.stats.quarantined.values()) >= sum(expected.values())
                    and c.stats.duplicates >= 1
                )
            )

        got = Counter(e.reason for e in c.store.quarantine_entries(limit=1000))
        assert got == expected
        stored = list(c.store.envelopes(SITE, "agent-a"))
        assert [e.envelope for e in stored] == envs  # complete, byte-exact, replay not stored twice
        assert sum(1 for _ in c.store.readings(SITE)) == N * 100
        st = c.store.agent_state(SITE, "agent-a")
        assert (
            st is not None
            and st.contiguous_through == N
            and st.gaps == []
            and st.equivocations == 1
        )
        assert list(c.store.envelopes(SITE, "agent-b")) == []
        (huge,) = c.store.quarantine_entries(reason="too_large")
        assert (
            huge.size == len(big)
            and huge.truncated
            and len(huge.raw) == cfg.limits.quarantine_keep_bytes
        )
        assert c.connected.is_set() and c.stats.alarms == 1
