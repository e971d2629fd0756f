"""SIGKILL the collector process mid-ingest, restart it: every batch stored exactly once.

The test plays the agent's delivery rule (DESIGN.md, "Delivery"): keep every batch until an
``ack`` covers it, and republish the unacked ones in seq order when no ack comes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from collector.store.sqlite import SqliteEvidenceStore
from tests.collector.helpers import Publisher, Signer
from tests.support.servers import Mosquitto

SITE, AGENT = "smelter-1", "agent-a"
N, PER_BATCH = 150, 400
ACK_TIMEOUT_S = 2.0  # the agent's resend timer (protocol behaviour, not synchronisation)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=60
    )


def start_collector(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "run", "-c", str(cfg)], stderr=fh, stdout=fh
        )


async def deliver_until_acked(pub: Publisher, topic: str, envs: list[bytes]) -> None:
    """Republish everything not yet acked, in seq order, until the ack covers the last seq."""
    while True:
        acked = pub.acks.get(f"mrv/v1/{SITE}/{AGENT}/ack", 0)
        if acked >= len(envs):
            return
        for env in envs[acked:]:
            await pub.publish(topic, env)
        try:
            await pub.wait_ack(SITE, AGENT, len(envs), timeout=ACK_TIMEOUT_S)
        except TimeoutError:
            continue


async def test_sigkill_mid_ingest_then_restart_stores_each_batch_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    signer = Signer(SITE, AGENT)
    jwk_file = tmp_path / "agent.pub.jwk"
    jwk_file.write_text(json.dumps(signer.jwk))
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data_dir": "data",
                "broker": {
                    "port": mosquitto.port,
                    "client_id": "collector-crash",
                    "reconnect_initial_s": 0.1,
                },
                "sites": {SITE: {"industry": "aluminium"}},
            }
        )
    )
    enrolled = cli(
        "enroll", "-c", str(cfg), "--site", SITE, "--agent", AGENT, "--key", str(jwk_file)
    )
    assert enrolled.returncode == 0, enrolled.stderr
    envs = [signer.next(PER_BATCH) for _ in range(N)]
    log = tmp_path / "collector.log"

    proc = start_collector(cfg, log)
    try:
        async with Publisher(mosquitto.port, AGENT) as pub:
            await pub.follow_acks(SITE, AGENT)
            sending = asyncio.create_task(deliver_until_acked(pub, signer.topic, envs))
            await pub.wait_ack(SITE, AGENT, 20, timeout=60)
            proc.send_signal(signal.SIGKILL)  # mid-ingest: the agent is still publishing
            assert proc.wait(30) == -signal.SIGKILL
            killed_at = pub.acks[f"mrv/v1/{SITE}/{AGENT}/ack"]
            proc = start_collector(cfg, log)
            await asyncio.wait_for(sending, 120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert killed_at >= 20
    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        stored = list(store.envelopes(SITE, AGENT))
        assert [e.seq for e in stored] == list(range(1, N + 1))
        assert [e.envelope for e in stored] == envs
        assert sum(1 for _ in store.readings(SITE)) == N * PER_BATCH
        st = store.agent_state(SITE, AGENT)
        assert st is not None and st.contiguous_through == N and st.gaps == []
        assert store.quarantine_entries() == []

    status = cli("status", "-c", str(cfg), "--json")
    assert status.returncode == 0, status.stderr
    (agent,) = json.loads(status.stdout)["agents"]
    assert agent["contiguous_through"] == N and agent["acked_through"] == N and agent["gaps"] == []
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(rec["event"] == "collector stopped" for rec in lines)
