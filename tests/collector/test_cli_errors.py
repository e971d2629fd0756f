"""Collector CLI failures are one line on stderr and exit 2, naming the field and what is
allowed (issue 16): unusable data_dir, HTTP port in use, an id beyond any integer the store
holds, YAML syntax errors, an empty config."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

BASE = "broker: {host: 127.0.0.1, port: 1}\nsites: {s1: {industry: aluminium}}\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=60
    )


def _one_line_exit_2(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_unusable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'file' / 'sub'}\n" + BASE)
    for cmd in (["status"], ["run"]):
        _one_line_exit_2(_cli(*cmd, "-c", str(cfg)), "data_dir:", "writable directory")


def test_http_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(
            f"data_dir: {tmp_path / 'd'}\nhttp: {{enabled: true, host: 127.0.0.1, port: {port}}}\n"
            + BASE
        )
        _one_line_exit_2(_cli("run", "-c", str(cfg)), "http.port:", "free port")


def test_quarantine_show_of_a_huge_id(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'd'}\n" + BASE)
    res = _cli("quarantine", "show", "99999999999999999999999", "-c", str(cfg))
    _one_line_exit_2(res, "entry id:", "1..9223372036854775807")


def test_yaml_syntax_error_and_empty_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data_dir: d\nbroker: [\n")
    _one_line_exit_2(_cli("status", "-c", str(bad)), f"{bad}:3:1: YAML syntax error")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    _one_line_exit_2(_cli("status", "-c", str(empty)), "config is empty", "data_dir")


def test_collector_key_prints_the_public_jwk_agents_need(tmp_path: Path) -> None:
    import json

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'd'}\n" + BASE)
    res = _cli("key", "-c", str(cfg))
    assert res.returncode == 0, res.stderr
    jwk = json.loads(res.stdout)
    assert jwk["kty"] == "OKP" and "d" not in jwk
    written = json.loads((tmp_path / "d" / "collector.pub.jwk").read_text())
    assert written == jwk  # the same file the agent's collector_key points at
