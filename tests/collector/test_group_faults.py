"""Fault test: three ``mrv-collector run`` processes in one shared-subscription group on one
PostgreSQL store, 20 light agents streaming through Mosquitto; mid-stream one collector is
SIGKILLed and PostgreSQL is restarted. Every batch ends up stored exactly once, every chain
is intact, and the month's record verifies.

Light agents (``tests.collector.helpers.Signer`` + one MQTT client each, republishing what
is not acked every second) stand in for ``mrv-agent``: twenty real agents with their Modbus
simulators would not fit beside three collectors and PostgreSQL on this 2-core machine.
The test plays the supervisor: a collector that exits (killed, or on losing its database)
is started again, as systemd would."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

from collector.store import open_store
from protocols.keys import write_key_pair
from simulators.postgres_server import PostgresServer
from simulators.processes import command, run_cli
from tests.collector.helpers import Publisher, Signer, group_collector

SITE, AGENTS, BATCHES = "smelter-1", 20, 12


async def _agent(port: int, s: Signer, envs: list[bytes], sent: asyncio.Event) -> None:
    async with Publisher(port, s.agent) as pub:
        await pub.follow_acks(SITE, s.agent)
        topic = s.topic
        for i, env in enumerate(envs):
            await pub.publish(topic, env)
            if i == BATCHES // 2:
                sent.set()
            await asyncio.sleep(0.2)
        while pub.acks.get(f"mrv/v1/{SITE}/{s.agent}/ack", 0) < len(envs):
            acked = pub.acks.get(f"mrv/v1/{SITE}/{s.agent}/ack", 0)
            for env in envs[acked : acked + 4]:  # republish what is not acked, in seq order
                await pub.publish(topic, env)
            await asyncio.sleep(1.0)


async def test_kill_a_collector_and_restart_postgres_mid_stream(
    tmp_path: Path, mosquitto: Any
) -> None:
    key, _ = write_key_pair(tmp_path / "group-key", name="collector")
    with PostgresServer() as pg:
        url = pg.create_database("mrv")
        signers = [Signer(SITE, f"pot{i:02d}") for i in range(AGENTS)]
        with open_store(url) as store:
            for s in signers:
                store.enroll_key(SITE, s.agent, s.jwk)
        chains = {s.agent: [s.next(5) for _ in range(BATCHES)] for s in signers}
        sites = {SITE: {"industry": "aluminium", "timezone": "Asia/Shanghai"}}
        cols = [group_collector(tmp_path, i, url, key, mosquitto.port, sites) for i in range(3)]
        restarts = 0
        try:
            for c in cols:
                c.start()
            for c in cols:
                c.wait_ready()
            half = [asyncio.Event() for _ in signers]
            agents = asyncio.gather(
                *(_agent(mosquitto.port, s, chains[s.agent], e)
                  for s, e in zip(signers, half, strict=True))
            )  # fmt: skip

            async def supervise() -> None:
                nonlocal restarts
                while True:
                    for c in cols:
                        if c.started and not c.running:
                            restarts += 1
                            c.start()
                    await asyncio.sleep(0.3)

            sup = asyncio.create_task(supervise())
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in half)), 60)
            assert cols[0].kill() == -signal.SIGKILL
            await asyncio.to_thread(pg.restart)
            await asyncio.wait_for(agents, 180)
            sup.cancel()
        finally:
            for c in cols:
                c.stop(30, check=False)
        assert restarts >= 1  # at least the killed one came back
        with open_store(url) as store:
            for s in signers:
                st = store.agent_state(SITE, s.agent)
                assert st is not None and st.contiguous_through == BATCHES, st
                assert st.stored_batches == BATCHES and st.gaps == [] and st.quarantined == 0
                stored = [e.envelope for e in store.envelopes(SITE, s.agent)]
                assert stored == chains[s.agent]  # exactly once, byte-exact, in seq order
        cfg = tmp_path / "collector-1" / "collector.yaml"
        out = run_cli(
            "mrv-collector", "record", "build", "--site", SITE, "--month", "2026-01",
            "--json", "-c", str(cfg), timeout=300,
        )  # fmt: skip
        bundle = json.loads(out.stdout)["bundle"]
        assert json.loads(out.stdout)["batches"] == AGENTS * BATCHES
        res = subprocess.run(
            [*command("mrv-verify"), bundle], capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, res.stdout + res.stderr
