"""Property tests: invariants that must hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.methods.aem import aem
from protocols.methods.anode_effect import AnodeEffectConfig, detect_anode_effects
from protocols.methods.counters import CounterSpec, counter_steps, counter_total, interval_deltas
from protocols.methods.timeweighted import integrate

H = 3_600_000

times = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=40).map(
    lambda xs: sorted(set(xs))
)


@given(c=st.floats(-1e6, 1e6, allow_nan=False), ts=times, end=st.integers(10_001, 20_000))
def test_integral_of_a_constant(c: float, ts: list[int], end: int) -> None:
    samples = [(0, c)] + [(t, c) for t in ts]
    for mode in ("step", "trapezoid"):
        r = integrate([*samples, (end, c)], 0, end, mode=mode)
        assert r.integral_h == pytest.approx(c * end / H, rel=1e-9, abs=1e-9)
        if r.mean is not None:
            assert r.mean == pytest.approx(c, rel=1e-9, abs=1e-9)


@given(
    vals=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
    ts=times,
    split=st.integers(1, 9_999),
    gap=st.one_of(st.none(), st.integers(1, 5_000)),
    mode=st.sampled_from(["step", "trapezoid"]),
)
def test_integral_is_additive_over_split_intervals(
    vals: list[float], ts: list[int], split: int, gap: int | None, mode: str
) -> None:
    samples = list(zip(ts, vals, strict=False))
    whole = integrate(samples, 0, 10_001, mode=mode, max_gap_ms=gap)
    a = integrate(samples, 0, split, mode=mode, max_gap_ms=gap)
    b = integrate(samples, split, 10_001, mode=mode, max_gap_ms=gap)
    assert a.integral_h + b.integral_h == pytest.approx(whole.integral_h, rel=1e-9, abs=1e-12)
    assert a.covered_ms + b.covered_ms == whole.covered_ms


@given(
    m=st.floats(0, 1e6, allow_nan=False),
    cd=st.floats(1e-3, 1e6, allow_nan=False),
    k=st.floats(1e-3, 1e3, allow_nan=False),
)
def test_aem_scale_invariance(m: float, cd: float, k: float) -> None:
    assert aem(m * k, cd * k).aem == pytest.approx(aem(m, cd).aem, rel=1e-9, abs=1e-12)


@given(
    bits=st.sampled_from([16, 32, 64]),
    raws=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=50),
    rate=st.one_of(st.none(), st.floats(0.1, 1e6)),
)
def test_counter_deltas_never_negative(bits: int, raws: list[int], rate: float | None) -> None:
    mod = 1 << bits
    spec = CounterSpec(width_bits=bits, max_rate_per_s=rate)
    steps = counter_steps([(i * 1000, r % mod) for i, r in enumerate(raws)], spec)
    assert all(s.delta >= 0 for s in steps)
    cums = [s.cumulative for s in steps]
    assert cums == sorted(cums)


@settings(max_examples=50)
@given(
    incs=st.lists(st.integers(0, 5_000), min_size=2, max_size=40),
    start=st.integers(0, 60_000),
    interval=st.integers(500, 20_000),
)
def test_counter_intervals_sum_to_month_total_across_wraps(
    incs: list[int], start: int, interval: int
) -> None:
    # A well-behaved 16-bit counter (increments well below a quarter of the modulus).
    raw, readings = 60_000, []
    for i, inc in enumerate(incs):
        raw = (raw + inc) % 65_536
        readings.append((i * 3_000, raw))
    end = start + interval * 3
    spec = CounterSpec(width_bits=16)
    total = counter_total(readings, start, end, spec).total
    ivs = interval_deltas(readings, start, end, interval, spec)
    assert sum(iv.delta for iv in ivs) == pytest.approx(total, rel=1e-9, abs=1e-9)
    whole = counter_total(readings, 0, len(incs) * 3_000, spec).total
    assert whole == pytest.approx(sum(incs[1:]), rel=1e-12)


@settings(max_examples=60)
@given(
    pattern=st.lists(st.sampled_from([4.2, 4.2, 4.2, 12.0, None]), min_size=5, max_size=120),
    interval=st.integers(1_000, 30_000),
)
def test_ae_minutes_over_intervals_equal_event_durations(
    pattern: list[float | None], interval: int
) -> None:
    n = len(pattern)
    # Pad with healthy samples so every effect ends and its merge gap expires in the series.
    scans = [(t * 1000, [v]) for t, v in enumerate(pattern + [4.2] * 40)]
    end = (n + 40) * 1000
    end -= end % interval
    d = detect_anode_effects(scans, 1, 0, end, interval, AnodeEffectConfig())
    confirmed_open = [e for e in d.open_effects if e.duration_ms >= d.config.min_duration_ms]
    durations = sum(e.duration_ms for e in d.events + tuple(confirmed_open)) / 60_000
    assert d.ae_minutes == pytest.approx(durations, abs=1e-9)
    assert d.ae_count == len(d.events) + len(confirmed_open)
