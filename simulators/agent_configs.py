"""Agent configs for the simulated plants: one source for the example files and the stack.

``config/agent/generate.py`` writes the example configs from these definitions and the
stack (demo, fault suite, benchmarks) generates its agents' configs from them: the devices
come from a simulator's register map, key parameters renamed to their catalogue ids with
the scale to the catalogue unit, and one list of derived key parameters per plant kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalogue_map import INDUSTRY, RENAMES

if TYPE_CHECKING:
    from .programs import PlantClockSpec

__all__ = [
    "DERIVED",
    "agent_config",
    "catalogue_devices",
    "opcua_device",
    "simulated_clock_derived",
]

#: Derived key parameters per plant kind, as a plant (real-time clock) would run them.
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
            "id": "anode_consumption_t",
            "kind": "counter",
            "input": "anode_consumed_kg",
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
        {"id": "hot_metal_t", "kind": "counter", "input": "hot_metal_total_t", "unit": "t"},
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


#: Anode effects for a fast simulated clock: from the pot controllers' AE counters
#: (``source: counters``), exact whatever the poll interval, where voltage sampling
#: (``DERIVED``'s ``source: voltages``) needs >= 1 Hz of plant time, which a month in
#: minutes cannot afford.
_AE_FROM_COUNTERS: dict[str, Any] = {
    "id": "ae_minutes",
    "kind": "anode_effect",
    "source": "counters",
    "ae_count_inputs": ["cell_*_ae_count"],
    "ae_seconds_inputs": ["cell_*_ae_seconds"],
    "count_id": "ae_count",
    "operating_cells": "operating_cells",
    "cell_days_id": "operating_cell_days",
}

#: Which of ``DERIVED`` a fast simulated clock runs (the cheap, interval-exact ones).
_SIMULATED_CLOCK_IDS: dict[str, tuple[str, ...]] = {
    "aluminium": (
        "al_production_t",
        "anode_consumption_t",
        "dc_energy_interval_mwh",
        "line_current_mean_ka",
        "ae_minutes",
    ),
    "cement": (
        "clinker_interval_t",
        "kiln_coal_interval_t",
        "calciner_coal_interval_t",
        "power_import_interval_mwh",
    ),
    "steel": ("crude_steel_t", "hot_metal_t"),
}


def simulated_clock_derived(kind: str) -> list[dict[str, Any]]:
    """Derived key parameters for a fast simulated clock: a subset of ``DERIVED[kind]``,
    anode effects counted from the AE counters."""
    keep = _SIMULATED_CLOCK_IDS.get(kind, ())
    out: list[dict[str, Any]] = []
    for spec in DERIVED.get(kind, []):
        if spec["id"] not in keep:
            continue
        out.append(dict(_AE_FROM_COUNTERS) if spec["kind"] == "anode_effect" else dict(spec))
    return out


def opcua_device(kind: str, regmap: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """One OPC UA device section for a simulator served over OPC UA (``mrv-sim run KIND
    --protocol opcua``): every register a node ``ns=2;s=DEVICE.REGISTER`` holding the
    engineering value, renamed and scaled to the catalogue like ``catalogue_devices``."""
    rename = RENAMES.get(kind, {})
    points: list[dict[str, Any]] = []
    for dev in regmap["devices"]:
        for r in dev["registers"]:
            p: dict[str, Any] = {"id": r["name"], "node_id": f"ns=2;s={dev['name']}.{r['name']}"}
            if r.get("unit"):
                p["unit"] = r["unit"]
            lo, hi = r.get("min"), r.get("max")
            if r["name"] in rename:
                new, factor, unit = rename[r["name"]]
                p.update(id=new, unit=unit, scale=factor)
                lo = None if lo is None else lo * factor
                hi = None if hi is None else hi * factor
            if lo is not None:
                p["min"] = lo
            if hi is not None:
                p["max"] = hi
            points.append(p)
    return {
        "name": f"{kind}_dcs",
        "transport": "opcua",
        "endpoint": endpoint,
        "retries": 0,
        "backoff": {"initial": 0.2, "max": 2.0},
        "points": points,
    }


def catalogue_devices(
    kind: str,
    regmap: dict[str, Any],
    *,
    port: int,
    host: str = "127.0.0.1",
    raw_counters: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Agent device sections for a simulator's register map, points renamed to catalogue ids
    with the scale (and min/max) converted to the catalogue unit. ``raw_counters`` (register
    names) stay raw register counts (scale 1, unit ``count``) under their catalogue id."""
    from agent.regmap import devices_from_map

    devices = devices_from_map(regmap, host=host, port=port)
    rename = RENAMES.get(kind, {})
    for dev in devices:
        for p in dev["points"]:
            if p["id"] in raw_counters:
                p.pop("scale", None)
                p.pop("min", None)
                p.pop("max", None)
                p["unit"] = "count"
                p["id"] = rename.get(p["id"], (p["id"], 1.0, ""))[0]
                continue
            if p["id"] in rename:
                new, factor, unit = rename[p["id"]]
                p["id"] = new
                p["scale"] = p.get("scale", 1.0) * factor
                p["unit"] = unit
                for k in ("min", "max"):
                    if p.get(k) is not None:
                        p[k] = p[k] * factor
    return devices


def agent_config(
    *,
    site: str,
    agent: str,
    kind: str,
    regmap: dict[str, Any],
    sim_port: int,
    key_file: Path,
    collector_key: Path | None,
    data_dir: Path,
    broker_host: str,
    broker_port: int,
    clock: PlantClockSpec | None,
    poll_s: float = 60.0,
    publish_s: float = 3600.0,
    ack_timeout_s: float = 5.0,
    protocol: str = "3.1.1",
    device_timeout_s: float = 0.5,
    link_per_device: bool = True,
    raw_counters: Sequence[str] = (),
    derived: list[dict[str, Any]] | None = None,
    device_protocol: str = "modbus",
) -> dict[str, Any]:
    """An agent config (plain dict) generated from a simulator's register map via
    ``agent.regmap``, with catalogue ids, a simulated clock and plant-time intervals.

    ``link_per_device`` gives every unit its own TCP connection (``bus``: the device name),
    as on a plant network, so a unit that times out does not hold up its neighbours; False
    puts all units behind one connection, like a serial gateway. ``raw_counters`` (register
    names) are sent as raw register counts (scale 1, catalogue id): the record's
    ``counters`` settings then give width and scale, so it can tell a rollover from a reset."""
    if device_protocol == "opcua":
        devices = [opcua_device(kind, regmap, f"opc.tcp://127.0.0.1:{sim_port}/")]
        devices[0]["timeout"] = max(device_timeout_s, 1.0)
    else:
        devices = catalogue_devices(kind, regmap, port=sim_port, raw_counters=raw_counters)
    for dev in devices if device_protocol != "opcua" else ():
        dev["timeout"] = device_timeout_s
        dev["retries"] = 0
        dev["backoff"] = {"initial": 0.2, "max": 2.0}
        if link_per_device:
            dev["bus"] = dev["name"]
    return {
        "site": site,
        "agent": agent,
        "key_file": str(key_file),
        **({} if collector_key is None else {"collector_key": str(collector_key)}),
        "data_dir": str(data_dir),
        "industry": INDUSTRY.get(kind, "generic"),
        "log_level": "info",
        "clock": (
            {"source": "system"}
            if clock is None
            else {
                "source": "simulated",
                "start": clock.start_ms,
                "speed": clock.speed,
                "anchor_wall": clock.anchor_wall_s,
            }
        ),
        "broker": {
            "host": broker_host,
            "port": broker_port,
            "protocol": protocol,
            "keepalive": 30,
            "reconnect": {"initial": 0.2, "max": 2.0},
        },
        "poll_groups": {"default": {"interval": poll_s}},
        "publish": {
            "interval": publish_s,
            "max_readings_per_batch": 50000,
            "ack_timeout": ack_timeout_s,
        },
        "outbox": {"on_full": "keep", "synchronous": "NORMAL"},
        "devices": devices,
        "derived": simulated_clock_derived(kind) if derived is None else derived,
    }
