"""Derived-parameter kinds: one focused test per kind, on synthetic samples (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.derived import REGISTRY, DerivedContext, Interval, PointInfo, create
from agent.derived.engine import DerivedEngine, dependency_order
from agent.derived.expression import ExpressionError, compile_expression

H = 3_600_000
T0 = 1_700_000_000_000 // H * H  # on the hour


def make(spec: dict[str, Any], points: dict[str, PointInfo] | None = None, interval_ms: int = H):
    model = REGISTRY[spec["kind"]].spec_model.model_validate(spec)
    return create(model, DerivedContext(T0, interval_ms, points or {}))


def by_id(out: Any) -> dict[str, Any]:
    return {r[0]: r for r in out.readings}


def test_counter_delta_total_rollover_and_reset() -> None:
    pts = {"meter_kwh": PointInfo(scale=1.0, type="UINT16", interval_ms=60_000)}
    d = make({"id": "energy_kwh", "kind": "counter", "input": "meter_kwh"}, pts)
    for i, raw in enumerate([65_000, 65_400, 200]):  # wraps at 2^16: +400, +336
        d.observe("meter_kwh", T0 + i * 60_000, float(raw), "good")
    r = by_id(d.close(Interval(T0, T0 + H)))
    assert r["energy_kwh"][2] == 736 and r["energy_kwh"][3] == "good"
    assert r["energy_kwh_total"][2] == 736
    d.observe("meter_kwh", T0 + H + 1000, 5.0, "good")  # a reset (meter replaced): counted 5
    out = d.close(Interval(T0 + H, T0 + 2 * H))
    r = by_id(out)
    assert r["energy_kwh"][2] == 5 and r["energy_kwh"][3] == "uncertain"
    assert "reset" in r["energy_kwh"][4]
    assert out.events and out.events[0]["type"] == "counter_anomaly"
    assert r["energy_kwh_total"][2] == 741
    # A restart restores total and baseline: the next reading counts from the last one.
    d2 = make({"id": "energy_kwh", "kind": "counter", "input": "meter_kwh"}, pts)
    d2.restore(d.state())
    d2.observe("meter_kwh", T0 + 2 * H + 1000, 15.0, "good")
    r = by_id(d2.close(Interval(T0 + 2 * H, T0 + 3 * H)))
    assert r["energy_kwh"][2] == 10 and r["energy_kwh_total"][2] == 751
    # No sample: bad, never a silent zero.
    r = by_id(d2.close(Interval(T0 + 3 * H, T0 + 4 * H)))
    assert r["energy_kwh"][3] == "bad" and r["energy_kwh"][2] is None


def test_mean_is_time_weighted_with_counts() -> None:
    pts = {"p_kw": PointInfo(scale=1.0, type="FLOAT32", interval_ms=900_000)}
    d = make({"id": "p_mean_kw", "kind": "mean", "input": "p_kw", "max_gap_s": 3600}, pts)
    d.observe("p_kw", T0, 10.0, "good")
    d.observe("p_kw", T0 + 45 * 60_000, 30.0, "good")  # 10 for 45 min, 30 for 15 min
    [r] = d.close(Interval(T0, T0 + H)).readings
    assert r[2] == pytest.approx(15.0)
    assert r[5]["count"] == 2 and r[5]["expected"] == 4
    assert r[5]["min"] == 10 and r[5]["max"] == 30


def test_integral_power_to_energy_and_running_total() -> None:
    d = make(
        {"id": "e_mwh", "kind": "integral", "input": "p_kw", "factor": 0.001, "total_id": "e_tot"}
    )
    for m in range(0, 60, 10):
        d.observe("p_kw", T0 + m * 60_000, 1200.0, "good")
    r = by_id(d.close(Interval(T0, T0 + H)))
    assert r["e_mwh"][2] == pytest.approx(1.2)  # 1200 kW for one hour
    assert r["e_tot"][2] == pytest.approx(1.2)


def test_aggregate_flags_incomplete_intervals() -> None:
    pts = {"t_c": PointInfo(scale=1.0, type="FLOAT32", interval_ms=600_000)}
    d = make({"id": "t_mean", "kind": "aggregate", "input": "t_c"}, pts)
    d.observe("t_c", T0, 900.0, "good")
    d.observe("t_c", T0 + 600_000, 910.0, "good")
    [r] = d.close(Interval(T0, T0 + H)).readings
    assert r[3] == "uncertain" and r[4] == "incomplete"  # 2 of 6 expected samples
    assert r[5]["count"] == 2 and r[5]["expected"] == 6


def test_faraday_from_charge() -> None:
    d = make({"id": "al_t", "kind": "faraday", "charge": "q_ka_h", "ce": 0.94, "cells": 24})
    d.observe("q_ka_h", T0 + H, 400.0, "good")  # 400 kA for one hour
    [r] = d.close(Interval(T0, T0 + H)).readings
    assert r[2] == pytest.approx(0.335573 * 400 * 0.94 * 24 / 1000)


def test_anode_effect_from_cell_voltages() -> None:
    pts = {f"cell_{i}_voltage_v": PointInfo(1.0, "FLOAT32", 1000) for i in range(1, 4)}
    d = make(
        {
            "id": "ae_minutes",
            "kind": "anode_effect",
            "cells": ["cell_*_voltage_v"],
            "min_duration_s": 2,
            "merge_gap_s": 5,
        },
        pts,
        interval_ms=60_000,
    )
    for s in range(60):
        for i in range(1, 4):
            v = 4.2
            if i == 2 and 10 <= s < 40:
                v = 30.0  # a 30 s anode effect on cell 2
            if i == 3 and s == 20:
                v = 25.0  # a 1 s spike: noise, not an effect
            d.observe(f"cell_{i}_voltage_v", T0 + s * 1000, v, "good")
    out = d.close(Interval(T0, T0 + 60_000))
    r = by_id(out)
    assert r["ae_minutes"][2] == pytest.approx(0.5)
    assert r["ae_minutes_count"][2] == 1
    [ev] = out.events
    assert ev["type"] == "anode_effect" and ev["cell"] == "cell_2_voltage_v"
    assert ev["start"] == T0 + 10_000 and ev["end"] == T0 + 40_000 and ev["peak_v"] == 30.0
    assert ev["trigger_v"] == 8.0


def test_anode_effect_from_controller_counters() -> None:
    d = make(
        {
            "id": "ae_minutes",
            "kind": "anode_effect",
            "source": "counters",
            "ae_count_inputs": ["c1_n"],
            "ae_seconds_inputs": ["c1_s"],
        }
    )
    for ts, n, sec in ((T0, 3, 100), (T0 + 60_000, 4, 220)):
        d.observe("c1_n", ts, n, "good")
        d.observe("c1_s", ts, sec, "good")
    r = by_id(d.close(Interval(T0, T0 + H)))
    assert r["ae_minutes"][2] == pytest.approx(2.0) and r["ae_minutes_count"][2] == 1


def test_pfc_month_to_date_slope() -> None:
    d = make(
        {
            "id": "pfc_co2e_t",
            "kind": "pfc",
            "method": "slope",
            "technology": "CWPB",
            "coefficients": "ipcc2006",
            "gwp": "AR5",
            "ae_minutes": "aem_min",
            "cell_days": "cd",
            "production": "al_t",
        }
    )
    d.observe("aem_min", T0 + H, 12.0, "good")
    d.observe("cd", T0 + H, 24.0, "good")
    d.observe("al_t", T0 + H, 100.0, "good")
    r = by_id(d.close(Interval(T0, T0 + H)))
    cf4 = 0.143 * (12 / 24) * 100 * 0.001
    assert r["cf4_t"][2] == pytest.approx(cf4)
    assert r["c2f6_t"][2] == pytest.approx(cf4 * 0.121)
    assert r["pfc_co2e_t"][2] == pytest.approx(cf4 * 6630 + cf4 * 0.121 * 11100)


def test_expression_is_safe_arithmetic() -> None:
    d = make({"id": "net", "kind": "expression", "expr": "max(a - b, 0) / 2"})
    d.observe("a", T0, 10.0, "good")
    d.observe("b", T0, 4.0, "uncertain")
    [r] = d.close(Interval(T0, T0 + H)).readings
    assert r[2] == 3.0 and r[3] == "uncertain"
    for bad in ("__import__('os')", "a.b", "'x'", "a if b else c", "[a]", "lambda: 1"):
        with pytest.raises(ExpressionError):
            compile_expression(bad)
    z = make({"id": "q", "kind": "expression", "expr": "a / b"})
    z.observe("a", T0, 1.0, "good")
    z.observe("b", T0, 0.0, "good")
    [r] = z.close(Interval(T0, T0 + H)).readings
    assert r[2] is None and r[3] == "bad"


def test_engine_orders_dependencies_and_detects_cycles() -> None:
    M = REGISTRY["expression"].spec_model
    a = M(id="a", kind="expression", expr="b + 1")
    b = M(id="b", kind="expression", expr="x * 2")
    assert [s.id for s in dependency_order([a, b])] == ["b", "a"]
    eng = DerivedEngine([a, b], DerivedContext(T0, H, {}))
    eng.observe([("x", T0, 5.0, "good", None, None)])
    out = by_id(eng.close(Interval(T0, T0 + H)))
    assert out["b"][2] == 10 and out["a"][2] == 11
    c = M(id="c", kind="expression", expr="d")
    d = M(id="d", kind="expression", expr="c")
    with pytest.raises(ValueError, match="cycle"):
        dependency_order([c, d])
