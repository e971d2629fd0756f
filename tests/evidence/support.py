"""A lab agent (no devices) for submission tests, and running ``mrv-agent submit``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from protocols.keys import write_key_pair

SITE, AGENT = "cement-1", "lab"


def lab_agent(tmp: Path, port: int, *, industry: str = "cement", **over: Any) -> Path:
    """Write a key pair and a config without devices; return the config path."""
    write_key_pair(tmp / "keys")
    if not (tmp / "data/collector.key").exists():  # the key config_for's collector will use
        write_key_pair(tmp / "data", name="collector")
    raw: dict[str, Any] = {
        "site": SITE,
        "agent": AGENT,
        "industry": industry,
        "key_file": str(tmp / "keys/agent.key"),
        "collector_key": str(tmp / "data/collector.pub.jwk"),
        "data_dir": str(tmp / "lab-data"),
        "broker": {"host": "127.0.0.1", "port": port},
        "publish": {"ack_timeout": 1},
        **over,
    }
    cfg = tmp / "lab.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return cfg


def pdf_bytes(text: str) -> bytes:
    from simulators.pdf import minimal_pdf

    return minimal_pdf([text])


async def submit(cfg: Path, *args: str) -> tuple[int, str, str]:
    """Run ``mrv-agent submit -c CFG ARGS`` in a child process; (rc, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        "submit",
        "-c",
        str(cfg),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cfg.parent,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def submit_json(out: str) -> dict[str, Any]:
    return json.loads(out)
