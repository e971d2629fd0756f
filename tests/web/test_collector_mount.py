"""The web app mounted in a running collector (``http.app: collector.web:collector_app``):
batches published to a real Mosquitto show up in the API of the same process."""

from __future__ import annotations

from pathlib import Path

import httpx

from collector import Collector
from collector.web.tokens import TokenStore
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto

SITE = "smelter-1"


async def test_collector_serves_the_web_app(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = config_for(
        tmp_path,
        mosquitto.port,
        http={
            "enabled": True,
            "host": "127.0.0.1",
            "port": 0,
            "app": "collector.web:collector_app",
        },
    )
    s = Signer(SITE, "agent-a")
    async with Collector(cfg) as c, Publisher(mosquitto.port, "agent-a") as pub:
        c.store.enroll_key(SITE, "agent-a", s.jwk)
        token, _ = TokenStore(c.store.tokens).add("ops", "verifier", [SITE])
        await c.connected.wait()
        await pub.follow_acks(SITE, "agent-a")
        await pub.publish(
            f"mrv/v1/{SITE}/agent-a/status", b'{"online": true, "agent_version": "9.9"}'
        )
        for i in range(3):
            jump = s.payload(10)["created"] - 5000  # the gateway's clock stepped back 5 s
            events = (
                [
                    {"type": "clock_jump", "ts": jump, "jump_ms": -5000},
                    {"type": "poll_overrun", "ts": jump, "start": jump - 3000, "end": jump,
                     "missed": 3, "group": "default"},
                ]
                if i == 1
                else []
            )  # fmt: skip
            await pub.publish(s.topic, s.next(n=10, events=events))
        await pub.wait_ack(SITE, "agent-a", 3)
        await c.wait_until(lambda: c.stats.status_messages >= 1)
        assert c.http_port
        base = f"http://127.0.0.1:{c.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/api/v1/sites")).status_code == 401
            h = {"Authorization": f"Bearer {token}"}
            (agent,) = (await http.get(f"/api/v1/sites/{SITE}/agents", headers=h)).json()["agents"]
            assert agent["online"] is True and agent["agent_version"] == "9.9"
            assert agent["last_contiguous_seq"] == 3 and agent["open_gaps"] == []
            series = (
                await http.get(
                    f"/api/v1/sites/{SITE}/parameters/potline1.p0/series",
                    params={
                        "start": s.payloads[1]["readings"][0]["ts"],
                        "end": s.payloads[3]["created"],
                    },
                    headers=h,
                )
            ).json()
            assert series["readings"] == 6  # 3 batches x 10 readings over 5 parameters
            assert series["downsampled"] is False
            # clock jumps the agent reported are marked on every chart of the site
            assert [j["jump_ms"] for j in series["clock_jumps"]] == [-5000]
            # and why poll slots were missed (the gap's cause)
            assert [o["missed"] for o in series["poll_overruns"]] == [3]
            assert series["counter"] is None  # not a cumulative counter
            r = await http.get("/login")
            assert r.status_code == 200 and "mrv_" in r.text
