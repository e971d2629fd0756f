"""Config validation: typical mistakes give one line naming the file and the field."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import ConfigError, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "agent"

BASE: dict[str, Any] = {
    "site": "plant1",
    "agent": "potline1",
    "key_file": "agent.key",
    "collector_key": "collector.pub.jwk",
    "data_dir": "data",
    "devices": [
        {
            "name": "rectifier",
            "host": "127.0.0.1",
            "port": 5020,
            "points": [
                {"id": "line_current_ka", "table": "input", "address": 0, "type": "FLOAT32"},
                {"id": "line_voltage_v", "table": "input", "address": 2, "type": "FLOAT32"},
            ],
        },
        {
            "name": "plc",
            "host": "127.0.0.1",
            "port": 5021,
            "points": [{"id": "cells", "table": "holding", "address": 0}],
        },
    ],
}


def _errors(tmp_path: Path, data: Any, text: str | None = None) -> list[str]:
    path = tmp_path / "agent.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    for line in exc.value.lines:
        assert "\n" not in line and line.startswith(str(path))
    return exc.value.lines


def _mutate(fn: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def test_valid_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(BASE))
    cfg = load_config(path)
    assert cfg.key_file == tmp_path / "agent.key"
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.config_hash and len(cfg.all_points()) == 3


@pytest.mark.parametrize(
    ("mutate", "path", "hint"),
    [
        (
            lambda d: d["devices"][0]["points"][1].update(type="FLOAT"),
            "devices[0].points[1].type",
            "FLOAT32",
        ),
        (
            lambda d: d["devices"][0]["points"][0].update(table="holdings"),
            "devices[0].points[0].table",
            "holding",
        ),
        (
            lambda d: d["devices"][1]["points"][0].update(address=70000),
            "devices[1].points[0].address",
            "65535",
        ),
        (
            lambda d: d["devices"][0]["points"][1].update(id="line_current_ka"),
            "devices[0].points[1].id",
            "already used",
        ),
        (
            lambda d: d["devices"][0]["points"][0].update(poll_group="fast"),
            "devices[0].points[0].poll_group",
            "default",
        ),
        (lambda d: d["devices"][1].update(transport="rtu"), "devices[1]", "serial"),
        (
            lambda d: d["devices"][0]["points"][0].update(byte_order="BIG"),
            "devices[0].points[0].byte_order",
            "CDAB",
        ),
        (lambda d: d["devices"][0].update(timeout=-1), "devices[0].timeout", "greater than 0"),
        (lambda d: d.update(site="plant 1"), "site", "pattern"),
        (lambda d: d.pop("key_file"), "key_file", "required"),
        (
            lambda d: d["devices"][0].update(adress=1),
            "devices[0].adress",
            "allowed here: name, transport, host",
        ),
        (
            lambda d: d["devices"][0]["points"][1].update(colour="red"),
            "devices[0].points[1].colour",
            "unknown field; allowed here: id, table, address, type, byte_order, scale, offset,"
            " bit, length, unit, unit_id, poll_group, min, max, frozen_polls, name_en, name_zh,"
            " aggregation",
        ),
        (
            lambda d: d["devices"][0]["points"].append("line_power_mw"),
            "devices[0].points[2]",
            "must be a valid dictionary or instance of PointConfig",
        ),
        (
            lambda d: d["devices"][0]["points"][0].pop("table"),
            "devices[0].points[0].table",
            "required",
        ),
        (lambda d: d.update(broker={"protocol": "4"}), "broker.protocol", "3.1.1"),
        (lambda d: d.update(derived=[{"id": "x", "kind": "magic"}]), "derived[0].kind", "counter"),
        (
            lambda d: d.update(derived=[{"id": "e", "kind": "counter", "input": "nope"}]),
            "derived[0]",
            "nope",
        ),
        (
            lambda d: d.update(
                derived=[{"id": "e", "kind": "expression", "expr": "__import__('os')"}]
            ),
            "derived[0].expr",
            "only",
        ),
        (lambda d: d.update(clock={"source": "simulated"}), "clock", "start"),
    ],
)
def test_typical_mistakes_name_the_field(tmp_path: Path, mutate: Any, path: str, hint: str) -> None:
    lines = _errors(tmp_path, _mutate(mutate))
    assert any(f": {path}" in line and hint in line for line in lines), lines


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    [line] = _errors(tmp_path, None, text="site: a\ndevices: [\n  - x: 1\n")
    assert ("YAML syntax error" in line and ":3:" in line) or ":4:" in line


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("kind", ["aluminium", "cement", "steel", "meter", "opcua"])
def test_example_configs_are_valid(kind: str) -> None:
    cfg = load_config(EXAMPLES / f"{kind}.yaml")
    assert cfg.devices and cfg.derived


def test_examples_and_schema_are_up_to_date() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    for path, text in generate.generate().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale; run .venv/bin/python config/agent/generate.py"
        )
    schema = json.loads((EXAMPLES / "agent.schema.json").read_text())
    assert "devices" in schema["properties"] and "derived" in schema["properties"]


def test_points_are_slotted_and_keep_their_values(tmp_path: Path) -> None:
    """An agent keeps one PointConfig per point for its lifetime: no per-instance dict."""
    data = _mutate(
        lambda d: d["devices"][0]["points"][1].update(
            scale=0.1, min=0, max=1000, unit="V", frozen_polls=3, byte_order="CDAB", unit_id=2
        )
    )
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    pt = load_config(path).devices[0].points[1]
    assert not hasattr(pt, "__dict__")
    assert (pt.id, pt.table, pt.address, pt.type, pt.byte_order) == (
        "line_voltage_v", "input", 2, "FLOAT32", "CDAB"
    )  # fmt: skip
    assert (pt.scale, pt.offset, pt.min, pt.max, pt.unit, pt.frozen_polls, pt.unit_id) == (
        0.1, 0.0, 0.0, 1000.0, "V", 3, 2
    )  # fmt: skip
    assert (pt.poll_group, pt.bit, pt.length, pt.name_en, pt.registers()) == (
        "default", None, None, None, 2
    )  # fmt: skip
