"""Time-weighted mean and integral: step-hold and trapezoid, gaps, interval aggregates."""

from __future__ import annotations

import pytest

from protocols.methods import MethodError
from protocols.methods.timeweighted import TimeWeighted, aggregate_intervals, integrate

H = 3_600_000


def test_step_hold_hand_value_with_bad_sample() -> None:
    # 10 for 1 s, 20 for 1.5 s, unknown 0.5 s (None), 30 for 1 s → 70000 value·ms
    s = [(0, 10.0), (1000, 20.0), (2500, None), (3000, 30.0)]
    r = integrate(s, 0, 4000)
    assert r.integral_h == pytest.approx(70_000 / H)
    assert r.covered_ms == 3500
    assert r.mean == pytest.approx(20.0)
    assert r.count == 3


def test_trapezoid_hand_value() -> None:
    # 0..1000 linear 10→20 (15 × 1000); 1000→2500 broken by None; nothing after last sample
    s = [(0, 10.0), (1000, 20.0), (2500, None), (3000, 30.0)]
    r = integrate(s, 0, 4000, mode="trapezoid")
    assert r.integral_h == pytest.approx(15_000 / H)
    assert r.covered_ms == 1000
    assert r.mean == pytest.approx(15.0)


def test_trapezoid_splits_segment_at_interval_boundary() -> None:
    # 0 at t=0 → 100 at t=2000; boundary at 1000: areas 50×1000 and 50... (0..50: 25000; 50..100: 75000)
    ivs = aggregate_intervals([(0, 0.0), (2000, 100.0)], 0, 2000, 1000, mode="trapezoid")
    assert [iv.integral_h * H for iv in ivs] == pytest.approx([25_000, 75_000])
    assert [iv.mean for iv in ivs] == pytest.approx([25.0, 75.0])


def test_max_gap_limits_the_hold() -> None:
    ivs = aggregate_intervals(
        [(0, 10.0), (1000, 20.0), (3000, 30.0)], 0, 4000, 1000, max_gap_ms=500, expected_count=1
    )
    assert [iv.covered_ms for iv in ivs] == [500, 500, 0, 500]
    assert [iv.mean for iv in ivs] == [10.0, 20.0, None, 30.0]
    assert [iv.count for iv in ivs] == [1, 1, 0, 1]
    assert all(iv.expected_count == 1 for iv in ivs)
    assert ivs[2].min is None and ivs[3].max == 30.0


def test_sample_before_period_is_held_into_it() -> None:
    r = integrate([(-500, 4.0), (500, 8.0)], 0, 1000)
    assert r.integral_h * H == pytest.approx(4 * 500 + 8 * 500)
    assert r.count == 1  # only samples inside the period are counted


def test_min_max_count_per_interval() -> None:
    s = [(0, 5.0), (100, 7.0), (200, 3.0), (1100, 9.0)]
    ivs = aggregate_intervals(s, 0, 2000, 1000, expected_count=10)
    assert (ivs[0].min, ivs[0].max, ivs[0].count) == (3.0, 7.0, 3)
    assert (ivs[1].min, ivs[1].max, ivs[1].count) == (9.0, 9.0, 1)
    # step-held: 5×100 + 7×100 + 3×800 = 3600 over the first second
    assert ivs[0].mean == pytest.approx(3.6)


def test_incremental_equals_pure() -> None:
    s = [(0, 1.0), (250, 2.0), (1750, 4.0), (1800, None), (2600, 8.0)]
    tw = TimeWeighted(0, 1000)
    got = []
    for ts, v in s:
        got.extend(tw.add(ts, v))
    got.extend(tw.flush(3000))
    assert got == aggregate_intervals(s, 0, 3000, 1000)


def test_out_of_order_samples_are_ignored() -> None:
    tw = TimeWeighted(0, 1000)
    tw.add(500, 1.0)
    assert tw.add(400, 99.0) == []
    (iv,) = tw.flush(1000)
    assert iv.max == 1.0 and iv.count == 1


def test_bad_arguments() -> None:
    with pytest.raises(MethodError):
        TimeWeighted(0, 0)
    with pytest.raises(MethodError):
        TimeWeighted(0, 10, mode="linear")
    with pytest.raises(MethodError):
        integrate([], 5, 5)
