"""Mosquitto with ``config/mosquitto/acl``: an agent cannot publish as another agent."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from collector import Collector
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto

REPO = Path(__file__).resolve().parents[2]
SITE = "smelter-1"


@pytest.fixture
def acl_broker(tmp_path: Path) -> tuple[Mosquitto, dict[str, str]]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd is not installed (Debian package mosquitto)")
    passwd = tmp_path / "passwd"
    secrets = tmp_path / "secrets"
    subprocess.run(
        [
            "sh",
            str(REPO / "config/mosquitto/make-credentials.sh"),
            str(passwd),
            str(secrets),
            f"{SITE}/agent-a",
            f"{SITE}/agent-b",
        ],
        check=True,
        capture_output=True,
    )
    creds = {
        p.name.removesuffix(".mqtt-password"): p.read_text().strip() for p in secrets.iterdir()
    }
    # Started as root (CI containers), mosquitto would drop to user "mosquitto", which cannot
    # read the 0600 password file in pytest's private temp dir.
    as_root = "user root\n" if os.geteuid() == 0 else ""
    broker = Mosquitto(
        tmp_path / "mosquitto",
        extra_config=f"{as_root}allow_anonymous false\npassword_file {passwd}\n"
        f"acl_file {REPO / 'config/mosquitto/acl'}\n",
    )
    broker.start()
    yield broker, creds  # type: ignore[misc]
    broker.stop()


async def test_agent_cannot_publish_as_another(
    tmp_path: Path, acl_broker: tuple[Mosquitto, dict[str, str]]
) -> None:
    broker, creds = acl_broker
    pw_file = tmp_path / "collector.pw"
    pw_file.write_text(creds["mrv-collector"])
    cfg = config_for(
        tmp_path, broker.port, broker={"username": "mrv-collector", "password_file": str(pw_file)}
    )
    a, b = Signer(SITE, "agent-a"), Signer(SITE, "agent-b")
    async with Collector(cfg) as c:
        c.store.enroll_key(SITE, "agent-a", a.jwk)
        c.store.enroll_key(SITE, "agent-b", b.jwk)
        await c.connected.wait()
        async with Publisher(
            broker.port, "agent-a", username="agent-a", password=creds["agent-a"]
        ) as pub_a:
            await pub_a.follow_acks(SITE, "agent-a")
            await pub_a.publish(a.topic, a.next())
            await pub_a.wait_ack(SITE, "agent-a", 1)
            # agent-a, holding (say) a stolen copy of agent-b's batch, publishes it as agent-b,
            # and tries garbage on agent-b's status topic; the broker must drop both.
            await pub_a.publish(b.topic, b.next())
            await pub_a.publish(f"mrv/v1/{SITE}/agent-b/status", b'{"online": false}')
            await pub_a.publish(f"mrv/v1/{SITE}/agent-b/ack", b'{"through": 99}')
            # Its own next batch is delivered after those (one connection, in order).
            await pub_a.publish(a.topic, a.next())
            await pub_a.wait_ack(SITE, "agent-a", 2)
        assert list(c.store.envelopes(SITE, "agent-b")) == []
        assert c.store.quarantine_entries() == []
        assert c.stats.accepted == 2 and c.stats.status_messages == 0
        st = c.store.agent_state(SITE, "agent-b")
        assert st is not None and st.online is None

        # The legitimate agent-b can publish its own batch.
        async with Publisher(
            broker.port, "agent-b", username="agent-b", password=creds["agent-b"]
        ) as pub_b:
            await pub_b.follow_acks(SITE, "agent-b")
            await pub_b.publish(b.topic, b.batches[1])
            await pub_b.wait_ack(SITE, "agent-b", 1)

        # Documents: agent-a may write its own document topic (the collector reads it and,
        # as no batch references these bytes, quarantines them), never agent-b's.
        doc = b"%PDF-1.4 not referenced"
        sha = hashlib.sha256(doc).hexdigest()
        async with Publisher(
            broker.port, "agent-a", username="agent-a", password=creds["agent-a"]
        ) as pub_a:
            await pub_a.follow_acks(SITE, "agent-a")
            await pub_a.publish(f"mrv/v1/{SITE}/agent-b/document/{sha}", doc)
            await pub_a.publish(f"mrv/v1/{SITE}/agent-a/document/{sha}", doc)
            await pub_a.publish(a.topic, a.next())
            await pub_a.wait_ack(SITE, "agent-a", 3)
        (q,) = c.store.quarantine_entries()
        assert q.reason == "document_unreferenced" and q.topic.endswith(f"agent-a/document/{sha}")


async def test_anonymous_and_wrong_password_are_refused(
    acl_broker: tuple[Mosquitto, dict[str, str]],
) -> None:
    import aiomqtt

    broker, _creds = acl_broker
    for user, pw in ((None, None), ("agent-a", "wrong")):
        with pytest.raises(aiomqtt.MqttError):
            async with Publisher(broker.port, "intruder", username=user, password=pw):
                pass
