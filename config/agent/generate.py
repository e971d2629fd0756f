"""Regenerate the example agent configs and the JSON Schema in this directory.

    .venv/bin/python config/agent/generate.py

The device sections come from the simulators' register maps (``mrv-sim describe KIND
--json``); key parameters are renamed to their catalogue ids (protocols/catalogue.py) with
the scale that converts to the catalogue unit. The schema comes from agent.config's models.
A test (tests/agent/test_config.py) fails when a committed file differs from what this
script would write.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from agent.config import json_schema  # noqa: E402
from agent.regmap import devices_from_map  # noqa: E402
from simulators.catalogue_map import INDUSTRY, RENAMES  # noqa: E402
from simulators.plant import PlantSimulator  # noqa: E402

PORTS = {"aluminium": 5021, "cement": 5022, "steel": 5023, "meter": 5024}

DERIVED: dict[str, list[dict[str, Any]]] = {
    "aluminium": [
        {
            "id": "line_charge_ka_h",
            "kind": "integral",
            "input": "line_current_ka",
            "total_id": "line_charge_total_ka_h",
        },
        {
            "id": "al_production_faraday_t",
            "kind": "faraday",
            "charge": "line_charge_ka_h",
            "ce": 0.94,
            "cells": "operating_cells",
        },
        {
            "id": "al_production_t",
            "kind": "counter",
            "input": "aluminium_output_kg",
            "factor": 0.001,
            "unit": "t",
        },
        {
            "id": "dc_energy_interval_mwh",
            "kind": "counter",
            "input": "dc_energy_mwh",
            "unit": "MWh",
            "name_en": "DC energy in the interval",
            "name_zh": "区间直流电量",
        },
        {
            "id": "line_current_mean_ka",
            "kind": "aggregate",
            "input": "line_current_ka",
            "unit": "kA",
            "name_en": "Potline current, interval mean",
            "name_zh": "系列电流区间均值",
        },
        {
            "id": "ae_minutes",
            "kind": "anode_effect",
            "source": "voltages",
            "cells": ["cell_*_voltage_v"],
            "trigger_v": 8.0,
            "min_duration_s": 2,
            "merge_gap_s": 10,
            "count_id": "ae_count",
            "operating_cells": "operating_cells",
            "cell_days_id": "operating_cell_days",
        },
        {
            "id": "pfc_co2e_t",
            "kind": "pfc",
            "method": "slope",
            "technology": "CWPB",
            "coefficients": "ipcc2006",
            "gwp": "AR5",
            "ae_minutes": "ae_minutes",
            "cell_days": "operating_cell_days",
            "production": "al_production_t",
        },
        {
            "id": "cell_voltage_avg_v",
            "kind": "expression",
            "expr": "line_voltage_v / max(operating_cells, 1)",
        },
    ],
    "cement": [
        {
            "id": "clinker_interval_t",
            "kind": "counter",
            "input": "clinker_t",
            "unit": "t",
            "name_en": "Clinker in the interval",
            "name_zh": "区间熟料产量",
        },
        {
            "id": "coal_interval_t",
            "kind": "expression",
            "unit": "t",
            "expr": "kiln_coal_interval_t + calciner_coal_interval_t",
        },
        {"id": "kiln_coal_interval_t", "kind": "counter", "input": "kiln_coal_t", "unit": "t"},
        {
            "id": "calciner_coal_interval_t",
            "kind": "counter",
            "input": "calciner_coal_t",
            "unit": "t",
        },
        {
            "id": "power_import_interval_mwh",
            "kind": "counter",
            "input": "power_import_mwh",
            "unit": "MWh",
        },
        {
            "id": "kiln_head_temp_mean_c",
            "kind": "aggregate",
            "input": "kiln_head_temp_c",
            "unit": "°C",
        },
    ],
    "steel": [
        {"id": "crude_steel_t", "kind": "counter", "input": "crude_steel_total_t"},
        {"id": "coke_interval_t", "kind": "counter", "input": "coke_t", "unit": "t"},
        {"id": "pci_coal_interval_t", "kind": "counter", "input": "pci_coal_t", "unit": "t"},
        {"id": "bf_gas_interval_nm3", "kind": "counter", "input": "bf_gas_nm3", "unit": "Nm³"},
        {
            "id": "power_import_interval_mwh",
            "kind": "counter",
            "input": "power_import_mwh",
            "unit": "MWh",
        },
    ],
    "meter": [
        {
            "id": "power_import_interval_mwh",
            "kind": "counter",
            "input": "power_import_mwh",
            "unit": "MWh",
        },
        {
            "id": "energy_from_power_kwh",
            "kind": "integral",
            "input": "total_power_w",
            "factor": 0.001,
            "mode": "trapezoid",
            "unit": "kWh",
            "name_en": "Energy integrated from power (cross-check)",
            "name_zh": "功率积分电量",
        },
        {
            "id": "net_import_mwh",
            "kind": "expression",
            "unit": "MWh",
            "expr": "power_import_mwh - power_export_mwh",
        },
    ],
}


HEADER = """\
# Plant MRV agent — example config for the simulated {kind} plant.
# Generated by config/agent/generate.py from `mrv-sim describe {kind} --json`; edit freely
# for a real plant. Validate with:  mrv-agent check -c {name}
# Run against the simulator:       mrv-sim run {kind} --port {port}
#                                  mrv-agent run -c {name}
# JSON Schema (editor completion):  config/agent/agent.schema.json
#
# site/agent: ids [A-Za-z0-9_-]{{1,64}}; they form the MQTT topics mrv/v1/SITE/AGENT/...
# key_file: Ed25519 private key (mrv-agent keygen --out keys/{kind}); must be mode 0600.
# data_dir: the durable outbox (SQLite) and derived-parameter state live here.
# Relative paths are relative to this file.
"""

SECTIONS = {
    "clock": "# clock: `system` for a real plant. For a fast simulator use\n"
    "#   {source: simulated, start: 2026-01-01T00:00:00Z, speed: 60, anchor_wall: EPOCH_S}\n"
    "# (the same numbers the simulator got); poll and publish intervals are plant seconds.",
    "broker": "# broker: MQTT 3.1.1 or 5; tls: {ca, cert, key}; password_file holds the password.",
    "poll_groups": "# poll_groups: each point names one; intervals in plant seconds, aligned to\n"
    "# the clock (cell voltages at >= 1 Hz for anode-effect detection).",
    "publish": "# publish: one signed batch per interval (plant s); ack_timeout (wall s) before\n"
    "# unacked batches are republished; window = batches in flight ahead of the ack.",
    "outbox": "# outbox: default keeps every unacked batch until the disk limit and raises an\n"
    "# alarm; on_full: drop_oldest deletes the oldest (logged, announced in the next batch).",
    "devices": "# devices: transport tcp | rtu (serial: {port, baudrate, parity}) | rtu_over_tcp.\n"
    "# Points: id (parameter id), table coil|discrete|input|holding, 0-based address,\n"
    "# type, byte_order ABCD|DCBA|BADC|CDAB, scale/offset (value = raw x scale + offset),\n"
    "# min/max (outside: quality uncertain). quirks: connect_delay, request_delay,\n"
    "# close_after_poll, max_registers_per_request, gap_fill, address_offset.",
    "derived": "# derived: computed key parameters, one kind each: counter, integral, mean,\n"
    "# aggregate, faraday, anode_effect, pfc, expression (see agent/derived/).",
}


def example(kind: str, regmap: dict[str, Any]) -> dict[str, Any]:
    port = PORTS[kind]
    devices = devices_from_map(regmap, host="127.0.0.1", port=port)
    rename = RENAMES[kind]
    for dev in devices:
        dev["timeout"] = 1.0
        dev["retries"] = 1
        for p in dev["points"]:
            if p["id"] in rename:
                new, factor, unit = rename[p["id"]]
                p["id"] = new
                p["scale"] = p.get("scale", 1.0) * factor
                p["unit"] = unit
                for k in ("min", "max"):
                    if k in p and p[k] is not None:
                        p[k] = p[k] * factor
            if kind == "aluminium" and p["id"].startswith("cell_"):
                p["poll_group"] = "cells"
    groups: dict[str, Any] = {"default": {"interval": 10}}
    if kind == "aluminium":
        groups["cells"] = {"interval": 1}
    return {
        "site": "demo_plant",
        "agent": f"{kind}_agent",
        "key_file": f"../../keys/{kind}/agent.key",
        "data_dir": f"../../data/agent/{kind}",
        "industry": INDUSTRY[kind],
        "log_level": "info",
        "clock": {"source": "system"},
        "broker": {"host": "127.0.0.1", "port": 1883, "protocol": "5", "keepalive": 30},
        "poll_groups": groups,
        "publish": {"interval": 60, "max_readings_per_batch": 5000, "ack_timeout": 30},
        "outbox": {"on_full": "keep", "min_free_disk_bytes": 67108864},
        "devices": devices,
        "derived": DERIVED[kind],
    }


def render(kind: str, data: dict[str, Any]) -> str:
    name = f"config/agent/{kind}.yaml"
    out = [HEADER.format(kind=kind, name=name, port=PORTS[kind])]
    for key, value in data.items():
        if key in SECTIONS:
            out.append("\n" + SECTIONS[key] + "\n")
        out.append(yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=100))
    return "".join(out)


def generate() -> dict[Path, str]:
    files: dict[Path, str] = {}
    for kind in PORTS:
        sim = PlantSimulator(kind)
        files[HERE / f"{kind}.yaml"] = render(kind, example(kind, sim.describe()))
    files[HERE / "agent.schema.json"] = (
        json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    )
    return files


if __name__ == "__main__":
    for path, text in generate().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
