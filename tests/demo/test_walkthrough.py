"""README "Walk-through" followed verbatim from a fresh clone: every ```sh line is run as
written (``&`` lines in the background), every ```yaml block is written to the file its
first comment names; only the ports 1883, 5024 and 8470 are replaced by free ones.

The record it builds must hold both key parameters the walkthrough declares, and
``mrv-verify`` must accept the bundle."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 180.0


def walkthrough(readme: str) -> list[tuple[str, str]]:
    """(kind, text) of each fenced block of the walk-through section, in order."""
    start = readme.index("## Walk-through")
    end = readme.index("\n## ", start + 5)
    section = readme[start:end]
    return [
        (m.group(1), re.sub(r"(?m)^   ", "", m.group(2)))
        for m in re.finditer(r"```(sh|yaml)\n(.*?)```", section, re.S)
    ]


@pytest.mark.slow
def test_readme_walkthrough_from_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed for this test")
    clone = tmp_path / "plant-mrv"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)],
        check=True,
        timeout=120,
    )
    # the walk-through starts "after scripts/setup-venv created .venv/": this one's
    (clone / ".venv").symlink_to(REPO / ".venv")
    ports = {"1883": free_port(), "5024": free_port(), "8470": free_port()}
    blocks = walkthrough((clone / "README.md").read_text(encoding="utf-8"))
    assert [k for k, _ in blocks].count("yaml") == 2 and len(blocks) >= 6
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin"}
    background: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        for kind, text in blocks:
            for old, new in ports.items():
                text = text.replace(old, str(new))
            if kind == "yaml":
                name = text.splitlines()[0].removeprefix("#").strip()
                (clone / name).write_text(text, encoding="utf-8")
                continue
            for line in filter(None, (raw.strip() for raw in text.splitlines())):
                if line.endswith("&"):
                    log = open(logs / f"{len(background)}.log", "wb")  # noqa: SIM115
                    proc = subprocess.Popen(
                        ["bash", "-c", "exec " + line[:-1]],
                        cwd=clone,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                    background.append(proc)
                    for port in ports.values():  # what it listens on, if anything
                        if f" {port}" in line or ("mosquitto" in line and port == ports["1883"]):
                            wait_for_port(port, proc, timeout=60)
                    if "mrv-collector run" in line:
                        wait_for_port(ports["8470"], proc, timeout=60)
                    continue
                if "mrv-collector status" in line:
                    _wait_for_batches(clone, env)
                res = subprocess.run(
                    ["bash", "-c", line],
                    cwd=clone,
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=300,
                )
                assert res.returncode == 0, f"{line}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        (bundle,) = (clone / "var/collector/records").glob("plant_a_*_v1")
        record = json.loads((bundle / "record.json").read_text(encoding="utf-8"))
        params = {p["id"]: p for p in record["parameters"]}
        assert {"power_import_mwh", "total_power_w"} <= set(params), sorted(params)
        for pid in ("power_import_mwh", "total_power_w"):
            assert params[pid]["value"] is not None and params[pid]["valid_intervals"] > 0, pid
    finally:
        for proc in reversed(background):
            proc.terminate()
        for proc in background:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_batches(clone: Path, env: dict[str, str], through: int = 2) -> None:
    """Until the collector holds two contiguous batches of meter1 (state, not a sleep)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        res = subprocess.run(
            [".venv/bin/mrv-collector", "status", "--json", "-c", "collector.yaml"],
            cwd=clone,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        agents = json.loads(res.stdout).get("agents", []) if res.returncode == 0 else []
        if any(a["agent"] == "meter1" and a["contiguous_through"] >= through for a in agents):
            return
        assert time.monotonic() < deadline, f"no batches from meter1 after {TIMEOUT} s: {agents}"
        time.sleep(0.5)
