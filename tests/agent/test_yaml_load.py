"""The agent parses its YAML in a child process and gets exactly ``yaml.safe_load``'s data.

Why a child: PyYAML's node graph for a large config stays in the resident set after it is
freed (see ``agent/yaml_load.py``); the agent process must only ever hold the plain data.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent import yaml_load
from agent.config import ConfigError, load_config
from agent.yaml_load import YamlProblem, load_yaml

ROOT = Path(__file__).resolve().parents[2]

DOCS = [
    "site: plant1\nagent: a1\n",
    "units: {1: meter, 2: rectifier}\nflags: [yes, no, on, off, true, null, ~]\n",
    "when: 2026-10-01\nat: 2026-10-01 08:00:00+08:00\nhex: 0x1F\noct: 0o17\nf: 1.5e3\n",
    "base: &b {timeout: 2, retries: 3}\ndev: {<<: *b, timeout: 5}\n",
    "text: |\n  两行\n  lines\nname: '电解 line'\n",
    "",
    "- 1\n- [2, 3]\n- {a: .inf, b: -.inf}\n",
]


@pytest.mark.parametrize("text", DOCS)
def test_same_data_as_safe_load_in_the_child_and_in_process(text: str) -> None:
    expected = yaml.safe_load(text)
    assert load_yaml(text) == expected
    assert load_yaml(text, in_process=True) == expected


@pytest.mark.parametrize("text", DOCS)
def test_the_child_really_parses(text: str) -> None:
    """Not the in-process fallback: the child process itself answers."""
    assert yaml_load._parse_in_child(text) == ("ok", yaml.safe_load(text))


def test_types_survive_the_trip_from_the_child() -> None:
    data = load_yaml(DOCS[2])
    assert isinstance(data["when"], datetime.date) and data["hex"] == 31
    assert isinstance(data["at"], datetime.datetime) and data["at"].utcoffset() is not None
    assert load_yaml(DOCS[1])["units"] == {1: "meter", 2: "rectifier"}  # int keys stay ints


@pytest.mark.parametrize("in_process", [False, True])
def test_syntax_errors_carry_their_position(in_process: bool) -> None:
    with pytest.raises(YamlProblem) as err:
        load_yaml("site: a\ndevices:\n  - name: x\n   port: [1\n", in_process=in_process)
    assert err.value.syntax and err.value.mark is not None
    assert err.value.mark[0] in (2, 3)  # 0-based line of the bad indentation / open list


def test_without_an_interpreter_to_start_it_parses_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yaml_load.sys, "executable", "")
    assert load_yaml(DOCS[3]) == yaml.safe_load(DOCS[3])


def test_config_errors_still_name_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text("site: a\nagent: [b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    (line,) = err.value.lines
    assert line.startswith(f"{f}:") and "YAML syntax error" in line


def test_loading_a_config_never_imports_yaml_into_the_agent(tmp_path: Path) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text(
        "site: plant1\nagent: agent1\nkey_file: agent.key\ncollector_key: c.jwk\ndata_dir: data\n"
        "devices:\n"
        "  - {name: meter, host: 127.0.0.1, port: 5020, points: "
        "[{id: p0, table: holding, address: 0, type: FLOAT32}]}\n",
        encoding="utf-8",
    )
    probe = (
        "import json, sys; import agent.cli; from agent.config import load_config; "
        "cfg = load_config(sys.argv[1]); "
        "print(json.dumps([cfg.devices[0].points[0].id, 'yaml' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(f)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == ["p0", False]
