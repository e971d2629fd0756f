"""The README's demo command, as a new user runs it: a fresh ``git clone``, then
``scripts/demo`` (which creates its own virtualenv and installs the project; pip's cache is
reused). The test command is proven by CI running ``scripts/test`` itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_readme_starts_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, flags=re.M)
    assert sections[0] == "The two commands"
    block = text.split("## The two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split()[0] for line in block.strip().splitlines() if line.strip()[:1] != "#"]
    assert commands[:2] == ["scripts/demo", "scripts/test"]
    for c in commands[:2]:
        assert (REPO / c).stat().st_mode & 0o111, f"{c} is not executable"


@pytest.mark.slow
def test_scripts_demo_from_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed for this test")
    clone = tmp_path / "plant-mrv"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)],
        check=True,
        timeout=120,
    )
    assert not (clone / ".venv").exists()
    res = subprocess.run(
        ["scripts/demo", "--exit", "--json", "--days", "1"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    out = json.loads(res.stdout)  # set-up output goes to stderr
    assert out["verified"] is True and len(out["bundles"]) == 3  # smelter, cement, steel
    for bundle in out["bundles"]:
        b = Path(bundle)
        assert b.is_relative_to(clone / "demo-data"), b
        assert (b / "record.json").is_file() and (b / "report.html").is_file()
    assert (clone / ".venv" / "bin" / "mrv-sim").exists()
