"""The key-parameter catalogue: ids per industry, bilingual names, aggregation, export."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from protocols.catalogue import (
    Aggregation,
    catalogue,
    catalogue_json,
    export,
    industries,
    parameter,
    parameters,
)

REQUIRED = {
    "aluminium": {
        "line_current_ka",
        "al_production_t",
        "ae_minutes",
        "operating_cell_days",
        "aem",
        "cf4_t",
        "c2f6_t",
        "pfc_co2e_t",
        "dc_energy_mwh",
        "ac_energy_mwh",
        "specific_dc_energy_kwh_per_kg",
        "power_import_mwh",
    },
    "cement": {
        "clinker_t",
        "kiln_coal_t",
        "calciner_coal_t",
        "kiln_feed_t_per_h",
        "power_import_mwh",
    },
    "steel": {
        "crude_steel_t",
        "coke_t",
        "pci_coal_t",
        "bf_gas_nm3",
        "coke_oven_gas_nm3",
        "power_import_mwh",
    },
    "generic": {"power_import_mwh"},
}


@pytest.mark.parametrize("industry", sorted(REQUIRED))
def test_required_ids_present(industry: str) -> None:
    ids = {p.id for p in catalogue(industry)}
    assert REQUIRED[industry] <= ids


def test_names_units_and_rules() -> None:
    assert parameter("line_current_ka").name_zh == "系列电流"
    assert parameter("al_production_t").name_zh == "铝液产量"
    assert parameter("ae_minutes").name_zh == "阳极效应分钟数"
    assert parameter("clinker_t").name_zh == "熟料产量"
    assert parameter("crude_steel_t").name_zh == "粗钢产量"
    assert parameter("line_current_ka").aggregation is Aggregation.TIME_WEIGHTED_MEAN
    assert parameter("dc_energy_mwh").aggregation is Aggregation.COUNTER_DELTA
    assert parameter("ae_minutes").aggregation is Aggregation.SUM
    aem = parameter("aem")
    assert aem.aggregation is Aggregation.DERIVED
    assert aem.derived_from == ("ae_minutes", "operating_cell_days")
    for p in parameters():
        assert p.name_en and p.name_zh and p.unit
        if p.aggregation is Aggregation.DERIVED:
            assert p.derived_from, p.id


def test_ids_unique_and_shared_parameter_is_one_object() -> None:
    ids = [p.id for p in parameters()]
    assert len(ids) == len(set(ids))
    a = next(p for p in catalogue("aluminium") if p.id == "power_import_mwh")
    s = next(p for p in catalogue("steel") if p.id == "power_import_mwh")
    assert a is s


def test_lookup_errors_and_frozen() -> None:
    with pytest.raises(KeyError):
        parameter("nope")
    with pytest.raises(KeyError):
        catalogue("glass")
    with pytest.raises(ValidationError):
        parameter("aem").unit = "x"  # type: ignore[misc]
    assert set(industries()) == {"aluminium", "cement", "steel", "generic"}


def test_export_json_for_birth_message() -> None:
    doc = json.loads(catalogue_json("cement"))
    assert doc["industry"] == "cement" and doc["version"] == 1
    clinker = next(p for p in doc["parameters"] if p["id"] == "clinker_t")
    assert clinker["aggregation"] == "counter_delta" and clinker["name_zh"] == "熟料产量"
    assert "熟料产量" in catalogue_json("cement")  # not ASCII-escaped
    sub = export("aluminium", ("aem", "cf4_t"))
    assert [p["id"] for p in sub["parameters"]] == ["aem", "cf4_t"]
    with pytest.raises(KeyError):
        export("steel", ("clinker_t",))
