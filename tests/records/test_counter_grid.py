"""``counter_month`` gives bit for bit what ``interval_deltas`` gives, or declines.

The record takes a counter's interval deltas, step kinds and frozen flag from
``protocols.record.counter_grid`` when it can vouch for them; these series (on and off the
grid, gaps, rollovers, resets, glitches, suspect jumps, stale and invalid readings,
readings around the month) compare it with the reference in ``protocols.methods``.
"""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest

from protocols.methods.counters import CounterSpec, interval_deltas
from protocols.record.counter_grid import counter_month

START = 1_790_000_000_000
IV = 60_000
NK = 500


def _reference(readings: list[tuple[int, Any]], spec: CounterSpec) -> Any:
    deltas = interval_deltas(readings, START, START + NK * IV, IV, spec)
    return (
        [d.delta for d in deltas],
        {k for d in deltas for k in d.kinds},
        any(d.frozen for d in deltas),
    )


def _bits(xs: list[float]) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]


def _series(rng: random.Random, kind: str) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    raw: Any = rng.choice([0, 1000, 65_000, 10_000_000])
    k = rng.randint(-5, 3)
    while k < NK + 5:
        ts = START + k * IV
        if kind == "offgrid":
            ts += rng.randint(-20_000, 20_000)
        raw += rng.choice([0, 1, 2, 3, 8]) if kind != "float" else rng.random() * 3
        r: Any = raw
        roll = rng.random()
        if kind == "faults":
            if roll < 0.02:
                r = raw * 40 + 7  # a spike: suspect, then glitch or rebaseline
            elif roll < 0.03:
                raw = r = 3  # a reset
            elif roll < 0.04:
                r = None
            elif roll < 0.05:
                r = -1
            elif roll < 0.06:
                r = math.nan
            elif roll < 0.07 and out:
                out.append(out[-1])  # stale: a repeated stamp
        if kind == "wrap":
            r = raw % 65_536
        out.append((ts, r))
        k += rng.choice([1, 1, 1, 1, 2, 7]) if kind in ("gaps", "faults") else 1
    return out


@pytest.mark.parametrize("kind", ["grid", "gaps", "offgrid", "float", "wrap", "faults"])
@pytest.mark.parametrize("seed", range(6))
def test_counter_month_is_the_reference(kind: str, seed: int) -> None:
    rng = random.Random(f"{kind}-{seed}")
    spec = rng.choice(
        [
            CounterSpec(),
            CounterSpec(width_bits=16),
            CounterSpec(scale=0.1, max_rate_per_s=0.5),
            CounterSpec(frozen_after_ms=5 * IV),
        ]
    )
    readings = sorted(_series(rng, kind))
    got = counter_month(readings, START, NK, IV, spec)
    want = _reference(readings, spec)
    if got is None:  # declined: only where a step spreads from elsewhere (a glitch)
        assert kind == "faults"
        return
    assert _bits(got[0]) == _bits(want[0])
    assert got[1:] == want[1:]


def test_the_common_series_are_taken_and_a_glitch_declined() -> None:
    """On-grid and wrapping series take this path (so the record uses it); a spike that
    turns out a glitch spreads from the old baseline and is left to the reference."""
    grid = [(START + k * IV, 1000 + 3 * k) for k in range(-1, NK + 2)]
    wrap = [(START + k * IV, (65_000 + 8 * k) % 65_536) for k in range(-1, NK + 2)]
    for readings, spec in ((grid, CounterSpec()), (wrap, CounterSpec(width_bits=16))):
        got = counter_month(readings, START, NK, IV, spec)
        assert got is not None
        assert _bits(got[0]) == _bits(_reference(readings, spec)[0])
    assert counter_month(wrap, START, NK, IV, CounterSpec(width_bits=16)) is not None
    assert "rollover" in (counter_month(wrap, START, NK, IV, CounterSpec(width_bits=16)) or "")[1]
    spike = list(grid)
    spike[10] = (spike[10][0], 10**9)
    bounded = CounterSpec(max_rate_per_s=0.5)  # the spike is implausible: suspect, glitch
    assert counter_month(spike, START, NK, IV, bounded) is None
    assert _reference(spike, bounded)[1] == {"suspect", "glitch"}
    assert counter_month([(float(START), 1.0)], START, NK, IV) is None
