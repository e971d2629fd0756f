"""Validity, completeness, substitution tiers and cross-check flags on hand-computed cases."""

from __future__ import annotations

import pytest

from protocols.methods import MethodError
from protocols.methods.data_quality import (
    Gap,
    check_current_efficiency,
    check_specific_dc_energy,
    completeness,
    gap_spans,
    interval_valid,
    percentile,
    substitute,
)


def test_interval_validity_at_80_percent() -> None:
    assert interval_valid(48, 60)  # exactly 80 %
    assert not interval_valid(47, 60)
    assert interval_valid(4, 5)
    assert not interval_valid(0, 0)


def test_completeness_and_gaps() -> None:
    valid = [True, False, False, True, True, False]
    c = completeness(valid)
    assert (c.expected_intervals, c.valid_intervals) == (6, 3)
    assert c.completeness == 0.5
    assert c.gaps == (Gap(1, 3), Gap(5, 6))
    assert [g.length for g in gap_spans(valid)] == [2, 1]


def test_percentile_linear_interpolation() -> None:
    assert percentile([1, 2, 4], 90) == pytest.approx(3.6)  # h = 1.8 → 2 + 0.8 × 2
    assert percentile([5], 90) == 5
    with pytest.raises(MethodError):
        percentile([], 50)


def _series(n: int, missing: set[int]) -> list[float | None]:
    return [None if i in missing else float(i + 1) for i in range(n)]


def test_short_gap_high_direction_uses_larger_neighbour() -> None:
    vals = _series(40, {10})  # neighbours 10 and 12; availability 39/40 ≥ 90 %
    r = substitute(vals)
    (s,) = r.substitutions
    assert (s.rule, s.value, s.basis) == ("SUB1_NEIGHBOUR_MAX", 12.0, (10.0, 12.0))
    assert r.values[10] == 12.0
    assert r.substituted_total == 12.0
    assert r.total == pytest.approx(sum(range(1, 41)) - 11 + 12)
    assert r.contribution == pytest.approx(12.0 / r.total)


def test_short_gap_neutral_is_part75_average_and_low_is_min() -> None:
    vals = _series(40, {10})
    assert substitute(vals, direction="neutral").substitutions[0].value == 11.0
    assert substitute(vals, direction="low").substitutions[0].rule == "SUB1_NEIGHBOUR_MIN"
    assert substitute(vals, direction="low").substitutions[0].value == 10.0


def test_long_gap_uses_90th_percentile_of_lookback() -> None:
    vals = _series(40, {20, 21, 22, 23})  # 4 > short_gap_max 3; availability 36/40 = 90 %
    r = substitute(vals, lookback=5)
    (s,) = r.substitutions
    # look-back: 16, 17, 18, 19, 20 → p90: h = 3.6 → 19 + 0.6 = 19.6
    assert s.rule == "SUB2_LOOKBACK_P90"
    assert s.value == pytest.approx(19.6)
    assert s.intervals == 4 and s.contribution == pytest.approx(78.4)
    low = substitute(vals, lookback=5, direction="low").substitutions[0]
    assert (low.rule, low.value) == ("SUB2_LOOKBACK_P10", pytest.approx(16.4))


def test_poor_availability_uses_lookback_maximum_for_every_gap() -> None:
    vals = _series(10, {3, 7, 8})  # availability 70 % < 90 %
    r = substitute(vals, history=[50.0])
    assert [s.rule for s in r.substitutions] == ["SUB3_LOOKBACK_MAX", "SUB3_LOOKBACK_MAX"]
    # history counts in the look-back: max(50, 1, 2, 3) and max(50, ..., 7)
    assert [s.value for s in r.substitutions] == [50.0, 50.0]
    assert r.availability == pytest.approx(0.7)


def test_gap_at_start_uses_values_after_it() -> None:
    r = substitute(_series(30, {0, 1, 2, 3, 4}), lookback=3)  # availability 25/30 < 90 %
    (s,) = r.substitutions
    assert (s.rule, s.value, s.basis) == ("SUB3_LOOKBACK_MAX", 8.0, (6.0, 7.0, 8.0))


def test_no_data_at_all_fallback_or_unsubstituted() -> None:
    assert substitute([None, None], fallback=99.0).substitutions[0].rule == "SUB4_FALLBACK"
    r = substitute([None, None])
    assert r.substitutions[0].rule == "SUB0_UNSUBSTITUTED" and r.values == (None, None)


def test_explicit_validity_mask_overrides_values() -> None:
    r = substitute([5.0, 1000.0, 5.0] + [5.0] * 20, valid=[True, False, True] + [True] * 20)
    assert r.values[1] == 5.0 and r.substitutions[0].rule == "SUB1_NEIGHBOUR_MAX"


def test_bad_arguments() -> None:
    with pytest.raises(MethodError):
        substitute([1.0], direction="up")
    with pytest.raises(MethodError):
        substitute([1.0], valid=[True, False])


def test_cross_checks_flag_but_return_none_when_plausible() -> None:
    assert check_current_efficiency(0.93) is None
    f = check_current_efficiency(0.8967527)
    assert f is None  # 89.7 % is inside 88–97 %
    f = check_current_efficiency(0.985)
    assert f is not None and f.code == "implied_ce_out_of_range" and f.value == 0.985
    assert check_specific_dc_energy(13.2) is None
    g = check_specific_dc_energy(11.2)
    assert g is not None and g.code == "specific_dc_energy_out_of_range"
    assert g.to_dict()["low"] == 12.0 and g.to_dict()["high"] == 15.5
    assert check_specific_dc_energy(float("nan")) is not None
