"""Ingest over MQTT 3.1.1 and 5, shared subscriptions, broker restarts, the HTTP hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from collector import Collector, SqliteEvidenceStore
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto

SITE = "smelter-1"


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_both_protocol_versions(tmp_path: Path, mosquitto: Mosquitto, protocol: str) -> None:
    cfg = config_for(tmp_path, mosquitto.port, broker={"protocol": protocol})
    s = Signer(SITE, "agent-a")
    async with Collector(cfg) as c, Publisher(mosquitto.port, "agent-a") as pub:
        c.store.enroll_key(SITE, "agent-a", s.jwk)
        await c.connected.wait()
        await pub.follow_acks(SITE, "agent-a")
        for _ in range(5):
            await pub.publish(s.topic, s.next())
        await pub.wait_ack(SITE, "agent-a", 5)
        await pub.publish(
            f"mrv/v1/{SITE}/agent-a/status",
            b'{"online": true, "agent_version": "0.1.0", "kid": "x"}',
        )
        await c.wait_until(lambda: c.stats.status_messages >= 1)
        st = c.store.agent_state(SITE, "agent-a")
        assert st is not None and st.online is True and st.status is not None
        assert st.status["agent_version"] == "0.1.0"
        await pub.publish(f"mrv/v1/{SITE}/agent-a/status", b'{"online": false}')
        await c.wait_until(lambda: c.stats.status_messages >= 2)
        st = c.store.agent_state(SITE, "agent-a")
        assert st is not None and st.online is False


async def test_reconnects_after_broker_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = config_for(tmp_path, mosquitto.port)
    s = Signer(SITE, "agent-a")
    async with Collector(cfg) as c:
        c.store.enroll_key(SITE, "agent-a", s.jwk)
        await c.connected.wait()
        async with Publisher(mosquitto.port, "agent-a") as pub:
            await pub.follow_acks(SITE, "agent-a")
            await pub.publish(s.topic, s.next())
            await pub.wait_ack(SITE, "agent-a", 1)
        mosquitto.stop()
        mosquitto.start()
        await c.wait_until(lambda: c.stats.connects >= 2 and c.connected.is_set())
        async with Publisher(mosquitto.port, "agent-a") as pub:
            await pub.follow_acks(SITE, "agent-a")  # the re-published retained ack arrives
            await pub.wait_ack(SITE, "agent-a", 1)
            await pub.publish(s.topic, s.next())
            await pub.wait_ack(SITE, "agent-a", 2)
        assert [e.seq for e in c.store.envelopes(SITE, "agent-a")] == [1, 2]


async def test_shared_subscription_two_collectors_one_store(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    store = SqliteEvidenceStore(tmp_path / "shared.sqlite")
    s = Signer(SITE, "agent-a")
    store.enroll_key(SITE, "agent-a", s.jwk)
    cfgs = [
        config_for(
            tmp_path / name,
            mosquitto.port,
            broker={"client_id": name, "shared_group": "collectors"},
        )
        for name in ("collector-1", "collector-2")
    ]
    try:
        async with Collector(cfgs[0], store=store) as c1, Collector(cfgs[1], store=store) as c2:
            await c1.connected.wait()
            await c2.connected.wait()
            async with Publisher(mosquitto.port, "agent-a") as pub:
                await pub.follow_acks(SITE, "agent-a")
                for _ in range(40):
                    await pub.publish(s.topic, s.next())
                await pub.wait_ack(SITE, "agent-a", 40)
            assert c1.stats.accepted + c2.stats.accepted == 40
            assert c1.stats.accepted > 0 and c2.stats.accepted > 0
            assert [e.seq for e in store.envelopes(SITE, "agent-a")] == list(range(1, 41))
    finally:
        store.close()


async def test_http_app_is_served_in_the_same_loop(tmp_path: Path, mosquitto: Mosquitto) -> None:
    def create_app(collector: Any) -> FastAPI:
        api = FastAPI()

        @api.get("/sites")
        def sites() -> list[str]:
            return collector.store.sites()  # type: ignore[no-any-return]

        return api

    cfg = config_for(tmp_path, mosquitto.port, http={"enabled": True, "port": 0})
    async with Collector(cfg, http_app=create_app) as c:
        c.store.enroll_key(SITE, "agent-a", Signer(SITE, "agent-a").jwk)
        assert c.http_port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{c.http_port}") as http:
            r = await http.get("/sites")
        assert r.status_code == 200 and r.json() == [SITE]


async def test_default_http_app_is_the_web_ui(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = config_for(tmp_path, mosquitto.port, http={"enabled": True, "port": 0})
    async with (
        Collector(cfg) as c,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{c.http_port}") as http,
    ):
        assert (await http.get("/docs")).status_code == 200
        assert (await http.get("/api/v1/sites")).status_code == 401  # no token, no data
