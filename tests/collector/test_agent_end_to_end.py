"""End to end with the real edge agent: simulator → ``mrv-agent run`` → Mosquitto → collector.

Then the agent process is SIGKILLed and restarted: its outbox republishes what was not acked
and the collector stores every batch exactly once, the chain unbroken.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from collector import Collector
from protocols.keys import load_public_jwk, write_key_pair
from simulators.plant import PlantSimulator
from tests.collector.helpers import config_for
from tests.support.servers import Mosquitto

REPO = Path(__file__).resolve().parents[2]
SITE, AGENT = "demo_plant", "aluminium_agent"


def start_agent(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "-c", str(cfg)], stdout=fh, stderr=fh
        )


async def test_real_agent_stream_is_verified_and_stored(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    start_ms = 1_767_225_600_000
    anchor = time.time()
    _, jwk_path = write_key_pair(tmp_path / "keys")
    async with PlantSimulator(
        "aluminium", speed=60, start_ms=start_ms, anchor_wall_s=anchor
    ) as sim:
        raw = yaml.safe_load((REPO / "config/agent/aluminium.yaml").read_text())
        raw.update(
            key_file=str(tmp_path / "keys/agent.key"),
            collector_key=str(tmp_path / "data/collector.pub.jwk"),  # the collector writes it
            data_dir=str(tmp_path / "agent-data"),
            clock={"source": "simulated", "start": start_ms, "speed": 60, "anchor_wall": anchor},
        )
        raw["broker"] = {"host": "127.0.0.1", "port": mosquitto.port, "protocol": "5"}
        raw["publish"]["interval"] = 30  # plant seconds: two batches per wall second
        raw["publish"]["ack_timeout"] = 2
        for dev in raw["devices"]:
            dev["port"] = sim.port
        agent_cfg = tmp_path / "agent.yaml"
        agent_cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
        log = tmp_path / "agent.log"

        cfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "aluminium"}})
        async with Collector(cfg) as c:
            c.store.enroll_key(SITE, AGENT, load_public_jwk(jwk_path))
            await c.connected.wait()

            def through() -> int:
                st = c.store.agent_state(SITE, AGENT)
                return st.contiguous_through if st else 0

            proc = start_agent(agent_cfg, log)
            try:
                await c.wait_until(lambda: through() >= 4, timeout=60)
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 30)  # the simulator lives in this loop
                before = through()
                proc = start_agent(agent_cfg, log)
                await c.wait_until(lambda: through() >= before + 4, timeout=60)
                st = c.store.agent_state(SITE, AGENT)
                assert st is not None and st.online is True and st.status is not None
            finally:
                # SIGKILL, not SIGTERM: the agent's graceful stop is the agent's tests' business
                # (and was seen to hang now and then; reported), this test is about the collector.
                proc.kill()
                await asyncio.to_thread(proc.wait, 30)

            st = c.store.agent_state(SITE, AGENT)
            assert st is not None
            seqs = [e.seq for e in c.store.envelopes(SITE, AGENT)]
            assert seqs[: st.contiguous_through] == list(range(1, st.contiguous_through + 1))
            assert len(seqs) == len(set(seqs))
            assert c.store.quarantine_entries() == [], [
                e.message for e in c.store.quarantine_entries()
            ]
            params = {s.param for s in c.store.series(SITE)}
            assert "cell_voltage_avg_v" in params or len(params) > 5
            assert sum(1 for _ in c.store.readings(SITE)) > 0
            keys = json.loads(json.dumps([k.kid for k in c.store.keys(SITE)]))
            assert keys == [load_public_jwk(jwk_path)["kid"]]
