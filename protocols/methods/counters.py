"""Cumulative counters (energy meters, belt-scale totalisers, pot-controller AE counters).

A cumulative register only ever counts up, so the quantity over an interval is the
difference of two readings. Four things break the naive difference, and each is told apart
here so that a delta is never negative and never a spike:

* **rollover** — the register wraps at 2^16, 2^32 or 2^64 (or a configured maximum). A drop
  is a rollover when the wrapped difference ``modulus - prev + new`` is small: at most
  ``wrap_fraction`` of the modulus (default 1/4, i.e. the old reading was near the top and
  the new one near zero) and, when ``max_rate_per_s`` is set, physically possible in the
  elapsed time. The wrapped difference is counted.
* **reset** — the meter restarted from zero (power cycle, manual clear): a drop to at most
  ``reset_fraction`` of the previous reading that is not a plausible rollover. The new reading
  itself is counted (consumption since the restart); the unknown consumption between the
  last reading and the restart is lost and the step says so (kind ``reset``).
* **replacement** — an explicit event with the old meter's final and the new meter's initial
  reading: old_final − prev is counted, and the new meter's readings count from new_initial.
* **glitches** — a single implausible reading (a drop that is neither rollover nor reset, or
  a forward jump faster than ``max_rate_per_s``) is held as *suspect* with delta 0. The next
  reading decides: if it continues from the old baseline the suspect was a glitch and the
  normal difference is counted; if it continues from the suspect the meter really moved
  (unannounced replacement or preset): the suspect becomes the new baseline and the jump
  itself is never counted (kind ``rebaseline``). A reset is treated the same way once: if the
  next reading is back at or above the pre-reset baseline, the "reset" was a bad read.

A counter whose raw value has not changed for ``frozen_after_ms`` is flagged ``frozen`` (its
delta is still the truthful 0; whether the process was running is for the caller to judge).

Readings whose timestamp does not increase are ignored (kind ``stale``). Month totals come
from boundary readings across any gap: each step's delta is spread linearly over its time
span (prev_ts, ts], so the portion inside [start, end) is counted, which equals interpolating
the unwrapped counter at the boundaries.

Two forms, same numbers: :class:`Counter` (incremental, for the agent) and
:func:`counter_steps` / :func:`counter_total` / :func:`interval_deltas` (pure functions over a
whole series, for the monthly record and the verifier), which run the same class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.methods.errors import MethodError

__all__ = [
    "Counter",
    "CounterIntervals",
    "CounterSpec",
    "CounterStep",
    "CounterTotal",
    "IntervalDelta",
    "Replacement",
    "counter_steps",
    "counter_total",
    "interval_deltas",
]

Raw = int | float

OK = "ok"
FIRST = "first"
ROLLOVER = "rollover"
RESET = "reset"
REPLACEMENT = "replacement"
SUSPECT = "suspect"
GLITCH = "glitch"
REBASELINE = "rebaseline"
STALE = "stale"
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """How to read one cumulative register."""

    width_bits: int | None = None  # 16, 32 or 64: the register wraps at 2**width_bits
    max_raw: int | None = None  # or: the register wraps after this value (modulus max_raw+1)
    scale: float = 1.0  # engineering units per raw count
    max_rate_per_s: float | None = None  # engineering units per second, physical upper bound
    wrap_fraction: float = 0.25  # a wrapped difference above this share of the modulus is no wrap
    reset_fraction: float = 0.05  # a drop to at most this share of the last reading is a reset
    frozen_after_ms: int | None = None  # unchanged this long → flagged frozen

    def __post_init__(self) -> None:
        if self.width_bits is not None and self.width_bits not in (16, 32, 64):
            raise MethodError(f"width_bits must be 16, 32 or 64, got {self.width_bits}")
        if self.max_raw is not None and self.max_raw <= 0:
            raise MethodError("max_raw must be positive")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise MethodError("scale must be a positive number")

    @property
    def modulus(self) -> int | None:
        if self.width_bits is not None:
            return 1 << self.width_bits
        if self.max_raw is not None:
            return int(self.max_raw) + 1
        return None


@dataclass(frozen=True, slots=True)
class Replacement:
    """A meter replacement: the old meter's final and the new meter's initial reading."""

    ts_ms: int
    old_final_raw: Raw
    new_initial_raw: Raw
    new_spec: CounterSpec | None = None  # the new meter may have another width or scale


@dataclass(frozen=True, slots=True)
class CounterStep:
    """The outcome of one reading: a non-negative delta over (prev_ts_ms, ts_ms]."""

    ts_ms: int
    prev_ts_ms: int | None
    raw: Raw
    delta: float  # engineering units, >= 0
    kind: str  # ok, first, rollover, reset, replacement, suspect, glitch, rebaseline, stale
    cumulative: float  # running sum of deltas since the counter object was created
    frozen: bool = False


class Counter:
    """Incremental counter state machine (agent hot path: plain floats, no allocation but
    the returned step)."""

    __slots__ = (
        "_base_raw",
        "_base_ts",
        "_cum",
        "_ghost_counted",
        "_ghost_raw",
        "_last_ts",
        "_spec",
        "_suspect_raw",
        "_suspect_ts",
        "_unchanged_since",
    )

    def __init__(self, spec: CounterSpec | None = None) -> None:
        self._spec = spec or CounterSpec()
        self._base_raw: Raw | None = None  # last accepted raw reading
        self._base_ts: int | None = None
        self._last_ts: int | None = None  # last reading's ts (accepted or suspect)
        self._cum = 0.0
        self._suspect_raw: Raw | None = None
        self._suspect_ts: int | None = None
        self._ghost_raw: Raw | None = None  # baseline before a reset, for glitch recovery
        self._ghost_counted = 0.0
        self._unchanged_since: int | None = None

    @property
    def spec(self) -> CounterSpec:
        return self._spec

    @property
    def cumulative(self) -> float:
        return self._cum

    @property
    def last_raw(self) -> Raw | None:
        return self._base_raw

    # -- helpers ----------------------------------------------------------------------
    def _plausible(self, delta_eng: float, dt_ms: int) -> bool:
        rate = self._spec.max_rate_per_s
        if rate is None:
            return True
        # 1 % and one count of slack so a counter running at exactly max rate passes.
        return delta_eng <= rate * dt_ms / 1000.0 * 1.01 + self._spec.scale

    def _forward(self, prev: Raw, new: Raw, dt_ms: int) -> tuple[float, str] | None:
        """Delta (eng) and kind for prev → new if that is a plausible movement, else None."""
        s = self._spec
        if new >= prev:
            d = (new - prev) * s.scale
            return (d, OK) if self._plausible(d, dt_ms) else None
        mod = s.modulus
        if mod is not None:
            wrapped = mod - prev + new
            if 0 <= wrapped <= s.wrap_fraction * mod:
                d = wrapped * s.scale
                if self._plausible(d, dt_ms):
                    return d, ROLLOVER
        return None

    def _emit(
        self, ts: int, prev_ts: int | None, raw: Raw, delta: float, kind: str
    ) -> tuple[int, int | None, Raw, float, str, float, bool]:
        self._cum += delta
        frozen = False
        fa = self._spec.frozen_after_ms
        if fa is not None and self._unchanged_since is not None:
            frozen = ts - self._unchanged_since >= fa
        return ts, prev_ts, raw, delta, kind, self._cum, frozen

    def _accept(self, ts: int, raw: Raw) -> None:
        if self._base_raw is None or raw != self._base_raw:
            self._unchanged_since = ts
        self._base_raw = raw
        self._base_ts = ts
        self._last_ts = ts

    # -- public -----------------------------------------------------------------------
    def update(self, ts_ms: int, raw: Raw) -> CounterStep:
        """Feed one reading; returns the step with its non-negative delta."""
        return CounterStep(*self._step(ts_ms, raw))

    def _step(self, ts_ms: int, raw: Raw) -> tuple[int, int | None, Raw, float, str, float, bool]:
        """:meth:`update` as a plain tuple of the :class:`CounterStep` fields (hot path)."""
        prev_ts = self._last_ts
        base = self._base_raw
        # Fast path, the overwhelmingly common step: a plausible forward movement with no
        # suspect or reset pending. Same arithmetic as _forward/_plausible/_accept/_emit.
        if (
            base is not None
            and self._suspect_raw is None
            and self._ghost_raw is None
            and prev_ts is not None
            and self._base_ts is not None
            and ts_ms > prev_ts
            and (type(raw) is int or (type(raw) is float and math.isfinite(raw)))
            and raw >= base
        ):
            spec = self._spec
            d = (raw - base) * spec.scale
            rate = spec.max_rate_per_s
            base_ts = self._base_ts
            if rate is None or d <= rate * (ts_ms - base_ts) / 1000.0 * 1.01 + spec.scale:
                if raw != base:
                    self._unchanged_since = ts_ms
                self._base_raw = raw
                self._base_ts = ts_ms
                self._last_ts = ts_ms
                cum = self._cum = self._cum + d
                fa = spec.frozen_after_ms
                frozen = False
                if fa is not None and self._unchanged_since is not None:
                    frozen = ts_ms - self._unchanged_since >= fa
                return ts_ms, prev_ts, raw, d, OK, cum, frozen
        return self._step_slow(ts_ms, raw)

    def _step_slow(
        self, ts_ms: int, raw: Raw
    ) -> tuple[int, int | None, Raw, float, str, float, bool]:
        prev_ts = self._last_ts
        if raw is None or (isinstance(raw, float) and not math.isfinite(raw)) or raw < 0:
            return ts_ms, prev_ts, raw, 0.0, INVALID, self._cum, False
        if prev_ts is not None and ts_ms <= prev_ts:
            return ts_ms, prev_ts, raw, 0.0, STALE, self._cum, False
        if self._base_raw is None:
            self._accept(ts_ms, raw)
            return self._emit(ts_ms, None, raw, 0.0, FIRST)
        base, base_ts = self._base_raw, self._base_ts
        assert base_ts is not None

        # A pending suspect reading: decide between glitch and real move.
        if self._suspect_raw is not None:
            sus, sus_ts = self._suspect_raw, self._suspect_ts
            assert sus_ts is not None
            self._suspect_raw = self._suspect_ts = None
            fwd = self._forward(base, raw, ts_ms - base_ts)
            if fwd is not None:
                self._accept(ts_ms, raw)
                return self._emit(ts_ms, base_ts, raw, fwd[0], GLITCH)
            fwd = self._forward(sus, raw, ts_ms - sus_ts)
            if fwd is not None:
                self._accept(ts_ms, raw)
                return self._emit(ts_ms, prev_ts, raw, fwd[0], REBASELINE)
            # Neither: treat this reading as the new suspect, keep the old baseline.
            self._suspect_raw, self._suspect_ts = raw, ts_ms
            self._last_ts = ts_ms
            return self._emit(ts_ms, prev_ts, raw, 0.0, SUSPECT)

        # One step after a reset: back at/above the pre-reset baseline means a bad read.
        if self._ghost_raw is not None:
            ghost, counted = self._ghost_raw, self._ghost_counted
            self._ghost_raw = None
            self._ghost_counted = 0.0
            if raw >= ghost and raw >= base:
                true = (raw - ghost) * self._spec.scale
                if self._plausible(true, ts_ms - base_ts):
                    self._accept(ts_ms, raw)
                    return self._emit(ts_ms, prev_ts, raw, max(0.0, true - counted), GLITCH)

        fwd = self._forward(base, raw, ts_ms - base_ts)
        if fwd is not None:
            self._accept(ts_ms, raw)
            return self._emit(ts_ms, prev_ts, raw, fwd[0], fwd[1])
        if raw < base and raw <= self._spec.reset_fraction * base:
            d = raw * self._spec.scale
            if self._plausible(d, ts_ms - base_ts):
                self._ghost_raw, self._ghost_counted = base, d
                self._accept(ts_ms, raw)
                return self._emit(ts_ms, prev_ts, raw, d, RESET)
        self._suspect_raw, self._suspect_ts = raw, ts_ms
        self._last_ts = ts_ms
        return self._emit(ts_ms, prev_ts, raw, 0.0, SUSPECT)

    def replace(self, event: Replacement) -> CounterStep:
        """Apply a meter replacement; the old meter's last movement is counted."""
        prev_ts = self._last_ts
        if prev_ts is not None and event.ts_ms <= prev_ts:
            raise MethodError("replacement must come after the last reading")
        delta = 0.0
        if self._base_raw is not None:
            assert self._base_ts is not None
            fwd = self._forward(self._base_raw, event.old_final_raw, event.ts_ms - self._base_ts)
            delta = fwd[0] if fwd is not None else 0.0
        if event.new_spec is not None:
            self._spec = event.new_spec
        self._suspect_raw = self._suspect_ts = None
        self._ghost_raw = None
        self._ghost_counted = 0.0
        self._unchanged_since = None
        self._accept(event.ts_ms, event.new_initial_raw)
        return CounterStep(
            *self._emit(event.ts_ms, prev_ts, event.new_initial_raw, delta, REPLACEMENT)
        )


def _events(
    readings: Iterable[tuple[int, Raw]], replacements: Sequence[Replacement]
) -> Iterable[tuple[int, Raw] | Replacement]:
    """Readings and replacements in time order; a replacement precedes a reading at its ts."""
    reps = sorted(replacements, key=lambda r: r.ts_ms)
    i = 0
    for ts, raw in readings:
        while i < len(reps) and reps[i].ts_ms <= ts:
            yield reps[i]
            i += 1
        yield ts, raw
    yield from reps[i:]


def counter_steps(
    readings: Iterable[tuple[int, Raw]],
    spec: CounterSpec | None = None,
    replacements: Sequence[Replacement] = (),
) -> list[CounterStep]:
    """Every step of a whole series (readings as (ts_ms, raw), in time order)."""
    c = Counter(spec)
    out: list[CounterStep] = []
    for ev in _events(readings, replacements):
        if isinstance(ev, Replacement):
            out.append(c.replace(ev))
        else:
            out.append(c.update(ev[0], ev[1]))
    return out


@dataclass(frozen=True, slots=True)
class IntervalDelta:
    """A closed interval's share of the counter's movement."""

    start_ms: int
    end_ms: int
    delta: float
    readings: int  # readings with start <= ts < end
    kinds: tuple[str, ...]  # non-ok step kinds seen in the interval (rollover, reset, ...)
    frozen: bool


class CounterIntervals:
    """Incremental: feed readings, get closed fixed-length intervals with apportioned deltas.

    A step's delta over (prev_ts, ts] is spread linearly in time, so an interval inside a
    data gap receives its share and the intervals sum to the exact boundary-to-boundary total.
    An interval closes when a reading at or after its end arrives (or on :meth:`flush`).
    """

    __slots__ = ("_acc", "_counter", "_cur", "_interval", "_pending", "_start")

    def __init__(self, start_ms: int, interval_ms: int, spec: CounterSpec | None = None) -> None:
        if interval_ms <= 0:
            raise MethodError("interval_ms must be positive")
        self._counter = Counter(spec)
        self._start = start_ms
        self._interval = interval_ms
        self._cur = start_ms  # start of the earliest open interval
        # open intervals by start: [delta, readings, kinds, frozen]
        self._acc: dict[int, list[Any]] = {}
        self._pending: list[IntervalDelta] = []

    @property
    def counter(self) -> Counter:
        return self._counter

    def _slot(self, t0: int) -> list[Any]:
        a = self._acc.get(t0)
        if a is None:
            a = self._acc[t0] = [0.0, 0, [], False]
        return a

    def _spread(self, ts: int, prev_ts: int | None, d: float, kind: str, frozen: bool) -> None:
        iv = self._interval
        start = self._start
        acc = self._acc
        if ts >= start:
            k0 = start + (ts - start) // iv * iv
            a = acc.get(k0)
            if a is None:
                a = acc[k0] = [0.0, 0, [], False]
            a[1] += 1
            if kind not in (OK, FIRST) and kind not in a[2]:
                a[2].append(kind)
            a[3] = a[3] or frozen
        if d <= 0.0 or prev_ts is None:
            return
        lo, hi = prev_ts, ts
        span = hi - lo
        # Attribute the delta over (lo, hi]; the portion before self._start is dropped.
        t = max(lo, start)
        while t < hi:
            k = start + (t - start) // iv * iv
            e = min(k + iv, hi)
            a = acc.get(k)
            if a is None:
                a = acc[k] = [0.0, 0, [], False]
            a[0] += d * (e - t) / span
            t = e

    def _close_into(self, ts_ms: int, out: list[IntervalDelta]) -> None:
        iv = self._interval
        cur = self._cur
        if cur + iv > ts_ms:
            return
        acc = self._acc
        while cur + iv <= ts_ms:
            a = acc.pop(cur, None) or [0.0, 0, [], False]
            out.append(IntervalDelta(cur, cur + iv, a[0], a[1], tuple(a[2]), bool(a[3])))
            cur += iv
        self._cur = cur

    def _close_until(self, ts_ms: int) -> list[IntervalDelta]:
        out: list[IntervalDelta] = []
        self._close_into(ts_ms, out)
        return out

    def _feed(self, ts_ms: int, raw: Raw, out: list[IntervalDelta]) -> None:
        """:meth:`update`, appending the closed intervals to ``out`` (hot path)."""
        ts, prev_ts, _, d, kind, _, frozen = self._counter._step(ts_ms, raw)
        if kind in (STALE, INVALID):
            return
        self._spread(ts, prev_ts, d, kind, frozen)
        self._close_into(ts_ms, out)

    def update(self, ts_ms: int, raw: Raw) -> list[IntervalDelta]:
        """Feed a reading; returns intervals that ended at or before its timestamp."""
        out: list[IntervalDelta] = []
        self._feed(ts_ms, raw, out)
        return out

    def replace(self, event: Replacement) -> list[IntervalDelta]:
        st = self._counter.replace(event)
        self._spread(st.ts_ms, st.prev_ts_ms, st.delta, st.kind, st.frozen)
        return self._close_until(event.ts_ms)

    def flush(self, until_ms: int) -> list[IntervalDelta]:
        """Close every interval ending at or before ``until_ms`` (end of the month)."""
        return self._close_until(until_ms)


def interval_deltas(
    readings: Iterable[tuple[int, Raw]],
    start_ms: int,
    end_ms: int,
    interval_ms: int,
    spec: CounterSpec | None = None,
    replacements: Sequence[Replacement] = (),
) -> list[IntervalDelta]:
    """Per-interval deltas over [start_ms, end_ms) from a whole series (pure form).

    Pass readings beyond both ends where available (the last before ``start_ms`` and the
    first after ``end_ms``) so the boundary intervals get their share.
    """
    ci = CounterIntervals(start_ms, interval_ms, spec)
    out: list[IntervalDelta] = []
    feed = ci._feed
    if not replacements:
        for ts, raw in readings:
            feed(ts, raw, out)
    else:
        for ev in _events(readings, replacements):
            if isinstance(ev, Replacement):
                out.extend(ci.replace(ev))
            else:
                feed(ev[0], ev[1], out)
    out.extend(ci.flush(end_ms))
    return [x for x in out if x.end_ms <= end_ms]


@dataclass(frozen=True, slots=True)
class CounterTotal:
    """A period's total from a cumulative counter, with how it was obtained."""

    total: float
    start_ms: int
    end_ms: int
    start_bracketed: bool  # a reading at or before start_ms exists
    end_bracketed: bool  # a reading at or after end_ms exists
    steps: int  # steps contributing to the period
    kinds: tuple[str, ...]  # rollover, reset, replacement, suspect, glitch, rebaseline seen
    frozen: bool
    first_ts_ms: int | None
    last_ts_ms: int | None


def counter_total(
    readings: Iterable[tuple[int, Raw]],
    start_ms: int,
    end_ms: int,
    spec: CounterSpec | None = None,
    replacements: Sequence[Replacement] = (),
) -> CounterTotal:
    """Total over [start_ms, end_ms) from boundary readings, across gaps.

    Each step's delta is spread linearly over (prev_ts, ts]; the part inside the period
    counts. With readings exactly at both boundaries this is the plain difference of the
    unwrapped counter. If no reading brackets a boundary, the uncovered edge is not
    extrapolated and ``start_bracketed`` / ``end_bracketed`` say so.
    """
    if end_ms <= start_ms:
        raise MethodError("end_ms must be after start_ms")
    steps = counter_steps(readings, spec, replacements)
    total = 0.0
    n = 0
    kinds: list[str] = []
    frozen = False
    first = last = None
    start_b = end_b = False
    for s in steps:
        if s.kind in (STALE, INVALID):
            continue
        if s.ts_ms <= start_ms:
            start_b = True
        if s.ts_ms >= end_ms:
            end_b = True
        if start_ms <= s.ts_ms < end_ms:
            first = s.ts_ms if first is None else first
            last = s.ts_ms
            frozen = frozen or s.frozen
        if s.prev_ts_ms is None or s.delta <= 0.0:
            if start_ms <= s.ts_ms < end_ms and s.kind not in (OK, FIRST) and s.kind not in kinds:
                kinds.append(s.kind)
            continue
        lo, hi = s.prev_ts_ms, s.ts_ms
        a, b = max(lo, start_ms), min(hi, end_ms)
        if b <= a:
            continue
        total += s.delta * (b - a) / (hi - lo)
        n += 1
        if s.kind not in (OK, FIRST) and s.kind not in kinds:
            kinds.append(s.kind)
    return CounterTotal(
        total, start_ms, end_ms, start_b, end_b, n, tuple(kinds), frozen, first, last
    )
