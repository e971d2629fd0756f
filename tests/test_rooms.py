"""The rooms hold: the layering, one version, one log line.

``protocols/`` imports nothing above it; agent and collector never import each other (they
meet only in protocols/ and on the wire); every console script answers ``--version`` with
the installed package's version; agent and collector log the same JSON line.
"""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: room -> top-level packages of this repo it must never import
FORBIDDEN = {
    "protocols": {"agent", "collector", "simulators"},
    "agent": {"collector", "simulators"},
    "collector": {"agent", "simulators"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_layering(room: str) -> None:
    files = sorted((ROOT / room).rglob("*.py"))
    assert files
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(_imports(path) & FORBIDDEN[room])
    ]
    assert wrong == []


@pytest.mark.parametrize("script", ["mrv-agent", "mrv-collector", "mrv-verify", "mrv-sim"])
def test_version_on_every_command(script: str) -> None:
    exe = Path(sys.executable).parent / script
    res = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{script} {metadata.version('plant-mrv')}"


def test_agent_and_collector_write_one_log_line() -> None:
    from agent.logs import JsonFormatter as AgentFormatter
    from collector.logs import JsonFormatter as CollectorFormatter

    try:
        raise TimeoutError("no answer")
    except TimeoutError:
        exc_info = sys.exc_info()
    lines = []
    for fmt in (AgentFormatter(), CollectorFormatter()):
        rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "device_failed", (), exc_info)
        rec.fields = {"device": "kiln"}
        lines.append(json.loads(fmt.format(rec)))
    for line in lines:
        assert line["event"] == "device_failed" and line["device"] == "kiln"
        assert line["error"] == "TimeoutError: no answer" and "Traceback" in line["traceback"]
    assert lines[0].keys() == lines[1].keys()
