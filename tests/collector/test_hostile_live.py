"""The hostile-input suite against a live collector while the real agent streams
(issue 16): every class the wire contract rejects — nesting ``[`` × 200,000, duplicate
names, NaN/Infinity/1e400, integers beyond range, ``"420.5"`` for a number, ... — on the
agent's data topic (signed with the agent's own key, so only strict parsing can stop them)
and on its status topic, plus a forged unsigned ack. Each is quarantined with its reason,
ingest never stops, every legitimate batch is stored and acked, the forged ack deletes
nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiomqtt
import yaml

from collector import Collector
from protocols.envelope import sign_envelope
from protocols.keys import load_private_key, load_public_jwk, public_jwk, write_key_pair
from protocols.topics import ack_topic, data_topic, status_topic
from simulators.plant import PlantSimulator
from tests.collector.helpers import config_for
from tests.support.hostile import RAW, payload_edits
from tests.support.servers import Mosquitto

REPO = Path(__file__).resolve().parents[2]
SITE, AGENT = "demo_plant", "meter_agent"


def _acked_through(data_dir: Path) -> int:
    db = sqlite3.connect(f"file:{data_dir / 'outbox.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT v FROM meta WHERE k = 'acked_through'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


async def test_hostile_inputs_while_the_real_agent_streams(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    start_ms = 1_767_225_600_000
    anchor = time.time()
    key_path, jwk_path = write_key_pair(tmp_path / "keys")
    key = load_private_key(key_path)
    kid = public_jwk(key)["kid"]
    async with PlantSimulator("meter", speed=60, start_ms=start_ms, anchor_wall_s=anchor) as sim:
        raw = yaml.safe_load((REPO / "config/agent/meter.yaml").read_text())
        raw.update(
            site=SITE,
            agent=AGENT,
            key_file=str(key_path),
            collector_key=str(tmp_path / "data/collector.pub.jwk"),
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

        cfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "other"}})
        async with Collector(cfg) as c:
            c.store.enroll_key(SITE, AGENT, load_public_jwk(jwk_path))
            await c.connected.wait()

            def through() -> int:
                st = c.store.agent_state(SITE, AGENT)
                return st.contiguous_through if st else 0

            with open(tmp_path / "agent.log", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "agent.cli", "run", "-c", str(agent_cfg)],
                    stdout=log,
                    stderr=log,
                )
            try:
                await c.wait_until(lambda: through() >= 2, timeout=60)
                first = next(iter(c.store.envelopes(SITE, AGENT)))
                base = {  # a v1 batch of this agent (the edits break one rule each)
                    "v": 1, "site": SITE, "agent": AGENT, "seq": first.seq + 1000,
                    "prev": first.hash, "created": first.created, "clock": {"source": "system"},
                    "readings": [
                        {"id": "power_import_mwh", "ts": first.created, "value": 420.5,
                         "quality": "good"}
                    ],
                    "events": [],
                }  # fmt: skip
                edits = payload_edits(base)
                expected: Counter[str] = Counter()
                async with aiomqtt.Client(
                    "127.0.0.1", mosquitto.port, identifier="intruder"
                ) as bad:
                    # a forged, unsigned ack first: it must delete nothing
                    await bad.publish(
                        ack_topic(SITE, AGENT), b'{"through": 999999}', qos=1, retain=True
                    )
                    for _name, data, reason in RAW:
                        for topic in (data_topic(SITE, AGENT), status_topic(SITE, AGENT)):
                            await bad.publish(topic, data, qos=1)
                            expected[reason] += 1
                    for _name, payload, reason in edits:
                        await bad.publish(
                            data_topic(SITE, AGENT), sign_envelope(payload, key, kid), qos=1
                        )
                        expected[reason] += 1
                await c.wait_until(
                    lambda: sum(c.stats.quarantined.values()) >= sum(expected.values()),
                    timeout=60,
                )
                after = through()
                # ingest never stopped: the agent's next batches are stored and acked
                await c.wait_until(lambda: through() >= after + 4, timeout=60)
                target = through()
                deadline = time.monotonic() + 60
                while _acked_through(tmp_path / "agent-data") < target:
                    assert time.monotonic() < deadline, "the agent never saw its batches acked"
                    assert proc.poll() is None, "the agent died"
                    await asyncio.sleep(0.1)
            finally:
                proc.kill()
                await asyncio.to_thread(proc.wait, 30)

            got = Counter(e.reason for e in c.store.quarantine_entries(limit=1000))
            assert got == expected
            assert not c.failed.is_set() and c.connected.is_set()
            st = c.store.agent_state(SITE, AGENT)
            assert st is not None and st.gaps == [] and st.equivocations == 0
            seqs = [e.seq for e in c.store.envelopes(SITE, AGENT)]
            assert seqs == list(range(1, len(seqs) + 1))  # every legitimate batch, once
            log_text = (tmp_path / "agent.log").read_text()
            assert "ack_rejected" in log_text  # the forged ack alarmed and was ignored
