"""Anode-effect detection on synthetic traces; controller counters; operating cell-days."""

from __future__ import annotations

import pytest

from protocols.methods import MethodError
from protocols.methods.anode_effect import (
    AnodeEffectConfig,
    AnodeEffectDetector,
    ControllerAeCounters,
    detect_anode_effects,
    operating_cell_days,
)
from protocols.methods.counters import CounterSpec

NORMAL = 4.2


def trace(n_s: int, per_cell) -> list[tuple[int, list[float | None]]]:
    """1 Hz scans; per_cell(t_s) returns the list of voltages at second t_s."""
    return [(t * 1000, per_cell(t)) for t in range(n_s)]


def test_effect_crossing_an_interval_boundary_is_split_at_it() -> None:
    scans = trace(40, lambda t: [30.0 if 5 <= t < 15 else NORMAL, NORMAL])
    d = detect_anode_effects(scans, 2, 0, 40_000, 10_000)
    assert [round(i.ae_minutes * 60, 9) for i in d.intervals] == [5.0, 5.0, 0.0, 0.0]
    (ev,) = d.events
    assert (ev.cell, ev.start_ms, ev.end_ms, ev.peak_v) == (0, 5000, 15_000, 30.0)
    assert (ev.trigger_v, ev.min_duration_ms) == (8.0, 2000)
    assert d.ae_count == 1 and d.intervals[0].ae_count == 1


def test_noise_spike_shorter_than_min_duration_is_dropped() -> None:
    scans = trace(30, lambda t: [9.5 if t == 7 else NORMAL])  # 1 s above 8 V
    d = detect_anode_effects(scans, 1, 0, 30_000, 30_000)
    assert d.events == () and d.ae_minutes == 0 and d.ae_count == 0


def test_missing_samples_inside_an_effect_are_held() -> None:
    def v(t: int) -> list[float | None]:
        if 5 <= t <= 10 or 15 <= t <= 19:
            return [25.0]
        if 11 <= t <= 14:
            return [None]  # 4 s without data, below max_missing (10 s)
        return [NORMAL]

    d = detect_anode_effects(trace(60, v), 1, 0, 60_000, 60_000)
    (ev,) = d.events
    assert (ev.start_ms, ev.end_ms, ev.data_gap, ev.merged) == (5000, 20_000, False, 0)
    assert d.ae_minutes == pytest.approx(15 / 60)


def test_long_data_gap_ends_the_effect_conservatively_and_flags_it() -> None:
    def v(t: int) -> list[float | None]:
        if 5 <= t <= 9:
            return [25.0]
        if 10 <= t <= 39:
            return [None]
        return [NORMAL]

    d = detect_anode_effects(trace(80, v), 1, 0, 80_000, 80_000)
    (ev,) = d.events
    # last sample above trigger at 9 s, held max_missing 10 s → ends at 19 s
    assert (ev.start_ms, ev.end_ms, ev.data_gap) == (5000, 19_000, True)


def test_two_close_effects_merge_within_gap() -> None:
    def v(t: int) -> list[float]:
        return [20.0 if (5 <= t <= 9 or 13 <= t <= 16) else NORMAL]

    merged = detect_anode_effects(trace(60, v), 1, 0, 60_000, 60_000)
    (ev,) = merged.events
    assert (ev.start_ms, ev.end_ms, ev.merged) == (5000, 17_000, 1)
    assert merged.ae_minutes == pytest.approx(12 / 60)

    cfg = AnodeEffectConfig(merge_gap_ms=2000)
    apart = detect_anode_effects(trace(60, v), 1, 0, 60_000, 60_000, cfg)
    assert [(e.start_ms, e.end_ms) for e in apart.events] == [(5000, 10_000), (13_000, 17_000)]
    assert apart.ae_minutes == pytest.approx(9 / 60)
    assert apart.ae_count == 2


def test_unconfirmed_effect_at_boundary_is_carried_to_the_interval_that_confirms_it() -> None:
    cfg = AnodeEffectConfig(min_duration_ms=5000)
    scans = trace(40, lambda t: [12.0 if 8 <= t <= 13 else NORMAL])  # 8 s → 14 s
    d = detect_anode_effects(scans, 1, 0, 40_000, 10_000, cfg)
    # At 10 s only 2 s elapsed (< 5 s): nothing counted; all 6 s land in [10, 20).
    assert [i.ae_minutes * 60 for i in d.intervals] == pytest.approx([0, 6, 0, 0])
    assert [i.ae_count for i in d.intervals] == [0, 1, 0, 0]


def test_effect_open_at_end_of_series_is_counted_and_reported_open() -> None:
    scans = trace(20, lambda t: [15.0 if t >= 15 else NORMAL])
    d = detect_anode_effects(scans, 1, 0, 20_000, 10_000)
    assert d.events == ()
    (op,) = d.open_effects
    assert (op.start_ms, op.end_ms, op.final) == (15_000, 20_000, False)
    assert d.ae_minutes == pytest.approx(5 / 60)


def test_many_cells_independent() -> None:
    def v(t: int) -> list[float]:
        out = [NORMAL] * 100
        if 2 <= t < 6:
            out[3] = 30.0
        if 4 <= t < 9:
            out[97] = 40.0
        return out

    d = detect_anode_effects(trace(30, v), 100, 0, 30_000, 30_000)
    assert sorted((e.cell, e.duration_ms) for e in d.events) == [(3, 4000), (97, 5000)]


def test_per_cell_updates_and_advance() -> None:
    det = AnodeEffectDetector(2, 0)
    for t in range(5, 9):
        det.update_cell(1, t * 1000, 11.0)
    det.update_cell(1, 9000, NORMAL)
    assert det.advance(15_000) == []  # still within merge gap (end 9 s + 10 s)
    (ev,) = det.advance(19_001)
    assert (ev.cell, ev.start_ms, ev.end_ms) == (1, 5000, 9000)


def test_detector_argument_checks() -> None:
    det = AnodeEffectDetector(2, 0)
    with pytest.raises(MethodError):
        det.update(0, [1.0])
    det.update(10, [1.0, 1.0])
    with pytest.raises(MethodError):
        det.update(5, [1.0, 1.0])
    with pytest.raises(MethodError):
        AnodeEffectConfig(min_duration_ms=-1)


def test_controller_counters_give_interval_ae_minutes() -> None:
    cc = ControllerAeCounters(2, CounterSpec(width_bits=16), CounterSpec(width_bits=16))
    cc.update(0, [10, 20], [600, 65_500])
    d = cc.update(60_000, [11, 20], [690, 64])  # cell 1 seconds wrapped: 36 + 64 = 100
    assert d.ae_count == 1
    assert d.ae_minutes == pytest.approx((90 + 100) / 60)
    assert d.kinds == ("rollover",)
    d2 = cc.update(120_000, [0, 20], [0, 64])  # cell 0 controller restarted
    assert d2.ae_count == 0 and d2.ae_minutes == 0  # reset to zero counts nothing
    assert "reset" in d2.kinds


def test_operating_cell_days_hand_value() -> None:
    day = 86_400_000
    r = operating_cell_days([(0, 300), (day // 2, 298)], 0, day)
    assert r.cell_days == pytest.approx(299.0)
    assert r.coverage == 1.0
