"""A cumulative counter's month as interval deltas, without an object per interval.

``protocols.methods.counters.interval_deltas`` is the reference: it feeds every reading to a
``Counter``, spreads each step's delta linearly over ``(prev_ts, ts]`` into open interval
slots and emits an ``IntervalDelta`` per closed interval. A month at one-minute resolution
is 44,640 of them per counter, and that bookkeeping was most of a record's counter time.
:func:`counter_month` computes what the record takes from it — each interval's delta, the
non-ok step kinds and whether the counter froze, over the month's intervals — with the same
``Counter`` steps and the same floating-point operations in the same order (each interval
starts at ``0.0`` and receives ``d * (e - t) / span`` per step, step after step), so every
value is bit for bit the reference's. It answers None, and the caller takes the reference,
for anything whose equivalence rests on more than that: meter replacements, non-integer
timestamps, and a step that spreads from another point than the previous reading (the
counter's glitch decision reaches back to its baseline, into intervals the reference has
already closed).
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.methods.counters import FIRST, INVALID, OK, STALE, Counter, CounterSpec, Raw

__all__ = ["counter_month"]

_SKIPPED = (STALE, INVALID)
_PLAIN = (OK, FIRST)


def counter_month(
    readings: Iterable[tuple[int, Raw]],
    start_ms: int,
    n_intervals: int,
    interval_ms: int,
    spec: CounterSpec | None = None,
) -> tuple[list[float], set[str], bool] | None:
    """(delta per month interval, non-ok step kinds in the month, frozen in the month), as
    ``interval_deltas(readings, start_ms, start_ms + n_intervals * interval_ms,
    interval_ms, spec)`` gives them; None when this path cannot vouch for that."""
    iv = interval_ms
    start = start_ms
    nk = n_intervals
    vals = [0.0] * nk
    kinds: set[str] = set()
    frozen_any = False
    step = Counter(spec)._step
    last: int | None = None  # the last reading fed (neither stale nor invalid)
    for ts, raw in readings:
        if type(ts) is not int:
            return None
        _, prev_ts, _, d, kind, _, frozen = step(ts, raw)
        if kind in _SKIPPED:
            continue
        if prev_ts != last:
            return None  # spreads from elsewhere than the previous reading
        last = ts
        if ts >= start and (ts - start) // iv < nk:
            if kind not in _PLAIN:
                kinds.add(kind)
            if frozen:
                frozen_any = True
        if d <= 0.0 or prev_ts is None:
            continue
        span = ts - prev_ts
        t = prev_ts if prev_ts > start else start
        while t < ts:
            j = (t - start) // iv
            e = start + (j + 1) * iv
            if e > ts:
                e = ts
            if j < nk:
                vals[j] += d * (e - t) / span
            t = e
    return vals, kinds, frozen_any
