"""An agent whose key is not enrolled learns it: the collector publishes a retained notice
(``unknown_kid`` and the enroll command) on the agent's notice topic; ``mrv-agent check``
reports it and fails; once the key is enrolled and a batch is accepted the notice is
cleared, and the quarantined entries show as resolved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from agent.check import check_devices
from agent.config import parse_config
from agent.core import Agent
from agent.regmap import devices_from_map
from collector import Collector
from collector.web import create_app
from collector.web.auth import COOKIE_NAME
from protocols.keys import load_public_jwk
from simulators.plant import PlantSimulator
from tests.agent.support import agent_config
from tests.collector.helpers import config_for
from tests.support.servers import Mosquitto

SITE, AGENT = "plant1", "agent1"


async def _until(pred, what: str, cond: asyncio.Condition) -> None:  # type: ignore[no-untyped-def]
    async def w() -> None:
        async with cond:
            await cond.wait_for(pred)

    try:
        await asyncio.wait_for(w(), 40)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_unenrolled_agent_is_told_and_check_fails(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with PlantSimulator("meter") as sim:
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1]),
        )
        cfg = parse_config(raw)
        ccfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "generic"}})
        async with Collector(ccfg) as col, Agent(cfg) as agent:
            assert agent.publisher is not None
            await _until(
                lambda: agent.publisher.rejected is not None, "the notice", agent.committed
            )
            notice = agent.publisher.rejected
            assert notice["reason"] == "unknown_kid" and notice["kid"] == agent.kid
            assert "mrv-collector enroll --site plant1 --agent agent1" in notice["hint"]
            # check sees the retained notice and fails, naming the reason
            report = await check_devices(cfg)
            assert report["ok"] is False and report["rejected"]["reason"] == "unknown_kid"

            # the operator enrolls the key: batches are accepted, the notice is cleared
            col.store.enroll_key(SITE, AGENT, load_public_jwk(tmp_path / "keys/agent.pub.jwk"))
            await _until(
                lambda: agent.publisher.rejected is None, "notice cleared", agent.committed
            )
            assert (await check_devices(cfg)).get("rejected") is None

            # the rejected batches come again after the ack timeout and are stored now
            def republished() -> bool:
                st = col.store.agent_state(SITE, AGENT)
                return st is not None and st.contiguous_through >= 2

            await col.wait_until(republished, timeout=40)
            app = create_app(col.store, sites=ccfg.sites)
            token, _ = app.state.tokens.add("t", "admin")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", cookies={COOKIE_NAME: token}
            ) as http:
                r = await http.get(f"/sites/{SITE}/quarantine")
            assert r.status_code == 200, r.text[:500]
            assert 'data-resolved="yes"' in r.text
