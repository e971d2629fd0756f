"""Time-weighted mean and integral over irregularly timed samples, and interval aggregates.

Two interpolation modes:

* ``step`` (default) — sample-and-hold: a sample's value holds from its timestamp until the
  next sample, for at most ``max_gap_ms``. This is what a polled register means (the value
  the device reported is the value until we look again), it is causal (an interval can be
  closed the moment the next sample arrives, without look-ahead, which the agent needs), and
  it is the "previous value" rule of plant historians. Use it for states and set-points,
  line current, cells in operation.
* ``trapezoid`` — linear between consecutive samples no further apart than ``max_gap_ms``;
  nothing beyond the last sample. Better for smooth physical signals sampled sparsely
  (power → energy), at the price of needing the next sample before a segment is known.

A sample whose value is ``None`` (bad quality) ends the hold of the previous sample at its
timestamp. Time not covered by any hold counts neither toward the integral nor the mean; it
is reported as ``covered_ms`` so completeness stays visible.

The integral is returned in value·hours (kW → kWh, kA → kA·h); the mean is the integral over
covered time. Interval aggregates add min, max, sample count, and the expected count.

:class:`TimeWeighted` is the incremental form; :func:`aggregate_intervals` and
:func:`integrate` run the same class over a whole series, so both give identical numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protocols.methods.errors import MethodError

__all__ = [
    "IntervalAggregate",
    "TimeWeighted",
    "TimeWeightedResult",
    "aggregate_intervals",
    "integrate",
]

MS_PER_HOUR = 3_600_000.0
STEP = "step"
TRAPEZOID = "trapezoid"


@dataclass(frozen=True, slots=True)
class IntervalAggregate:
    """One closed interval: time-weighted mean and integral, plus sample statistics."""

    start_ms: int
    end_ms: int
    integral_h: float  # value × hours over covered time
    covered_ms: int
    mean: float | None  # integral / covered time; None if nothing covered
    min: float | None  # over samples with start <= ts < end
    max: float | None
    count: int  # good samples in the interval
    expected_count: int | None

    @property
    def coverage(self) -> float:
        return self.covered_ms / (self.end_ms - self.start_ms)


@dataclass(frozen=True, slots=True)
class TimeWeightedResult:
    """Integral and mean over one period."""

    start_ms: int
    end_ms: int
    integral_h: float
    covered_ms: int
    mean: float | None
    count: int
    mode: str
    max_gap_ms: int | None


class TimeWeighted:
    """Incremental time-weighted aggregation into fixed intervals starting at ``start_ms``."""

    __slots__ = (
        "_acc",
        "_cur",
        "_expected",
        "_interval",
        "_max_gap",
        "_mode",
        "_prev_ts",
        "_prev_v",
        "_start",
    )

    def __init__(
        self,
        start_ms: int,
        interval_ms: int,
        *,
        mode: str = STEP,
        max_gap_ms: int | None = None,
        expected_count: int | None = None,
    ) -> None:
        if interval_ms <= 0:
            raise MethodError("interval_ms must be positive")
        if mode not in (STEP, TRAPEZOID):
            raise MethodError(f"mode must be 'step' or 'trapezoid', got {mode!r}")
        if max_gap_ms is not None and max_gap_ms <= 0:
            raise MethodError("max_gap_ms must be positive")
        self._start = start_ms
        self._interval = interval_ms
        self._mode = mode
        self._max_gap = max_gap_ms
        self._expected = expected_count
        self._cur = start_ms
        self._prev_ts: int | None = None
        self._prev_v: float | None = None
        # open intervals by start: [integral_ms (value·ms), covered_ms, min, max, count]
        self._acc: dict[int, list[Any]] = {}

    def _slot(self, k: int) -> list[Any]:
        a = self._acc.get(k)
        if a is None:
            a = self._acc[k] = [0.0, 0, math.inf, -math.inf, 0]
        return a

    def _key(self, t: int) -> int:
        return self._start + (t - self._start) // self._interval * self._interval

    def _add_segment(self, t0: int, t1: int, v0: float, v1: float) -> None:
        """Add the area of a linear segment (v0 at t0 → v1 at t1), split at boundaries."""
        t0c = max(t0, self._start)
        if t1 <= t0c:
            return
        span = t1 - t0
        slope = (v1 - v0) / span if span else 0.0
        t = t0c
        while t < t1:
            k = self._key(t)
            e = min(k + self._interval, t1)
            va = v0 + slope * (t - t0)
            vb = v0 + slope * (e - t0)
            a = self._slot(k)
            a[0] += (va + vb) * 0.5 * (e - t)
            a[1] += e - t
            t = e

    def _hold_until(self, t_end: int) -> None:
        """Extend the previous sample up to t_end under the mode and max-gap rule."""
        pt, pv = self._prev_ts, self._prev_v
        if pt is None or pv is None or t_end <= pt:
            return
        if self._mode == STEP:
            end = t_end if self._max_gap is None else min(t_end, pt + self._max_gap)
            self._add_segment(pt, end, pv, pv)

    def _close_until(self, t: int) -> list[IntervalAggregate]:
        out: list[IntervalAggregate] = []
        iv = self._interval
        while self._cur + iv <= t:
            a = self._acc.pop(self._cur, None)
            if a is None:
                out.append(
                    IntervalAggregate(
                        self._cur, self._cur + iv, 0.0, 0, None, None, None, 0, self._expected
                    )
                )
            else:
                cov = a[1]
                out.append(
                    IntervalAggregate(
                        self._cur,
                        self._cur + iv,
                        a[0] / MS_PER_HOUR,
                        cov,
                        a[0] / cov if cov else None,
                        a[2] if a[4] else None,
                        a[3] if a[4] else None,
                        a[4],
                        self._expected,
                    )
                )
            self._cur += iv
        return out

    def add(self, ts_ms: int, value: float | None) -> list[IntervalAggregate]:
        """Feed one sample (``None`` = bad/missing); returns intervals closed by it."""
        pt = self._prev_ts
        if pt is not None and ts_ms <= pt:
            return []  # out of order or duplicate: ignored
        if value is not None and not math.isfinite(value):
            value = None
        if self._mode == STEP:
            self._hold_until(ts_ms)
        elif (
            pt is not None
            and self._prev_v is not None
            and value is not None
            and (self._max_gap is None or ts_ms - pt <= self._max_gap)
        ):
            self._add_segment(pt, ts_ms, self._prev_v, value)
        out = self._close_until(ts_ms)
        if value is not None and ts_ms >= self._start:
            a = self._slot(self._key(ts_ms))
            a[4] += 1
            if value < a[2]:
                a[2] = value
            if value > a[3]:
                a[3] = value
        self._prev_ts, self._prev_v = ts_ms, value
        return out

    def flush(self, until_ms: int) -> list[IntervalAggregate]:
        """Hold the last sample (step mode) and close every interval ending by ``until_ms``."""
        self._hold_until(until_ms)
        if self._prev_ts is None or until_ms > self._prev_ts:
            self._prev_ts = until_ms
            self._prev_v = None
        return self._close_until(until_ms)


def aggregate_intervals(
    samples: Iterable[tuple[int, float | None]],
    start_ms: int,
    end_ms: int,
    interval_ms: int,
    *,
    mode: str = STEP,
    max_gap_ms: int | None = None,
    expected_count: int | None = None,
) -> list[IntervalAggregate]:
    """All intervals of [start_ms, end_ms) from a time-ordered series (pure form).

    Include the last sample before ``start_ms`` so its hold (or the segment to the first
    sample) covers the start of the period.
    """
    tw = TimeWeighted(
        start_ms, interval_ms, mode=mode, max_gap_ms=max_gap_ms, expected_count=expected_count
    )
    out: list[IntervalAggregate] = []
    for ts, v in samples:
        if ts >= end_ms:
            if mode == TRAPEZOID:
                out.extend(tw.add(ts, v))  # the segment up to this sample counts
            break
        out.extend(tw.add(ts, v))
    out.extend(tw.flush(end_ms))
    return [a for a in out if a.end_ms <= end_ms]


def integrate(
    samples: Iterable[tuple[int, float | None]],
    start_ms: int,
    end_ms: int,
    *,
    mode: str = STEP,
    max_gap_ms: int | None = None,
) -> TimeWeightedResult:
    """Integral (value·h), covered time and mean over [start_ms, end_ms)."""
    if end_ms <= start_ms:
        raise MethodError("end_ms must be after start_ms")
    (agg,) = aggregate_intervals(
        samples, start_ms, end_ms, end_ms - start_ms, mode=mode, max_gap_ms=max_gap_ms
    )
    return TimeWeightedResult(
        start_ms, end_ms, agg.integral_h, agg.covered_ms, agg.mean, agg.count, mode, max_gap_ms
    )
