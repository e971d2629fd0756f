"""The four console scripts exist, answer --help, and keygen writes a usable key pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from protocols.keys import load_private_key, load_public_jwk, public_jwk

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("script", ["mrv-agent", "mrv-collector", "mrv-verify", "mrv-sim"])
def test_console_script_help(script: str) -> None:
    out = subprocess.run([BIN / script, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout


def test_keygen_writes_private_0600_and_public_jwk(tmp_path: Path) -> None:
    out = subprocess.run(
        [BIN / "mrv-agent", "keygen", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    key_path, jwk_path = tmp_path / "agent.key", tmp_path / "agent.pub.jwk"
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    jwk = json.loads(jwk_path.read_text())
    assert jwk == load_public_jwk(jwk_path) == public_jwk(load_private_key(key_path))
    assert jwk["kid"] in out.stdout


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    subprocess.run([BIN / "mrv-agent", "keygen", "--out", str(tmp_path)], check=True)
    before = (tmp_path / "agent.key").read_bytes()
    out = subprocess.run(
        [BIN / "mrv-agent", "keygen", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and "already exists" in out.stderr
    assert "Traceback" not in out.stderr
    assert (tmp_path / "agent.key").read_bytes() == before
