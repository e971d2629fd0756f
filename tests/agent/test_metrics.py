"""The agent's Prometheus ``/metrics``, scraped while it polls a simulator and a dead device."""

from __future__ import annotations

from pathlib import Path

import httpx

from agent.config import parse_config
from agent.core import Agent
from agent.regmap import devices_from_map
from simulators.plant import PlantSimulator
from tests.agent.support import Collector, agent_config
from tests.support.servers import Mosquitto, free_port


def samples(text: str) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    }


async def test_agent_metrics_are_scraped(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with PlantSimulator("meter") as sim:
        devices = devices_from_map(sim.describe(), host="127.0.0.1", port=sim.port, units=[1])
        dead = {**devices[0], "name": "dead_meter", "port": free_port(), "timeout": 0.2}
        dead["points"] = [{**dead["points"][0], "id": "dead_power"}]
        raw = agent_config(
            tmp_path,
            mosquitto.port,
            [*devices, dead],
            metrics={"enabled": True, "host": "127.0.0.1", "port": 0},
        )
        async with (
            Collector(mosquitto.port, "plant1", "agent1", tmp_path / "keys/agent.pub.jwk") as col,
            Agent(parse_config(raw)) as agent,
        ):
            await col.wait_for(lambda: col.contiguous_through() >= 2, "two batches")
            async with agent.committed:
                await agent.committed.wait_for(lambda: agent.publisher.acks >= 1)

            # the status message tells the collector which device is down, and why
            def dead_reported() -> bool:
                return any(
                    d["name"] == "dead_meter" and d["connected"] is False
                    for st in col.status
                    for d in st.get("devices") or []
                )

            await col.wait_for(dead_reported, "status with dead_meter down")
            url = f"http://127.0.0.1:{agent.metrics_port}"
            async with httpx.AsyncClient(base_url=url) as http:
                r = await http.get("/metrics")
                assert (await http.get("/other")).status_code == 404
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    s = samples(r.text)
    lab = 'site="plant1",agent="agent1"'
    assert s[f"mrv_agent_batches_committed_total{{{lab}}}"] >= 2
    assert s[f"mrv_agent_acks_total{{{lab}}}"] >= 1
    assert s[f"mrv_agent_outbox_acked_seq{{{lab}}}"] >= 1
    assert s[f"mrv_agent_outbox_depth{{{lab}}}"] == (
        s[f"mrv_agent_outbox_head_seq{{{lab}}}"] - s[f"mrv_agent_outbox_acked_seq{{{lab}}}"]
    )
    last = [st for st in col.status if st.get("devices")][-1]
    (dead,) = [d for d in last["devices"] if d["name"] == "dead_meter"]
    assert dead["last_good_ms"] is None and dead["errors"] and "no connection" in dead["last_error"]
    (alive,) = [d for d in last["devices"] if d["name"] == devices[0]["name"]]
    assert alive["connected"] is True and alive["last_good_ms"] is not None
    reasons = {r.reason for r in col.readings() if r.id == "dead_power"}
    assert "connection" in reasons and "backoff:connection" in reasons  # why it was not asked
    main = devices[0]["name"]
    assert s[f'mrv_agent_polls_total{{{lab},device="{main}",result="ok"}}'] >= 1
    assert s[f'mrv_agent_polls_total{{{lab},device="dead_meter",result="failed"}}'] >= 1
    assert s[f'mrv_agent_polls_total{{{lab},device="dead_meter",result="ok"}}'] == 0
