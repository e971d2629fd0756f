"""Several collectors, one PostgreSQL store: three ``Collector`` services in one MQTT 5
shared-subscription group on real Mosquitto. Batches published out of order reach
whichever collector the broker picks: each is stored exactly once, the chain is completed
in seq order (early arrivals held, not rejected), and the acks, signed by the group's one
collector key, reach the agent."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import pytest

from collector import Collector
from collector.store import open_store
from protocols.keys import write_key_pair
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.stores import fresh_url

SITE, AGENT = "smelter-1", "agent-a"


async def test_three_collectors_share_one_store(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Any
) -> None:
    url = fresh_url(request, tmp_path, "postgresql")
    key, _ = write_key_pair(tmp_path / "group-key", name="collector")  # one key for the group
    configs = [
        config_for(
            tmp_path / f"c{i}",
            mosquitto.port,
            database=url,
            signing_key=str(key),
            broker={"protocol": "5", "shared_group": "collectors", "client_id": f"collector-{i}"},
        )
        for i in range(3)
    ]
    s = Signer(SITE, AGENT)
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, s.jwk)
    envs = [s.next(5) for _ in range(30)]
    order = list(range(30))
    random.Random(3).shuffle(order)  # out of order on the wire
    async with contextlib.AsyncExitStack() as stack:
        cols = [await stack.enter_async_context(Collector(c)) for c in configs]
        for c in cols:
            await asyncio.wait_for(c.connected.wait(), 30)
        pub = await stack.enter_async_context(Publisher(mosquitto.port, "agent-a"))
        await pub.follow_acks(SITE, AGENT)
        for i in order:
            await pub.publish(s.topic, envs[i])
        await pub.wait_ack(SITE, AGENT, 30, timeout=60)
        accepted = [c.stats.accepted for c in cols]
    with open_store(url) as store:
        st = store.agent_state(SITE, AGENT)
        assert st is not None and st.contiguous_through == 30 and st.stored_batches == 30
        assert st.quarantined == 0 and st.gaps == []
        assert [e.envelope for e in store.envelopes(SITE, AGENT)] == envs
    assert sum(accepted) == 30 and sum(1 for n in accepted if n) >= 2, accepted
