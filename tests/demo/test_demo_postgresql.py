"""The demo on PostgreSQL with a collector group: ``mrv-sim demo --database postgresql
--collectors 2 --days 1 --exit --json`` starts Debian's PostgreSQL in the data dir and two
collectors in one MQTT 5 shared-subscription group on it; every site's record is built from
that store, carries the lab agents' PDF reports (received by whichever collector), and
``mrv-verify`` accepts each bundle. About a minute of wall time on this 2-core machine."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from simulators.postgres_server import postgres_available
from simulators.stack import command
from tests.demo.conftest import MONTH, SPEED


def test_demo_on_postgresql_with_two_collectors(tmp_path: Path) -> None:
    if not postgres_available():
        pytest.fail("postgresql is not installed; run .ci/run (it installs the test servers)")
    res = subprocess.run(
        [
            *command("mrv-sim"), "demo", "--database", "postgresql", "--collectors", "2",
            "--days", "1", "--month", MONTH, "--speed", str(SPEED), "--exit", "--json",
            "--data-dir", str(tmp_path / "run"),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    assert "store: PostgreSQL, 2 collector(s)" in res.stderr
    assert "evidence postgresql://" in res.stderr and "Traceback" not in res.stderr
    out = json.loads(res.stdout)
    assert out["verified"] is True and len(out["bundles"]) == 3
    for bundle in map(Path, out["bundles"]):
        rec = json.loads((bundle / "record.json").read_text(encoding="utf-8"))
        assert rec["submissions"], rec["site"]
        for s in rec["submissions"]:
            assert s["documents"], s
            for d in s["documents"]:
                data = (bundle / d["file"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == d["sha256"]
        assert not any(f["code"] == "document_missing" for f in rec["flags"])
        v = subprocess.run(
            [*command("mrv-verify"), str(bundle), "--json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert v.returncode == 0, v.stdout + v.stderr
        assert json.loads(v.stdout)["ok"] is True
