"""The demo run shared by the demo tests (one run per session: it takes a minute)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from simulators.stack import command

MONTH, DAYS = "2026-10", 2
#: plant seconds per wall second: a third of the demo's default, so a 10-minute poll slot is
#: 120 ms of wall time and a loaded CI machine does not miss polls (gaps nobody injected)
SPEED = 5000


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("demo") / "run"
    res = subprocess.run(
        [
            *command("mrv-sim"),
            "demo",
            "--exit",
            "--json",
            "--days",
            str(DAYS),
            "--month",
            MONTH,
            "--speed",
            str(SPEED),
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(res.stdout)  # stdout is exactly one JSON object
    return {"out": out, "stderr": res.stderr, "data": data}
