"""Key-parameter catalogue per industry: ids, bilingual names, units, monthly aggregation.

One id means one thing everywhere (agent config, wire readings, monthly record, report), so
a parameter shared by several industries (``power_import_mwh``) is one entry listed in each.
Names follow plant language (Chinese names as used in MEE accounting guidelines and plant
reports). Aggregation rules say how a month's value is formed:

* ``counter_delta`` — difference of a cumulative register across the month boundaries
  (protocols.methods.counters);
* ``sum`` — sum of interval values (e.g. tapped metal, AE minutes);
* ``time_weighted_mean`` — time-weighted mean over the month (protocols.methods.timeweighted);
* ``derived`` — computed from other parameters by a named method (``derived_from``).

``higher_is_conservative`` tells substitution which direction is conservative.
"""

from __future__ import annotations

import json
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict

from protocols.industry import Industry, industry_of

__all__ = [
    "CATALOGUE_VERSION",
    "Aggregation",
    "Industry",
    "Parameter",
    "catalogue",
    "catalogue_json",
    "export",
    "industries",
    "parameter",
    "parameters",
]

CATALOGUE_VERSION = 1


class Aggregation(StrEnum):
    COUNTER_DELTA = "counter_delta"
    SUM = "sum"
    TIME_WEIGHTED_MEAN = "time_weighted_mean"
    DERIVED = "derived"


class Parameter(BaseModel):
    """One key parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name_en: str
    name_zh: str
    unit: str
    aggregation: Aggregation
    description: str = ""
    derived_from: tuple[str, ...] = ()
    method: str | None = None  # protocols.methods function for derived parameters
    higher_is_conservative: bool = True


def _p(
    id: str,
    en: str,
    zh: str,
    unit: str,
    agg: Aggregation,
    desc: str = "",
    *,
    derived_from: tuple[str, ...] = (),
    method: str | None = None,
    higher: bool = True,
) -> Parameter:
    return Parameter(
        id=id,
        name_en=en,
        name_zh=zh,
        unit=unit,
        aggregation=agg,
        description=desc,
        derived_from=derived_from,
        method=method,
        higher_is_conservative=higher,
    )


C, S, M, D = (
    Aggregation.COUNTER_DELTA,
    Aggregation.SUM,
    Aggregation.TIME_WEIGHTED_MEAN,
    Aggregation.DERIVED,
)

_POWER = (
    _p(
        "power_import_mwh",
        "Electricity imported",
        "外购电量",
        "MWh",
        C,
        "Grid import active energy, cumulative meter",
    ),
    _p(
        "power_export_mwh",
        "Electricity exported",
        "外供电量",
        "MWh",
        C,
        "Export active energy; lower is conservative (it is deducted)",
        higher=False,
    ),
    _p("active_power_mw", "Active power", "有功功率", "MW", M),
)

_ALUMINIUM = (
    _p(
        "line_current_ka",
        "Potline current",
        "系列电流",
        "kA",
        M,
        "DC line current through all cells in series",
    ),
    _p(
        "line_charge_ka_h",
        "Potline charge",
        "系列电荷量",
        "kA·h",
        S,
        "Time integral of line current (step-held)",
    ),
    _p("cell_voltage_avg_v", "Average cell voltage", "平均槽电压", "V", M),
    _p("operating_cells", "Cells in operation", "在产槽数", "cells", M),
    _p(
        "operating_cell_days",
        "Operating cell-days",
        "运行槽日",
        "cell·d",
        S,
        "Integral of cells in operation",
    ),
    _p(
        "ae_minutes",
        "Anode-effect minutes",
        "阳极效应分钟数",
        "min",
        S,
        "Σ anode-effect duration over all cells (trigger and minimum duration recorded)",
    ),
    _p("ae_count", "Anode-effect count", "阳极效应次数", "count", S),
    _p(
        "aem",
        "Anode-effect minutes per cell-day",
        "阳极效应持续时间(分钟/槽日)",
        "min/(cell·d)",
        D,
        derived_from=("ae_minutes", "operating_cell_days"),
        method="protocols.methods.aem.aem",
    ),
    _p(
        "al_production_t",
        "Liquid aluminium production (measured)",
        "铝液产量",
        "t",
        S,
        "Tapped liquid metal, weighed (the guideline's production figure)",
        higher=True,
    ),
    _p(
        "al_production_faraday_t",
        "Primary aluminium (Faraday estimate)",
        "原铝产量(法拉第估算)",
        "t",
        D,
        derived_from=("line_current_ka", "operating_cells"),
        method="protocols.methods.faraday.faraday_production",
    ),
    _p(
        "current_efficiency",
        "Current efficiency (implied)",
        "电流效率",
        "fraction",
        D,
        derived_from=("al_production_t", "line_current_ka", "operating_cell_days"),
        method="protocols.methods.faraday.implied_current_efficiency",
    ),
    _p("dc_energy_mwh", "DC energy to potline", "直流电量", "MWh", C),
    _p("ac_energy_mwh", "AC energy to rectifiers", "交流电量", "MWh", C),
    _p(
        "specific_dc_energy_kwh_per_kg",
        "Specific DC energy",
        "原铝直流电耗",
        "kWh/kg",
        D,
        derived_from=("dc_energy_mwh", "al_production_t"),
    ),
    _p(
        "ac_kwh_per_t",
        "AC electricity per tonne of liquid aluminium",
        "铝液交流电耗",
        "kWh/t",
        D,
        "Auxiliary parameter (辅助参数), not an emission",
        derived_from=("ac_energy_mwh", "al_production_t"),
    ),
    _p("anode_consumption_t", "Net anode consumption", "阳极净耗量", "t", S),
    _p(
        "cf4_t",
        "CF4 emissions",
        "CF4排放量",
        "t",
        D,
        derived_from=("aem", "al_production_t"),
        method="protocols.methods.pfc.pfc",
    ),
    _p(
        "c2f6_t",
        "C2F6 emissions",
        "C2F6排放量",
        "t",
        D,
        derived_from=("aem", "al_production_t"),
        method="protocols.methods.pfc.pfc",
    ),
    _p(
        "pfc_co2e_t",
        "PFC emissions (CO2e)",
        "全氟化碳排放量(CO2当量)",
        "t CO2e",
        D,
        derived_from=("cf4_t", "c2f6_t"),
        method="protocols.methods.pfc.pfc",
    ),
)

_CEMENT = (
    _p("clinker_t", "Clinker production", "熟料产量", "t", C, "Clinker belt-scale totaliser"),
    _p("cement_t", "Cement production", "水泥产量", "t", C),
    _p("raw_meal_t", "Raw meal consumed", "生料消耗量", "t", C),
    _p("kiln_feed_t_per_h", "Kiln feed rate", "生料喂料量", "t/h", M),
    _p("kiln_coal_t", "Kiln main-burner coal", "窑头煤耗量", "t", C),
    _p("calciner_coal_t", "Calciner coal", "分解炉煤耗量", "t", C),
    _p("kiln_head_temp_c", "Kiln hood (burning-zone end) temperature", "窑头温度", "°C", M),
    _p("clinker_cao_fraction", "Clinker CaO content", "熟料氧化钙含量", "fraction", M),
    _p("clinker_mgo_fraction", "Clinker MgO content", "熟料氧化镁含量", "fraction", M),
)

_STEEL = (
    _p("crude_steel_t", "Crude steel production", "粗钢产量", "t", S),
    _p("hot_metal_t", "Hot metal production", "铁水产量", "t", S),
    _p("coke_t", "Coke consumed", "焦炭消耗量", "t", C),
    _p("pci_coal_t", "Pulverised coal injected", "喷吹煤量", "t", C),
    _p("bf_gas_nm3", "Blast-furnace gas", "高炉煤气量", "Nm³", C),
    _p("coke_oven_gas_nm3", "Coke-oven gas", "焦炉煤气量", "Nm³", C),
    _p("bof_gas_nm3", "Converter (BOF) gas", "转炉煤气量", "Nm³", C),
    _p("natural_gas_nm3", "Natural gas", "天然气消耗量", "Nm³", C),
    _p("limestone_t", "Limestone (flux) consumed", "石灰石消耗量", "t", C),
    _p("dolomite_t", "Dolomite (flux) consumed", "白云石消耗量", "t", C),
    _p("coking_coal_t", "Coking coal charged", "炼焦洗精煤消耗量", "t", C),
    _p("coke_produced_t", "Coke produced", "焦炭产量", "t", C, higher=False),
    _p("coke_sold_t", "Coke sold", "外销焦炭量", "t", C, higher=False),
    _p("tar_t", "Coal tar produced", "焦油产量", "t", C, higher=False),
    _p("crude_benzene_t", "Crude benzene produced", "粗苯产量", "t", C, higher=False),
    _p("sinter_coke_breeze_t", "Coke breeze to sintering", "烧结焦粉消耗量", "t", C),
    _p("scrap_t", "Scrap charged", "废钢消耗量", "t", C),
    _p("electrodes_t", "Electrodes consumed", "电极消耗量", "t", C),
    _p("pig_iron_purchased_t", "Purchased pig iron", "外购生铁量", "t", C),
    _p("coke_purchased_t", "Purchased coke", "外购焦炭量", "t", C),
    _p("dri_t", "Direct reduced iron charged", "直接还原铁消耗量", "t", C),
    _p(
        "coke_oven_gas_export_nm3",
        "Coke-oven gas exported",
        "焦炉煤气外供量",
        "Nm³",
        C,
        higher=False,
    ),
    _p("bf_gas_export_nm3", "Blast-furnace gas exported", "高炉煤气外供量", "Nm³", C, higher=False),
    _p("bof_gas_export_nm3", "BOF gas exported", "转炉煤气外供量", "Nm³", C, higher=False),
    _p("hot_blast_temp_c", "Hot-blast temperature", "热风温度", "°C", M),
)

_BY_INDUSTRY: MappingProxyType[Industry, tuple[Parameter, ...]] = MappingProxyType(
    {
        Industry.ALUMINIUM: _ALUMINIUM + _POWER,
        Industry.CEMENT: _CEMENT + _POWER,
        Industry.STEEL: _STEEL + _POWER,
        Industry.GENERIC: _POWER,
    }
)

_BY_ID: MappingProxyType[str, Parameter] = MappingProxyType(
    {p.id: p for ps in _BY_INDUSTRY.values() for p in ps}
)


def industries() -> tuple[str, ...]:
    return tuple(i.value for i in Industry)


def _industry(name: str | Industry) -> Industry:
    try:
        return industry_of(name)
    except ValueError:
        raise KeyError(f"unknown industry {name!r} (known: {', '.join(industries())})") from None


def catalogue(industry: str | Industry) -> tuple[Parameter, ...]:
    """The key parameters of one industry (including the generic power meter)."""
    return _BY_INDUSTRY[_industry(industry)]


def parameter(id: str) -> Parameter:
    """Look up a parameter by id; KeyError if unknown."""
    try:
        return _BY_ID[id]
    except KeyError:
        raise KeyError(f"unknown parameter id {id!r}") from None


def parameters() -> tuple[Parameter, ...]:
    """Every parameter, each once."""
    return tuple(_BY_ID.values())


def export(industry: str | Industry, ids: tuple[str, ...] | None = None) -> dict[str, Any]:
    """JSON-ready catalogue for an agent's birth message (optionally only ``ids``)."""
    ind = _industry(industry)
    ps = catalogue(ind)
    if ids is not None:
        wanted = set(ids)
        unknown = wanted - {p.id for p in ps}
        if unknown:
            raise KeyError(f"not in the {ind.value} catalogue: {', '.join(sorted(unknown))}")
        ps = tuple(p for p in ps if p.id in wanted)
    return {
        "version": CATALOGUE_VERSION,
        "industry": ind.value,
        "parameters": [p.model_dump(mode="json") for p in ps],
    }


def catalogue_json(industry: str | Industry, ids: tuple[str, ...] | None = None) -> str:
    """Compact, key-sorted JSON of :func:`export` (stable bytes for hashing)."""
    return json.dumps(
        export(industry, ids), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
