"""Config validation names the field; CLI enroll/revoke/keys/status/quarantine and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import ConfigError, load_config, parse_config
from collector.pipeline import Quarantined, VerificationPipeline
from collector.store.sqlite import SqliteEvidenceStore
from tests.collector.helpers import T0, Signer

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_example_config_is_valid() -> None:
    cfg = load_config(REPO / "config/collector/collector.yaml")
    assert (
        cfg.sites["smelter-1"].timezone == "Asia/Shanghai"
        and cfg.sites["cement-1"].industry == "cement"
    )
    assert cfg.database_url.startswith("sqlite:////")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"broker": {"port": 0}}, "broker.port"),
        ({"broker": {"protocol": "4"}}, "broker.protocol"),
        ({"broker": {"shared_group": "collectors", "protocol": "3.1.1"}}, "broker.shared_group"),
        ({"sites": {"bad site": {}}}, "sites"),
        ({"sites": {"s1": {"timezone": "Mars/Base"}}}, "sites.s1.timezone"),
        ({"influx": {"batch_size": 0}}, "influx.batch_size"),
        ({"limits": {"max_envelope_bytes": 10}}, "limits.max_envelope_bytes"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_config_errors_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert field in str(err.value)


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data_dir: d\nbroker: {password_file: pw}\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.database_url == f"sqlite:///{tmp_path}/d/evidence.sqlite"
    assert cfg.broker.password_file == tmp_path / "pw"


def test_cli_enroll_status_revoke_quarantine(tmp_path: Path) -> None:
    cfg = tmp_path / "collector.yaml"
    cfg.write_text("data_dir: data\n")
    s = Signer("smelter-1", "agent-a")
    jwk = tmp_path / "agent.pub.jwk"
    jwk.write_text(json.dumps(s.jwk))

    r = cli(
        "enroll",
        "-c",
        str(cfg),
        "--site",
        "smelter-1",
        "--agent",
        "agent-a",
        "--key",
        str(jwk),
        "--valid-from",
        "2026-01-01",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["enrolled_at"] > 0 and out["jwk"]["x"] == json.loads(jwk.read_text())["x"]
    assert {k: v for k, v in out.items() if k not in ("enrolled_at", "jwk")} == {
        "site": "smelter-1",
        "agent": "agent-a",
        "kid": s.kid,
        "valid_from": T0,
        "valid_to": None,
        "revoked_at": None,
    }
    r = cli(
        "enroll", "-c", str(cfg), "--site", "smelter-1", "--agent", "agent-b", "--key", str(jwk)
    )
    assert r.returncode == 1 and "already enrolled for smelter-1/agent-a" in r.stderr
    r = cli("enroll", "-c", str(cfg), "--site", "bad site", "--agent", "a", "--key", str(jwk))
    assert (
        r.returncode == 2 and r.stderr.startswith("error: site id") and "Traceback" not in r.stderr
    )
    r = cli(
        "enroll",
        "-c",
        str(cfg),
        "--site",
        "s",
        "--agent",
        "a",
        "--key",
        str(tmp_path / "missing.jwk"),
    )
    assert r.returncode == 2 and "not found" in r.stderr

    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        pipeline = VerificationPipeline()
        with store.ingest() as tx:
            for env in (s.next(), s.next()):
                d = pipeline.decide(s.topic, env, tx)
                tx.store_batch(d, T0)  # type: ignore[arg-type]
            tx.quarantine(
                Quarantined("malformed", "not JSON", s.topic, b"junk", "smelter-1", "agent-a"), T0
            )

    r = cli("status", "-c", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    (a,) = st["agents"]
    assert (a["contiguous_through"], a["quarantined"], a["gaps"], a["kids"]) == (2, 1, [], [s.kid])
    assert st["quarantine_by_reason"] == {"malformed": 1}
    r = cli("status", "-c", str(cfg))
    assert r.returncode == 0 and "agent-a" in r.stdout

    r = cli("quarantine", "list", "-c", str(cfg), "--json")
    (q,) = json.loads(r.stdout)
    assert q["reason"] == "malformed" and q["size"] == 4
    r = cli("quarantine", "show", str(q["id"]), "-c", str(cfg), "--raw", str(tmp_path / "raw.bin"))
    assert r.returncode == 0 and (tmp_path / "raw.bin").read_bytes() == b"junk"
    # one JSON form of an entry: list, show (and the HTTP API) print the same object
    assert json.loads(r.stdout) == q and q["kept_bytes"] == 4 and q["truncated"] is False
    assert cli("quarantine", "show", "999", "-c", str(cfg)).returncode == 1

    r = cli("revoke", "-c", str(cfg), "--kid", s.kid)
    assert r.returncode == 0, r.stderr
    r = cli("keys", "-c", str(cfg), "--json")
    (k,) = json.loads(r.stdout)
    assert k["revoked_at"] is not None
    assert cli("revoke", "-c", str(cfg), "--kid", "nope").returncode == 1


def test_cli_config_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("broker:\n  port: 70000\n")
    r = cli("run", "-c", str(bad))
    assert r.returncode == 2 and "broker.port" in r.stderr and "Traceback" not in r.stderr
    r = cli("status", cwd=tmp_path)
    assert r.returncode == 2 and "-c FILE" in r.stderr
