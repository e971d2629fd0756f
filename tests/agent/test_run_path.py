"""What the agent's run path loads and builds: memory is part of its contract (issue 4).

An agent without derived parameters never imports the accounting methods, and no agent
imports the payload models (only the collector validates payloads); the birth message,
built entry by entry, is byte for byte the canonical encoding of the whole message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.catalogue import build_catalogue, catalogue_json
from agent.config import parse_config
from agent.core import AGENT_VERSION, Agent
from protocols.keys import generate_private_key, public_jwk
from protocols.wire import encode_payload

ROOT = Path(__file__).resolve().parents[2]

METHODS = [
    "protocols.methods.aem",
    "protocols.methods.anode_effect",
    "protocols.methods.counters",
    "protocols.methods.faraday",
    "protocols.methods.pfc",
    "protocols.methods.timeweighted",
]

# Runs in a fresh interpreter: builds an agent from the config in argv[2], then a signed
# batch and a birth message, and prints which of the watched modules got imported.
PROBE = r"""
import json, sys
from pathlib import Path
import agent.cli  # the module behind `mrv-agent run`
from agent.config import parse_config
from agent.core import Agent
from protocols.keys import write_key_pair

tmp = Path(sys.argv[1])
write_key_pair(tmp / "keys")
raw = json.loads(sys.argv[2])
raw |= {"key_file": str(tmp / "keys/agent.key"), "data_dir": str(tmp / "data")}
agent = Agent(parse_config(raw))
agent.signer.build(1, None, 1, agent.clock.state(), [("p0", 1, 1.5, "good", None, None)])
agent._birth()
watched = ["protocols.payload", *json.loads(sys.argv[3])]
print(json.dumps(sorted(m for m in watched if m in sys.modules)))
"""


COLLECTOR_JWK = public_jwk(generate_private_key())


def _config(points: int = 2, derived: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "site": "plant1",
        "agent": "agent1",
        "key_file": "agent.key",
        "collector_key": COLLECTOR_JWK,  # inline: the collector's public JWK
        "data_dir": "data",
        "devices": [
            {
                "name": "meter",
                "host": "127.0.0.1",
                "port": 5020,
                "points": [
                    {"id": f"p{i}", "table": "holding", "address": 2 * i, "type": "FLOAT32"}
                    for i in range(points)
                ],
            }
        ],
        "derived": derived or [],
    }


def _loaded(tmp_path: Path, raw: dict[str, Any]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), json.dumps(raw), json.dumps(METHODS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_run_path_imports_neither_payload_models_nor_unused_methods(tmp_path: Path) -> None:
    assert _loaded(tmp_path, _config()) == []


def test_a_configured_derived_kind_loads_its_method(tmp_path: Path) -> None:
    derived = [{"id": "p0_delta", "kind": "counter", "input": "p0"}]
    assert _loaded(tmp_path, _config(derived=derived)) == ["protocols.methods.counters"]


@pytest.mark.parametrize("points", [0, 1, 255, 256, 257, 600])
def test_birth_is_the_canonical_encoding_of_the_whole_message(points: int) -> None:
    derived = [
        {"id": "line_current_ka", "kind": "expression", "expr": "1 + 1", "unit": "kA"},
        {"id": "energy", "kind": "counter", "input": "p0" if points else "line_current_ka"},
    ]
    raw = _config(points, derived)
    if not points:
        raw["devices"] = []
    cfg = parse_config(raw)
    agent = Agent(cfg, key=generate_private_key())
    clock = {"source": "system", "synced": True}
    agent.clock.state = lambda jumps=None: clock  # type: ignore[method-assign]
    agent.clock.now_ms = lambda: 1_700_000_000_123  # type: ignore[method-assign]
    expected = encode_payload(
        {
            "online": True,
            "agent_version": AGENT_VERSION,
            "config_hash": cfg.config_hash,
            "kid": agent.kid,
            "industry": cfg.industry,
            "catalogue": build_catalogue(cfg),
            "clock": clock,
            "devices": agent.device_health(),  # no poller yet: []
            "ts": 1_700_000_000_123,
        }
    )
    assert agent._birth() == expected
    assert catalogue_json(cfg) == encode_payload(build_catalogue(cfg))  # type: ignore[arg-type]
    catalogue = json.loads(expected)["catalogue"]
    assert len(catalogue) == points + 3 and catalogue[-3]["unit"] == "kA"
