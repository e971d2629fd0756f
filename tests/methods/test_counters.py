"""Cumulative counters: rollover at each width, reset, replacement, glitches, frozen, totals."""

from __future__ import annotations

import pytest

from protocols.methods import MethodError
from protocols.methods.counters import (
    Counter,
    CounterIntervals,
    CounterSpec,
    Replacement,
    counter_steps,
    counter_total,
    interval_deltas,
)


def deltas(readings, spec=None, replacements=()):
    return [(s.delta, s.kind) for s in counter_steps(readings, spec, replacements)]


@pytest.mark.parametrize(
    ("bits", "before", "after", "expected"),
    [
        (16, 65_530, 10, 16),  # 65536 - 65530 + 10
        (32, 4_294_967_290, 5, 11),  # 2**32 - 4294967290 + 5
        (64, 2**64 - 3, 4, 7),  # exact in integers, no float rounding
    ],
)
def test_rollover_at_each_width(bits: int, before: int, after: int, expected: int) -> None:
    steps = counter_steps([(0, before - 100), (1000, before), (2000, after)], CounterSpec(bits))
    assert [s.delta for s in steps] == [0.0, 100.0, float(expected)]
    assert steps[-1].kind == "rollover"


def test_rollover_at_configured_maximum_with_scale() -> None:
    spec = CounterSpec(max_raw=9999, scale=0.1)  # e.g. a 4-digit totaliser in 0.1 MWh
    assert deltas([(0, 9990), (1, 5)], spec)[-1] == (pytest.approx(1.5), "rollover")


def test_drop_to_near_zero_is_a_reset_not_a_rollover() -> None:
    # 50000 → 3 on a 32-bit register would be a 4.29e9 wrap: implausible, so a reset.
    spec = CounterSpec(width_bits=32)
    assert deltas([(0, 49_000), (1, 50_000), (2, 3), (3, 10)], spec) == [
        (0.0, "first"),
        (1000.0, "ok"),
        (3.0, "reset"),
        (7.0, "ok"),
    ]


def test_16bit_mid_range_drop_to_zero_is_a_reset() -> None:
    # 40000 → 5: the wrapped difference 25541 exceeds a quarter of 65536 → reset.
    assert deltas([(0, 40_000), (1, 5)], CounterSpec(16))[-1] == (5.0, "reset")


def test_single_bad_read_of_zero_is_recovered_as_glitch() -> None:
    # 1010 → 0 (bad read) → 1030: nothing double counted: total 1030 - 1000.
    steps = counter_steps([(0, 1000), (1, 1010), (2, 0), (3, 1030)])
    assert [s.kind for s in steps] == ["first", "ok", "reset", "glitch"]
    assert steps[-1].cumulative == pytest.approx(30.0)


def test_meter_replacement_event() -> None:
    readings = [(0, 1000), (1000, 1100), (2000, 40), (3000, 90)]
    rep = Replacement(ts_ms=1500, old_final_raw=1150, new_initial_raw=0)
    got = deltas(readings, None, [rep])
    assert got == [(0.0, "first"), (100.0, "ok"), (50.0, "replacement"), (40.0, "ok"), (50.0, "ok")]


def test_replacement_with_new_width_and_scale() -> None:
    c = Counter(CounterSpec(width_bits=16, scale=1.0))
    c.update(0, 60_000)
    s = c.replace(Replacement(10, 60_100, 7, CounterSpec(width_bits=32, scale=0.01)))
    assert s.delta == 100.0
    assert c.update(20, 1007).delta == pytest.approx(10.0)  # (1007 - 7) × 0.01
    assert c.spec.width_bits == 32


def test_spike_is_never_counted_with_rate_bound() -> None:
    spec = CounterSpec(max_rate_per_s=1.0)  # at most ~1 unit per second
    steps = counter_steps([(0, 0), (1000, 1), (2000, 2), (3000, 1000), (4000, 3), (5000, 4)], spec)
    assert [s.kind for s in steps] == ["first", "ok", "ok", "suspect", "glitch", "ok"]
    assert [s.delta for s in steps] == [0, 1, 1, 0, 1, 1]
    assert steps[-1].cumulative == 4


def test_unannounced_jump_rebaselines_without_counting_the_jump() -> None:
    spec = CounterSpec(max_rate_per_s=1.0)
    steps = counter_steps([(0, 0), (1000, 1), (2000, 2), (3000, 1000), (4000, 1001)], spec)
    assert [s.kind for s in steps][-2:] == ["suspect", "rebaseline"]
    assert steps[-1].cumulative == 3  # 1 + 1 + 0 + 1


def test_unexplained_decrease_is_held_then_resolved() -> None:
    steps = counter_steps([(0, 1000), (1, 600), (2, 1010)])
    assert [(s.delta, s.kind) for s in steps] == [(0, "first"), (0, "suspect"), (10, "glitch")]


def test_frozen_counter_is_flagged() -> None:
    spec = CounterSpec(frozen_after_ms=300_000)
    readings = [(0, 5), (60_000, 6)] + [(60_000 * k, 6) for k in range(2, 9)]
    steps = counter_steps(readings, spec)
    assert [s.frozen for s in steps] == [False] * 6 + [True] * 3  # unchanged since 60 s
    assert all(s.delta >= 0 for s in steps)


def test_stale_and_invalid_readings_are_ignored() -> None:
    c = Counter()
    c.update(1000, 10)
    assert c.update(1000, 99).kind == "stale"
    assert c.update(500, 99).kind == "stale"
    assert c.update(2000, float("nan")).kind == "invalid"
    assert c.update(3000, 12).delta == 2


def test_month_total_across_a_gap_from_boundary_readings() -> None:
    # Readings bracket the month [0, 10000): step 1 (−5000, 5000] +100 → half inside;
    # step 2 (5000, 20000] +150 → a third inside. Total 50 + 50.
    readings = [(-5000, 0), (5000, 100), (20_000, 250)]
    t = counter_total(readings, 0, 10_000)
    assert t.total == pytest.approx(100.0)
    assert t.start_bracketed and t.end_bracketed
    ivs = interval_deltas(readings, 0, 10_000, 2500)
    assert [iv.delta for iv in ivs] == pytest.approx([25.0, 25.0, 25.0, 25.0])
    assert [iv.readings for iv in ivs] == [0, 0, 1, 0]


def test_month_total_with_rollover_and_replacement() -> None:
    spec = CounterSpec(width_bits=16)
    readings = [(0, 65_000), (100, 65_500), (200, 300), (400, 50), (500, 150)]
    rep = Replacement(300, old_final_raw=400, new_initial_raw=0)
    t = counter_total(readings, 0, 500, spec, [rep])
    # 500 + (36 + 300) rollover + 100 replacement + 50 + 100 = 1086
    assert t.total == pytest.approx(1086.0)
    assert set(t.kinds) == {"rollover", "replacement"}
    assert t.end_bracketed  # the reading at 500 = end closes the period


def test_interval_deltas_incremental_equals_pure() -> None:
    readings = [(0, 65_000), (150, 65_400), (320, 100), (470, 120), (900, 500)]
    spec = CounterSpec(width_bits=16)
    pure = interval_deltas(readings, 0, 900, 100, spec)
    ci = CounterIntervals(0, 100, spec)
    inc = []
    for ts, raw in readings:
        inc.extend(ci.update(ts, raw))
    inc.extend(ci.flush(900))
    assert inc == pure
    assert sum(iv.delta for iv in pure) == pytest.approx(
        counter_total(readings, 0, 900, spec).total
    )


def test_spec_validation() -> None:
    with pytest.raises(MethodError):
        CounterSpec(width_bits=24)
    with pytest.raises(MethodError):
        CounterSpec(scale=0)
    with pytest.raises(MethodError):
        counter_total([], 10, 10)
