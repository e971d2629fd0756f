"""The 2024 guidelines' formulas and each industry's month, computed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.emissions import formulas
from protocols.emissions.factors import Factor
from protocols.emissions.inputs import Input, ParameterValue, Resolver, Wanted, default_lookup
from protocols.methods.errors import MethodError
from protocols.record import RecordError, RecordSettings, compute_record
from tests.records.support import FakeAgent, reading
from tests.records.test_compute import payloads

K = 44 / 12
MONTH = "2026-02"  # 28 days in Shanghai


# -- formulas ---------------------------------------------------------------------------


def test_anode_co2_by_hand() -> None:
    # 0.4 t/t × 1000 t × (1 − 0.02 − 0.004) × 44/12 = 390.4 t C × 44/12
    assert formulas.anode_co2(0.4, 1000, 0.02, 0.004) == pytest.approx(390.4 * K)


def test_fuel_co2_by_hand() -> None:
    # 100 t × 19.57 GJ/t × 0.02618 t C/GJ × 0.98 = 50.209575 t C
    assert formulas.fuel_co2(100, 19.57, 0.02618, 0.98) == pytest.approx(50.209575 * K)


def test_clinker_co2_measured_and_by_factor() -> None:
    # 1000 t × ((0.65 − 0.01) × 44/56 + (0.02 − 0.005) × 44/40)
    want = 1000 * (0.64 * 44 / 56 + 0.015 * 1.1)
    assert formulas.clinker_co2(1000, 0.65, 0.02, 0.01, 0.005) == pytest.approx(want)
    assert formulas.clinker_co2_ef(1000, 0.538) == pytest.approx(538.0)
    with pytest.raises(MethodError, match="non-carbonate"):
        formulas.clinker_co2(1000, 0.01, 0.02, 0.05)


def test_carbonate_co2_by_hand() -> None:
    assert formulas.carbonate_co2(100, 0.9, "limestone") == pytest.approx(39.5739)
    assert formulas.carbonate_co2(100, 1.0, "dolomite") == pytest.approx(47.732)
    with pytest.raises(MethodError, match="kind"):
        formulas.carbonate_co2(1, 1, "chalk")


def test_carbon_balance_by_hand() -> None:
    fin = [formulas.CarbonFlow("coke", 1000, 0.83)]
    fout = [formulas.CarbonFlow("steel", 100, 0.01)]
    assert formulas.carbon_balance_co2(fin, fout) == pytest.approx(829 * K)
    with pytest.raises(MethodError, match="sulphur"):
        formulas.anode_co2(0.4, 1, 1.2, 0)


# -- the input-resolution seam ----------------------------------------------------------


def test_resolver_takes_the_month_value_else_the_default() -> None:
    d = Factor(0.02, "fraction", "guideline table X", False)
    values = {
        "s": ParameterValue("s", 0.03, "fraction", "measured", "parameter s"),
        "gas": ParameterValue("gas", 50_000.0, "Nm³", "estimated", "parameter gas (1 substituted)"),
        "none": ParameterValue("none", None, "fraction", "measured", "parameter none"),
    }
    r = Resolver.for_month(values)
    got = r(Wanted("sulphur", "s", "fraction", d))
    assert (got.value, got.origin, got.source) == (0.03, "measured", "parameter s")  # type: ignore[union-attr]
    got = r(Wanted("sulphur", "none", "fraction", d))
    assert got is not None and (got.value, got.origin) == (0.02, "default")
    assert got.source == "guideline table X (unconfirmed)"
    gas = r(Wanted("quantity", "gas", "10^4 Nm3", None, {"Nm³": 1e-4}))
    assert gas is not None and gas.value == pytest.approx(5.0) and gas.origin == "estimated"
    assert r(Wanted("quantity", "missing", "t")) is None


def test_resolver_follows_a_data_quality_control_plan() -> None:
    d = Factor(0.02, "fraction", "table", False)
    values = {"s": ParameterValue("s", 0.03, "fraction", "measured", "parameter s")}
    month = Resolver.for_month(values).lookups[0]

    def lab(w: Wanted) -> Input | None:
        return Input(0.025, w.unit, "lab", "report 42") if w.parameter == "s" else None

    named = {"lab": lab, "month": month, "default": default_lookup}
    r = Resolver((month, default_lookup), named, {"s": ["lab", "month", "default"]})
    got = r(Wanted("sulphur", "s", "fraction", d))
    assert got is not None and (got.value, got.origin) == (0.025, "lab")  # the plan's primary
    plain = Resolver((month, default_lookup), named)
    assert plain(Wanted("sulphur", "s", "fraction", d)).origin == "measured"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown source"):
        Resolver((), named, {"s": ["invoice"]})


# -- each industry's month --------------------------------------------------------------


def _month(
    settings: RecordSettings, daily: dict[str, float], skip: dict[str, int] | None = None
) -> dict[str, Any]:
    agent = FakeAgent(settings.site, "a")
    start = settings.window.start_ms
    rs = []
    for d in range(28):
        t = start + (d + 1) * 86_400_000
        rs += [reading(pid, t, v) for pid, v in daily.items() if (skip or {}).get(pid) != d]
    return compute_record(settings, payloads([agent.batch(rs)])).body


def _sources(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in body["emissions"]["sources"]}


def _sums(*ids: str) -> dict[str, str]:
    return dict.fromkeys(ids, "sum")


def test_aluminium_month_anode_pfc_default_and_fuel() -> None:
    s = RecordSettings.from_dict(
        {
            "site": "s1",
            "month": MONTH,
            "interval_s": 86400,
            "key_parameters": ["natural_gas_nm3"],
            "aggregation": _sums("anode_consumption_t", "natural_gas_nm3", "ac_energy_mwh"),
            "aluminium": {
                "fuels": [{"id": "gas", "parameter": "natural_gas_nm3", "fuel": "natural_gas"}]
            },
        }
    )
    body = _month(
        s,
        {
            "al_production_t": 900.0,
            "anode_consumption_t": 360.0,
            "natural_gas_nm3": 5000.0,
            "ac_energy_mwh": 12150.0,
        },
    )
    src = _sources(body)
    assert set(src) == {"anode_co2", "pfc", "fuel_co2:gas"}
    # anode: NC = 10 080 / 25 200 = 0.4; sulphur/ash the guideline defaults 2 % / 0.4 %
    a = src["anode_co2"]
    assert a["co2e_t"] == pytest.approx(0.4 * 25200 * (1 - 0.02 - 0.004) * K)
    assert a["inputs"]["sulphur"]["origin"] == "default"
    assert a["inputs"]["net_anode_t_per_t"]["origin"] == "calculated"
    # no AEM measured: China form with its defaults 0.034 / 0.0034 kg/t, AR5
    p = src["pfc"]
    assert p["co2e_t"] == pytest.approx(25.2 * (0.034 * 6630 + 0.0034 * 11100))
    assert p["inputs"]["method"]["value"] == "china" and p["inputs"]["gwp"]["value"] == "AR5"
    # gas: 140 000 Nm³ = 14 × 10⁴ Nm³ × 389.31 GJ × 0.0153 t C/GJ × 0.99
    g = src["fuel_co2:gas"]
    assert g["co2e_t"] == pytest.approx(14 * 389.31 * 0.0153 * 0.99 * K)
    assert g["inputs"]["quantity"] == {
        "value": pytest.approx(14.0),
        "unit": "10^4 Nm3",
        "origin": "measured",
        "source": "parameter natural_gas_nm3",
        "documents": [],
    }
    # AC electricity is an auxiliary parameter: 340 200 MWh × 1000 / 25 200 t = 13 500 kWh/t
    ac = next(p for p in body["parameters"] if p["id"] == "ac_kwh_per_t")
    assert ac["value"] == pytest.approx(13_500.0) and ac["aggregation"] == "derived"
    assert not any(x["id"].startswith("ac") for x in body["emissions"]["sources"])
    tot = body["emissions"]["total_co2e_t"]
    assert tot == pytest.approx(a["co2e_t"] + p["co2e_t"] + g["co2e_t"])
    assert body["settings"]["emission_factors"]["anode_sulphur"]["confirmed"] is False
    assert {"id", "kind", "gas", "t", "co2e_t", "method", "inputs"} == set(a)


def test_aluminium_production_rounded_with_unrounded_beside() -> None:
    s = RecordSettings.from_dict(
        {
            "site": "s1",
            "month": MONTH,
            "interval_s": 86400,
            "aggregation": _sums("anode_consumption_t"),
        }
    )
    body = _month(s, {"al_production_t": 900.0004, "anode_consumption_t": 360.0})
    prod = _sources(body)["pfc"]["inputs"]["production_t"]
    assert prod["value"] == 25200.01 and prod["unrounded"] == pytest.approx(900.0004 * 28)


def test_cement_month_measured_cao_mgo_and_coal() -> None:
    s = RecordSettings.from_dict(
        {
            "site": "c1",
            "month": MONTH,
            "industry": "cement",
            "interval_s": 86400,
            "aggregation": _sums("clinker_t", "kiln_coal_t", "calciner_coal_t"),
        }
    )
    body = _month(
        s,
        {
            "clinker_t": 5000.0,
            "kiln_coal_t": 240.0,
            "calciner_coal_t": 360.0,
            "clinker_cao_fraction": 0.65,
            "clinker_mgo_fraction": 0.02,
        },
    )
    src = _sources(body)
    ck = src["clinker_co2"]
    # 140 000 t × (0.65 × 44/56 + 0.02 × 44/40), no non-carbonate deduction measured
    assert ck["co2e_t"] == pytest.approx(140_000 * (0.65 * 44 / 56 + 0.022))
    assert ck["inputs"]["cao_noncarbonate"]["origin"] == "default"
    assert ck["inputs"]["cao"]["origin"] == "measured"
    kiln = src["fuel_co2:kiln_coal"]
    assert kiln["co2e_t"] == pytest.approx(6720 * 19.570 * 0.02618 * 0.98 * K)
    assert src["fuel_co2:calciner_coal"]["inputs"]["quantity"]["value"] == 10080.0


def test_cement_month_with_a_gap_uses_the_default_factor() -> None:
    s = RecordSettings.from_dict(
        {
            "site": "c1",
            "month": MONTH,
            "industry": "cement",
            "interval_s": 86400,
            "aggregation": _sums("clinker_t"),
        }
    )
    body = _month(s, {"clinker_t": 5000.0}, skip={"clinker_t": 9})
    ck = _sources(body)["clinker_co2"]
    clinker = next(p for p in body["parameters"] if p["id"] == "clinker_t")
    assert clinker["substitutions"]  # day 10 missing: substituted → estimated
    assert ck["inputs"]["clinker_t"]["origin"] == "estimated"
    assert ck["inputs"]["ef"] == {
        "value": 0.538,
        "unit": "t CO2/t clinker",
        "origin": "default",
        "source": "CETS-AG-02.01-V01-2024 Appendix A: 熟料碳酸盐分解排放因子缺省值 (unconfirmed)",
        "documents": [],
    }
    assert ck["co2e_t"] == pytest.approx(clinker["value"] * 0.538)
    assert {f["code"] for f in body["flags"]} >= {"fuel_co2_not_computed"}


def test_steel_month_enterprise_and_process_balances() -> None:
    ids = ("coking_coal_t", "pci_coal_t", "crude_steel_t", "tar_t", "natural_gas_nm3")
    s = RecordSettings.from_dict(
        {
            "site": "w1",
            "month": MONTH,
            "industry": "steel",
            "interval_s": 86400,
            "aggregation": _sums(*ids),
        }
    )
    body = _month(
        s,
        {
            "coking_coal_t": 1000.0,
            "pci_coal_t": 200.0,
            "crude_steel_t": 1500.0,
            "tar_t": 30.0,
            "natural_gas_nm3": 10_000.0,
        },
    )
    src = _sources(body)
    assert set(src) == {"carbon_balance:enterprise"}
    ent = src["carbon_balance:enterprise"]
    # carbon in: 28 000 × 0.73 + 5 600 × 0.73 + 28 × 10⁴ Nm³ × 389.31 × 0.0153;
    # out: 42 000 × 0.01 + 840 × 0.62 (IPCC Table 4.3 contents; gas by the guideline table)
    c_in = 28_000 * 0.73 + 5_600 * 0.73 + 28 * 389.31 * 15.3 / 1000
    c_out = 42_000 * 0.01 + 840 * 0.62
    assert ent["co2e_t"] == pytest.approx((c_in - c_out) * K)
    assert [f["name"] for f in ent["inputs"]["in"]] == ["coking_coal", "pci_coal", "natural_gas"]
    assert ent["inputs"]["out"][0]["carbon_origin"] == "default"
    coking = body["derived"]["carbon_balance_by_process"]["coking"]
    assert coking["co2e_t"] == pytest.approx((28_000 * 0.73 - 840 * 0.62) * K)
    missing = {f["flow"] for f in body["flags"] if f["code"] == "balance_flow_missing"}
    assert {"coke_sold", "scrap", "bof_gas"} <= missing
    assert body["emissions"]["total_co2e_t"] == ent["co2e_t"]  # processes are not added


def test_generic_site_has_no_emissions() -> None:
    s = RecordSettings.from_dict({"site": "g1", "month": MONTH, "industry": "other"})
    assert s.industry == "generic"
    assert _month(s, {"power_import_mwh": 1.0})["emissions"] is None


def test_report_shows_the_emissions_table_with_origins() -> None:
    from collector.records.report import render_report

    s = RecordSettings.from_dict(
        {"site": "c1", "month": MONTH, "industry": "cement", "interval_s": 86400,
         "aggregation": _sums("clinker_t")}
    )  # fmt: skip
    agent = FakeAgent("c1", "a")
    start = s.window.start_ms
    rs = [reading("clinker_t", start + (d + 1) * 86_400_000, 5000.0) for d in range(28)]
    comp = compute_record(s, payloads([agent.batch(rs)]))
    rec = {**comp.body, "version": 1, "reason": "", "created": "", "collector": {"kid": "k"}}
    html = render_report(rec, comp, "c1_2026-02_v1")
    table = html[html.index('id="emissions"') :]
    assert "熟料生产过程 clinker_co2" in table and "缺省值 default" in table
    assert "实测值 measured" in table and "合计 Total" in table


def test_cement_alternative_fuel_counts_its_fossil_quantity() -> None:
    s = RecordSettings.from_dict(
        {
            "site": "c1",
            "month": MONTH,
            "industry": "cement",
            "interval_s": 86400,
            "key_parameters": ["waste_oil_t"],
            "units": {"waste_oil_t": "t"},
            "aggregation": _sums("clinker_t", "waste_oil_t"),
            "cement": {
                "fuels": [{"id": "waste_oil", "parameter": "waste_oil_t", "fuel": "waste_oil"}]
            },
        }
    )
    body = _month(s, {"clinker_t": 5000.0, "waste_oil_t": 10.0})
    w = _sources(body)["fuel_co2:waste_oil"]
    # 280 t × 40.2 GJ/t × 0.020 t C/GJ × 1.0 (IPCC 2006 Vol 2 Tables 1.2/1.3)
    assert w["co2e_t"] == pytest.approx(280 * 40.2 * 0.020 * K)
    assert w["inputs"]["ncv"]["origin"] == "default"


@pytest.mark.parametrize("industry", ["aluminium", "cement", "steel"])
def test_industry_settings_round_trip_and_refuse_other_blocks(industry: str) -> None:
    s = RecordSettings.from_dict({"site": "x1", "month": MONTH, "industry": industry})
    d = s.to_dict()
    assert industry in d and not {"aluminium", "cement", "steel"} - {industry} & set(d)
    assert RecordSettings.from_dict(d) == s and RecordSettings.from_dict(d).to_dict() == d
    other = "steel" if industry != "steel" else "cement"
    with pytest.raises(RecordError, match=f"settings.{other} given for a {industry} site"):
        RecordSettings.from_dict({"site": "x1", "month": MONTH, "industry": industry, other: {}})
