from __future__ import annotations

from pathlib import Path

from collector import Collector
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto


async def test_stream_is_stored_and_acked(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = config_for(tmp_path, mosquitto.port)
    signer = Signer("smelter-1", "agent-a")
    async with Collector(cfg) as c:
        c.store.enroll_key(signer.site, signer.agent, signer.jwk)
        await c.connected.wait()
        async with Publisher(mosquitto.port, "agent-a") as pub:
            await pub.follow_acks(signer.site, signer.agent)
            for _ in range(20):
                await pub.publish(signer.topic, signer.next(50))
            await pub.wait_ack(signer.site, signer.agent, 20)
        st = c.store.agent_state("smelter-1", "agent-a")
        assert st is not None and st.contiguous_through == 20 and st.gaps == []
        # noted in the transaction that decided the ack, so before the agent can see it
        assert st.acked_through == 20
        assert len(list(c.store.readings("smelter-1"))) == 1000
        envs = list(c.store.envelopes("smelter-1", "agent-a"))
        assert [e.envelope for e in envs] == [signer.batches[i] for i in range(1, 21)]
