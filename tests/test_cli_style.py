"""One command-line style: every command answers --help and --version in the same form, the
help fits 80 columns, mrv-verify's help names its calc and year forms, and tables wrap long
ids at 80 columns instead of cutting them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
COMMANDS = ("mrv-agent", "mrv-collector", "mrv-verify", "mrv-sim")


def _run(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_and_version(command: str) -> None:
    res = _run(command, "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.lstrip().startswith(f"Usage: {command}")
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    ver = _run(command, "--version")
    assert ver.returncode == 0 and ver.stdout.startswith(f"{command} "), ver.stdout + ver.stderr


def test_verify_help_lists_calc_and_year() -> None:
    out = _run("mrv-verify", "--help").stdout
    assert "mrv-verify calc" in out and "mrv-verify year" in out and "--version" in out


def test_status_table_wraps_long_ids_at_80_columns(tmp_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from collector.cli import _fold

    kid = "bINOc5IL2vAtFZ_ljgNsZNxoEwRms6BQYE2ZE5E8_us"
    t = _fold(Table("site", "agent", "kid", "valid from", "valid to", "revoked"))
    t.add_row("smelter_1", "potline_1", kid, "2026-11-01 00:00:00Z", "-", "-")
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(t)
    text = console.export_text()
    assert "…" not in text and kid[:10] in text.replace("\n", "").replace("│", "").replace(" ", "")
