"""Broker TLS end to end: agent and collector over a mutual-TLS Mosquitto listener.

A CA, a broker certificate for 127.0.0.1 and client certificates are made by the test with
``cryptography``; Debian's Mosquitto requires a client certificate signed by that CA. The real
``mrv-agent run`` publishes through it to the real collector, and clients without a trusted
certificate or without TLS get nothing through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import ipaddress
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collector import Collector
from protocols.keys import load_public_jwk, write_key_pair
from simulators.plant import PlantSimulator
from tests.collector.helpers import config_for
from tests.conftest import _require
from tests.support.servers import Mosquitto

REPO = Path(__file__).resolve().parents[2]
SITE, AGENT = "demo_plant", "meter_agent"


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(out: Path, clients: tuple[str, ...]) -> dict[str, Path]:
    """A CA, a broker certificate for 127.0.0.1 and one client certificate per name."""
    out.mkdir(parents=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Plant MRV test CA")])
    ca_cert = _issue("Plant MRV test CA", ca_key, ca_name, ca_key, ca=True)
    paths = {"ca": out / "ca.pem"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for name, server in (("broker", True), *((c, False) for c in clients)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(name, key, ca_name, ca_key, server=server)
        paths[f"{name}.crt"] = out / f"{name}.crt"
        paths[f"{name}.crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{name}.key"] = out / f"{name}.key"
        _write_key(key, paths[f"{name}.key"])
    return paths


@pytest.fixture
def tls_broker(tmp_path: Path) -> tuple[Mosquitto, dict[str, Path]]:
    _require("mosquitto")
    pki = make_pki(tmp_path / "pki", ("collector", AGENT))
    broker = Mosquitto(
        tmp_path / "mosquitto",
        extra_config=(
            # As root, Mosquitto switches to its own user before loading certificates, and
            # could not read this test's private directory: keep the invoking user.
            f"user {getpass.getuser()}\n"
            "allow_anonymous true\n"
            f"cafile {pki['ca']}\ncertfile {pki['broker.crt']}\nkeyfile {pki['broker.key']}\n"
            "require_certificate true\ntls_version tlsv1.2\n"
        ),
    )
    broker.start()
    yield broker, pki
    broker.stop()


def _pub(port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """mosquitto_pub to the TLS listener with the given TLS options; returns the result."""
    return subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "x/y", "-m", "1", *extra],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_clients_without_a_trusted_certificate_get_nothing_through(
    tls_broker: tuple[Mosquitto, dict[str, Path]],
) -> None:
    broker, pki = tls_broker
    ok = _pub(
        broker.port,
        "--cafile", str(pki["ca"]),
        "--cert", str(pki["collector.crt"]),
        "--key", str(pki["collector.key"]),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert _pub(broker.port).returncode != 0  # plain TCP to a TLS listener
    assert _pub(broker.port, "--cafile", str(pki["ca"])).returncode != 0  # no client cert


async def test_agent_and_collector_over_mutual_tls(
    tmp_path: Path, tls_broker: tuple[Mosquitto, dict[str, Path]]
) -> None:
    broker, pki = tls_broker
    start_ms = 1_767_225_600_000
    anchor = time.time()
    _, jwk_path = write_key_pair(tmp_path / "keys")
    async with PlantSimulator("meter", speed=60, start_ms=start_ms, anchor_wall_s=anchor) as sim:
        raw = yaml.safe_load((REPO / "config/agent/meter.yaml").read_text())
        raw.update(
            key_file=str(tmp_path / "keys/agent.key"),
            collector_key=str(tmp_path / "data/collector.pub.jwk"),  # the collector writes it
            data_dir=str(tmp_path / "agent-data"),
            clock={"source": "simulated", "start": start_ms, "speed": 60, "anchor_wall": anchor},
        )
        raw["broker"] = {
            "host": "127.0.0.1",
            "port": broker.port,
            "protocol": "5",
            "tls": {
                "ca": str(pki["ca"]),
                "cert": str(pki[f"{AGENT}.crt"]),
                "key": str(pki[f"{AGENT}.key"]),
            },
        }
        raw["publish"]["interval"] = 30  # plant seconds: two batches per wall second
        for dev in raw["devices"]:
            dev["port"] = sim.port
        agent_cfg = tmp_path / "agent.yaml"
        agent_cfg.write_text(yaml.safe_dump(raw, sort_keys=False))

        cfg = config_for(
            tmp_path,
            broker.port,
            sites={SITE: {"industry": "other"}},
            broker={
                "tls": {
                    "ca_file": str(pki["ca"]),
                    "cert_file": str(pki["collector.crt"]),
                    "key_file": str(pki["collector.key"]),
                }
            },
        )
        async with Collector(cfg) as c:
            c.store.enroll_key(SITE, AGENT, load_public_jwk(jwk_path))
            await c.connected.wait()
            with open(tmp_path / "agent.log", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "agent.cli", "run", "-c", str(agent_cfg)],
                    stdout=log,
                    stderr=log,
                )
            try:

                def through() -> int:
                    st = c.store.agent_state(SITE, AGENT)
                    return st.contiguous_through if st else 0

                await c.wait_until(lambda: through() >= 3, timeout=60)
                acked = c.store.agent_state(SITE, AGENT)
                assert acked is not None and acked.online is True
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 60)
            assert c.store.quarantine_entries() == []
            seqs = [e.seq for e in c.store.envelopes(SITE, AGENT)]
            assert seqs[:3] == [1, 2, 3]
