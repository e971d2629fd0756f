"""Formula results against values computed by hand from the cited sources."""

from __future__ import annotations

import pytest

from protocols.methods import MethodError
from protocols.methods.aem import aem
from protocols.methods.faraday import (
    AL_KG_PER_KA_H,
    AL_T_PER_KA_DAY,
    faraday_production,
    implied_current_efficiency,
    production_from_charge_t,
    specific_dc_energy_kwh_per_kg,
)
from protocols.methods.gwp import GWP_SETS, gwp, gwp_set
from protocols.methods.pfc import (
    pfc,
    pfc_china,
    pfc_slope,
    pfc_tier1,
    slope_coefficients,
    smelter_specific_coefficients,
)

# -- Faraday --------------------------------------------------------------------------


def test_electrochemical_equivalent_from_faraday_constant() -> None:
    # M(Al) / (3 F) × 3.6e6 C per kA·h, in kg (IUPAC 2021, CODATA 2018).
    kg = 26.9815385 / (3 * 96485.33212) * 3.6e6 / 1000
    assert kg == pytest.approx(AL_KG_PER_KA_H, abs=5e-7)
    assert pytest.approx(AL_T_PER_KA_DAY, abs=1e-8) == AL_KG_PER_KA_H * 24 / 1000


def test_faraday_production_hand_value() -> None:
    # 0.00805375 × 400 = 3.2215; × 0.93 = 2.995995; × 300 = 898.7985; × 30 = 26963.955
    r = faraday_production(400, 0.93, 300, 30)
    assert r.aluminium_t == pytest.approx(26963.955, rel=1e-12)
    assert r.method == "faraday"
    assert r.to_dict()["inputs"] == {"current_ka": 400, "ce": 0.93, "cells": 300, "days": 30}


def test_production_from_charge_matches_daily_form() -> None:
    # 400 kA × 720 h = 288000 kA·h; 0.335573 × 288000 = 96645.024; × 0.93 × 300 / 1000
    assert production_from_charge_t(288_000, 0.93, 300) == pytest.approx(26963.961696, rel=1e-12)


def test_implied_current_efficiency_hand_value() -> None:
    # theoretical at CE=1: 0.00805375 × 400 × 300 × 30 = 28993.5 t; 26000 / 28993.5
    assert implied_current_efficiency(26000, 400, 300, 30) == pytest.approx(0.8967527, rel=1e-6)


def test_specific_dc_energy_hand_value() -> None:
    # 2.980 × 4.0 / 0.925 = 11.92 / 0.925 = 12.886486…
    assert specific_dc_energy_kwh_per_kg(4.0, 0.925) == pytest.approx(12.886486486, rel=1e-9)


@pytest.mark.parametrize("ce", [0, 1.01, 93, -0.5, float("nan")])
def test_faraday_rejects_ce_not_a_fraction(ce: float) -> None:
    with pytest.raises(MethodError):
        faraday_production(400, ce, 300, 30)


def test_implied_ce_needs_current() -> None:
    with pytest.raises(MethodError):
        implied_current_efficiency(100, 0, 300, 30)


# -- AEM --------------------------------------------------------------------------------


def test_aem_hand_value_and_metadata() -> None:
    r = aem(1500, 9000, trigger_v=8.0, min_duration_s=2)
    assert r.aem == pytest.approx(1 / 6)
    assert (r.trigger_v, r.min_duration_s) == (8.0, 2)
    assert r.to_dict()["anode_effect_definition"] == {"trigger_v": 8.0, "min_duration_s": 2}


def test_aem_zero_cell_days_is_an_error() -> None:
    with pytest.raises(MethodError):
        aem(0, 0)


# -- GWP --------------------------------------------------------------------------------

GWP_EXPECTED = {
    "SAR": {"CF4": 6500, "C2F6": 9200, "CH4": 21, "N2O": 310},
    "AR4": {"CF4": 7390, "C2F6": 12200, "CH4": 25, "N2O": 298},
    "AR5": {"CF4": 6630, "C2F6": 11100, "CH4": 28, "N2O": 265},
    "AR6": {"CF4": 7380, "C2F6": 12400, "CH4": 27.9, "N2O": 273},
}


@pytest.mark.parametrize("name", sorted(GWP_EXPECTED))
def test_gwp_tables(name: str) -> None:
    for gas, value in GWP_EXPECTED[name].items():
        assert gwp(name, gas) == value
    assert gwp(name, "CO2") == 1
    assert gwp_set(name.lower()).name == name


def test_gwp_sets_are_immutable_and_unknown_rejected() -> None:
    assert set(GWP_SETS) == {"SAR", "AR4", "AR5", "AR6"}
    with pytest.raises(TypeError):
        GWP_SETS["AR5"].values["CF4"] = 1  # type: ignore[index]
    with pytest.raises(MethodError):
        gwp_set("AR7")
    with pytest.raises(MethodError):
        gwp("AR5", "SF6")


# -- PFC slope: every technology of both tables ---------------------------------------
# MP = 10000 t, AEM = 0.5 → E_CF4 = S × 0.5 × 10000 × 0.001 = 5 S; E_C2F6 = E_CF4 × F.
SLOPE_CASES = [
    ("ipcc2006", "CWPB", 0.715, 0.086515),
    ("ipcc2006", "SWPB", 1.36, 0.34272),
    ("ipcc2006", "VSS", 0.46, 0.02438),
    ("ipcc2006", "HSS", 0.495, 0.042075),
    ("ipcc2019", "PFPB-L", 0.61, 0.05917),
    ("ipcc2019", "PFPB-M", 0.52, 0.02964),
    ("ipcc2019", "CWPB", 0.715, 0.086515),
    ("ipcc2019", "SWPB", 1.165, 0.3262),
    ("ipcc2019", "VSS", 0.29, 0.02494),
    ("ipcc2019", "HSS", 0.825, 0.063525),
]


@pytest.mark.parametrize(("table", "tech", "cf4", "c2f6"), SLOPE_CASES)
def test_slope_method_every_technology(table: str, tech: str, cf4: float, c2f6: float) -> None:
    r = pfc_slope(0.5, 10_000, slope_coefficients(table, tech), gwp="AR5")
    assert r.cf4_t == pytest.approx(cf4, rel=1e-12)
    assert r.c2f6_t == pytest.approx(c2f6, rel=1e-12)
    assert r.co2e_t == pytest.approx(cf4 * 6630 + c2f6 * 11100, rel=1e-12)
    assert r.method == "slope" and r.coefficient_set == table and r.technology == tech
    assert [c.name for c in r.coefficients] == ["S_CF4", "F_C2F6/CF4"]
    assert r.gwp_set == "AR5"


# CWPB ipcc2006, AEM 0.5, MP 10000: CF4 0.715 t, C2F6 0.086515 t
CO2E_BY_GWP = {
    "SAR": 4647.5 + 795.938,
    "AR4": 5283.85 + 1055.483,
    "AR5": 4740.45 + 960.3165,
    "AR6": 5276.7 + 1072.786,
}


@pytest.mark.parametrize("gwp_name", sorted(CO2E_BY_GWP))
def test_slope_co2e_every_gwp_set(gwp_name: str) -> None:
    r = pfc_slope(0.5, 10_000, slope_coefficients("ipcc2006", "CWPB"), gwp=gwp_name)
    assert r.co2e_t == pytest.approx(CO2E_BY_GWP[gwp_name], rel=1e-12)
    assert r.gwp_set == gwp_name


def test_pfpb_mw_needs_smelter_specific_values() -> None:
    with pytest.raises(MethodError, match="smelter-specific"):
        slope_coefficients("ipcc2019", "PFPB-MW")


def test_ipcc2006_has_no_pfpb_rows() -> None:
    with pytest.raises(MethodError, match="no coefficients"):
        slope_coefficients("ipcc2006", "PFPB-M")


def test_smelter_specific_coefficients_carry_measurement_date() -> None:
    sc = smelter_specific_coefficients(0.11, 0.06, "2025-03-14", technology="PFPB-MW")
    r = pfc_slope(0.2, 20_000, sc)
    # 0.11 × 0.2 × 20000 × 0.001 = 0.44; × 0.06 = 0.0264
    assert r.cf4_t == pytest.approx(0.44)
    assert r.c2f6_t == pytest.approx(0.0264)
    assert r.coefficient_set == "smelter" and r.measured_on == "2025-03-14"
    assert r.to_dict()["measured_on"] == "2025-03-14"
    with pytest.raises(MethodError):
        smelter_specific_coefficients(0.11, 0.06, "")


# -- China guideline ---------------------------------------------------------------------


def test_china_form_with_measured_aem() -> None:
    # EF_CF4 = 0.143 × 0.5 = 0.0715 → 0.072 kg/t (3 decimals, half up) → 0.72 t;
    # EF_C2F6 = 0.1 × 0.072 = 0.0072 kg/t (4 decimals) → 0.072 t; AR5 6630 / 11100
    r = pfc_china(10_000, 0.5, gwp="AR5")
    assert r.cf4_t == pytest.approx(0.72)
    assert r.c2f6_t == pytest.approx(0.072)
    assert r.co2e_t == pytest.approx(4773.6 + 799.2)
    assert r.coefficient_set == "china2024"


def test_china_defaults_without_aem() -> None:
    r = pfc_china(10_000, None)
    assert (r.cf4_t, r.c2f6_t) == (pytest.approx(0.34), pytest.approx(0.034))
    assert r.co2e_t == pytest.approx(2254.2 + 377.4)
    assert r.gwp_set == "AR5" and r.aem is None
    assert r.coefficient_set == "china2024_default"


# -- Tier 1 ----------------------------------------------------------------------------
TIER1 = [("CWPB", 4.0, 0.4), ("SWPB", 16.0, 4.0), ("VSS", 8.0, 0.4), ("HSS", 4.0, 0.3)]


@pytest.mark.parametrize(("tech", "cf4", "c2f6"), TIER1)
def test_tier1_every_technology(tech: str, cf4: float, c2f6: float) -> None:
    r = pfc_tier1(10_000, tech, gwp="AR6")
    assert r.cf4_t == pytest.approx(cf4)
    assert r.c2f6_t == pytest.approx(c2f6)
    assert r.co2e_t == pytest.approx(cf4 * 7380 + c2f6 * 12400)
    assert r.method == "tier1" and r.coefficient_set == "ipcc2006_tier1"


def test_pfc_dispatcher_errors() -> None:
    with pytest.raises(MethodError):
        pfc("slope", production_t=1, technology="CWPB")  # no AEM
    with pytest.raises(MethodError):
        pfc("tier1", production_t=1)
    with pytest.raises(MethodError):
        pfc("overvoltage", production_t=1)
    with pytest.raises(MethodError):
        pfc("slope", production_t=1, aem=0.1, technology="XYZ")
    with pytest.raises(MethodError):
        pfc("slope", production_t=-1, aem=0.1, technology="CWPB")


def test_result_is_frozen() -> None:
    r = pfc("china", production_t=1)
    with pytest.raises(AttributeError):
        r.cf4_t = 0  # type: ignore[misc]


def test_china_form_rounds_as_the_guideline() -> None:
    # production 1234.567 → 1234.57 t; AEM 0.125 → 0.13 (half up, not banker's 0.12);
    # EF_CF4 = 0.143 × 0.13 = 0.01859 → 0.019; EF_C2F6 = 0.0019 kg/t
    r = pfc_china(1234.567, 0.125, gwp="AR5")
    assert r.production_t == 1234.57 and r.aem == 0.13
    assert [c.value for c in r.coefficients if c.name.startswith("EF")] == [0.019, 0.0019]
    unrounded = {c.name: c.value for c in r.coefficients if c.name.startswith("unrounded")}
    assert unrounded["unrounded EF_CF4"] == pytest.approx(0.143 * 0.13)
    assert r.cf4_t == pytest.approx(0.019 * 1234.57 / 1000)
