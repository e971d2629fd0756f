"""Anode-effect detection from cell voltages, AE minutes from pot-controller counters, and
operating cell-days.

An anode effect (AE) is a cell voltage above a trigger (default 8 V, the common industry
definition used by the IAI anode effect survey and IPCC 2006 Vol 3 §4.4.2.4) lasting at
least a minimum duration. The detector is sans-I/O: feed it scans of every cell's voltage
(sampled at ≥ 1 Hz) and interval boundaries; it returns events and per-interval AE minutes.

Rules (all times are sample timestamps, epoch ms):

* **start / end** — an effect starts at the first sample above the trigger and ends at the
  first sample at or below it. Both edges are late by the same half sample period on
  average, so the duration ``end − start`` is unbiased.
* **minimum duration** — an effect shorter than ``min_duration_ms`` is noise (a spike) and
  is dropped; it never contributes AE minutes.
* **merge gap** — if a cell goes above the trigger again within ``merge_gap_ms`` of an end,
  both are one effect, and the short dip between them counts as AE time (conservative: CF4
  is proportional to AE minutes). An event is final once ``merge_gap_ms`` has passed.
* **missing samples during an effect** — a missing sample (``None``, or no scan at all) does
  not end an effect: up to ``max_missing_ms`` after the last sample above the trigger the
  cell is held in the effect (conservative). A longer gap ends the effect at
  ``last sample above trigger + max_missing_ms`` and marks the event ``data_gap``.
* **interval boundaries** — at :meth:`AnodeEffectDetector.close_interval` every open effect
  that is already confirmed (duration so far ≥ minimum) contributes its minutes up to the
  boundary to the closing interval, the rest to later intervals: an effect crossing a
  boundary is split at it. An open effect not yet confirmed at the boundary contributes
  nothing yet; once confirmed, its earlier minutes are carried into the interval in which it
  is confirmed. Summed over intervals, AE minutes always equal the sum of event durations.
  An effect is counted (``ae_count``) in the interval in which it is confirmed.

Defaults for ``min_duration_ms``, ``merge_gap_ms`` and ``max_missing_ms`` are plant
settings, not values from a standard; the ones used travel with every event and interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.methods.counters import Counter, CounterSpec, Raw
from protocols.methods.errors import MethodError
from protocols.methods.timeweighted import integrate

__all__ = [
    "AnodeDetection",
    "AnodeEffect",
    "AnodeEffectConfig",
    "AnodeEffectDetector",
    "AnodeInterval",
    "CellDays",
    "ControllerAeCounters",
    "ControllerAeDelta",
    "detect_anode_effects",
    "operating_cell_days",
]

MS_PER_MIN = 60_000.0
MS_PER_DAY = 86_400_000.0

IDLE, ACTIVE, PENDING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class AnodeEffectConfig:
    """What counts as an anode effect; recorded with every result."""

    trigger_v: float = 8.0  # industry convention (IAI survey, IPCC 2006 §4.4.2.4): 8 V
    min_duration_ms: int = 2_000  # plant setting: shorter excursions are noise
    merge_gap_ms: int = 10_000  # plant setting: re-triggers within this are one effect
    max_missing_ms: int = 10_000  # plant setting: hold an effect over gaps up to this

    def __post_init__(self) -> None:
        if self.min_duration_ms < 0 or self.merge_gap_ms < 0 or self.max_missing_ms < 0:
            raise MethodError("anode effect durations must be >= 0")


@dataclass(frozen=True, slots=True)
class AnodeEffect:
    """One anode effect on one cell."""

    cell: int
    start_ms: int
    end_ms: int
    peak_v: float
    trigger_v: float
    min_duration_ms: int
    merge_gap_ms: int
    merged: int = 0  # how many re-triggers were merged into this effect
    data_gap: bool = False  # ended by missing data, not by a sample below the trigger
    final: bool = True  # False for an effect still open at the end of a series

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def minutes(self) -> float:
        return (self.end_ms - self.start_ms) / MS_PER_MIN

    def to_dict(self) -> dict[str, object]:
        return {
            "cell": self.cell,
            "start": self.start_ms,
            "end": self.end_ms,
            "peak_v": self.peak_v,
            "trigger_v": self.trigger_v,
            "min_duration_ms": self.min_duration_ms,
            "merge_gap_ms": self.merge_gap_ms,
            "merged": self.merged,
            "data_gap": self.data_gap,
            "final": self.final,
        }


@dataclass(frozen=True, slots=True)
class AnodeInterval:
    """AE minutes and count attributed to one closed interval."""

    start_ms: int
    end_ms: int
    ae_minutes: float
    ae_count: int
    events: tuple[AnodeEffect, ...]  # events finalised during the interval
    trigger_v: float
    min_duration_ms: int


class AnodeEffectDetector:
    """Incremental detector over ``n_cells`` cells (agent form)."""

    __slots__ = (
        "_acc_ms",
        "_accounted",
        "_cfg",
        "_confirmed",
        "_count",
        "_end",
        "_events",
        "_gap",
        "_iv_start",
        "_last_seen",
        "_last_ts",
        "_merged",
        "_n",
        "_open",
        "_peak",
        "_start",
        "_state",
    )

    def __init__(
        self, n_cells: int, start_ms: int, config: AnodeEffectConfig | None = None
    ) -> None:
        if n_cells <= 0:
            raise MethodError("n_cells must be positive")
        self._cfg = config or AnodeEffectConfig()
        self._n = n_cells
        self._state = [IDLE] * n_cells
        self._start = [0] * n_cells
        self._end = [0] * n_cells
        self._peak = [0.0] * n_cells
        self._last_seen = [0] * n_cells  # last sample above trigger while in an effect
        self._accounted = [0] * n_cells
        self._confirmed = [False] * n_cells
        self._merged = [0] * n_cells
        self._gap = [False] * n_cells
        self._open: set[int] = set()
        self._iv_start = start_ms
        self._acc_ms = 0.0  # AE ms attributed to the open interval so far
        self._count = 0
        self._events: list[AnodeEffect] = []
        self._last_ts = start_ms

    @property
    def config(self) -> AnodeEffectConfig:
        return self._cfg

    # -- per-cell state machine ---------------------------------------------------------
    def _confirm(self, c: int, extent: int) -> None:
        if not self._confirmed[c] and extent - self._start[c] >= self._cfg.min_duration_ms:
            self._confirmed[c] = True
            self._count += 1

    def _finalise(self, c: int) -> AnodeEffect | None:
        st, en = self._start[c], self._end[c]
        self._state[c] = IDLE
        self._open.discard(c)
        self._confirm(c, en)
        if not self._confirmed[c]:
            return None  # a spike shorter than the minimum duration
        self._acc_ms += en - self._accounted[c]
        cfg = self._cfg
        ev = AnodeEffect(
            c,
            st,
            en,
            self._peak[c],
            cfg.trigger_v,
            cfg.min_duration_ms,
            cfg.merge_gap_ms,
            self._merged[c],
            self._gap[c],
        )
        self._events.append(ev)
        return ev

    def _timeouts(self, c: int, ts: int) -> AnodeEffect | None:
        cfg = self._cfg
        if self._state[c] == ACTIVE and ts - self._last_seen[c] > cfg.max_missing_ms:
            self._state[c] = PENDING
            self._end[c] = self._last_seen[c] + cfg.max_missing_ms
            self._gap[c] = True
            self._confirm(c, self._end[c])
        if self._state[c] == PENDING and ts - self._end[c] > cfg.merge_gap_ms:
            return self._finalise(c)
        return None

    def _sample(self, c: int, ts: int, v: float | None) -> AnodeEffect | None:
        st = self._state[c]
        ev = None
        if st != IDLE:
            ev = self._timeouts(c, ts)
            st = self._state[c]
        if v is None:
            return ev
        trig = self._cfg.trigger_v
        if st == IDLE:
            if v > trig:
                self._state[c] = ACTIVE
                self._start[c] = self._accounted[c] = self._last_seen[c] = ts
                self._peak[c] = v
                self._confirmed[c] = False
                self._merged[c] = 0
                self._gap[c] = False
                self._open.add(c)
                self._confirm(c, ts)
        elif st == ACTIVE:
            if v > trig:
                self._last_seen[c] = ts
                if v > self._peak[c]:
                    self._peak[c] = v
                self._confirm(c, ts)
            else:
                self._state[c] = PENDING
                self._end[c] = ts
                self._confirm(c, ts)
        elif v > trig:  # PENDING, re-triggered within the merge gap
            self._state[c] = ACTIVE
            self._last_seen[c] = ts
            self._merged[c] += 1
            if v > self._peak[c]:
                self._peak[c] = v
            self._confirm(c, ts)
        return ev

    # -- public -------------------------------------------------------------------------
    def update(self, ts_ms: int, voltages: Sequence[float | None]) -> list[AnodeEffect]:
        """One scan: every cell's voltage at ``ts_ms`` (``None`` = missing). Returns events
        that became final."""
        if ts_ms < self._last_ts:
            raise MethodError("scans must be in time order")
        if len(voltages) != self._n:
            raise MethodError(f"expected {self._n} voltages, got {len(voltages)}")
        self._last_ts = ts_ms
        out: list[AnodeEffect] = []
        trig = self._cfg.trigger_v
        state = self._state
        for c, v in enumerate(voltages):
            if state[c] == IDLE and (v is None or v <= trig):
                continue  # hot path: healthy cell
            ev = self._sample(c, ts_ms, v)
            if ev is not None:
                out.append(ev)
        return out

    def update_cell(self, cell: int, ts_ms: int, voltage: float | None) -> list[AnodeEffect]:
        """One cell's sample (for sparse per-cell polling); call :meth:`advance` regularly."""
        if ts_ms < self._last_ts:
            raise MethodError("samples must be in time order")
        self._last_ts = ts_ms
        ev = self._sample(cell, ts_ms, voltage)
        return [ev] if ev is not None else []

    def advance(self, ts_ms: int) -> list[AnodeEffect]:
        """Let time pass without samples: apply missing-data and merge-gap timeouts."""
        self._last_ts = max(self._last_ts, ts_ms)
        out: list[AnodeEffect] = []
        for c in sorted(self._open):
            ev = self._timeouts(c, ts_ms)
            if ev is not None:
                out.append(ev)
        return out

    def close_interval(self, boundary_ms: int) -> AnodeInterval:
        """Close [previous boundary, boundary_ms); call before feeding samples at/after it."""
        if boundary_ms < self._iv_start:
            raise MethodError("interval boundary before the interval start")
        self.advance(boundary_ms)
        cfg = self._cfg
        for c in sorted(self._open):
            if self._state[c] == ACTIVE:
                extent = min(boundary_ms, self._last_seen[c] + cfg.max_missing_ms)
            else:
                extent = self._end[c]
            self._confirm(c, extent)
            if self._confirmed[c] and extent > self._accounted[c]:
                self._acc_ms += extent - self._accounted[c]
                self._accounted[c] = extent
        iv = AnodeInterval(
            self._iv_start,
            boundary_ms,
            self._acc_ms / MS_PER_MIN,
            self._count,
            tuple(self._events),
            cfg.trigger_v,
            cfg.min_duration_ms,
        )
        self._iv_start = boundary_ms
        self._acc_ms = 0.0
        self._count = 0
        self._events = []
        return iv

    def open_effects(self, at_ms: int) -> list[AnodeEffect]:
        """Provisional events for effects still open at ``at_ms`` (``final=False``)."""
        cfg = self._cfg
        out = []
        for c in sorted(self._open):
            if self._state[c] == ACTIVE:
                end = min(at_ms, self._last_seen[c] + cfg.max_missing_ms)
            else:
                end = self._end[c]
            out.append(
                AnodeEffect(
                    c,
                    self._start[c],
                    end,
                    self._peak[c],
                    cfg.trigger_v,
                    cfg.min_duration_ms,
                    cfg.merge_gap_ms,
                    self._merged[c],
                    self._gap[c],
                    final=False,
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class AnodeDetection:
    """Whole-series result: final events, per-interval minutes, effects still open."""

    events: tuple[AnodeEffect, ...]
    intervals: tuple[AnodeInterval, ...]
    open_effects: tuple[AnodeEffect, ...]
    config: AnodeEffectConfig

    @property
    def ae_minutes(self) -> float:
        return sum(i.ae_minutes for i in self.intervals)

    @property
    def ae_count(self) -> int:
        return sum(i.ae_count for i in self.intervals)


def detect_anode_effects(
    scans: Iterable[tuple[int, Sequence[float | None]]],
    n_cells: int,
    start_ms: int,
    end_ms: int,
    interval_ms: int,
    config: AnodeEffectConfig | None = None,
) -> AnodeDetection:
    """Run the detector over time-ordered scans in [start_ms, end_ms) (pure form)."""
    if interval_ms <= 0 or end_ms <= start_ms:
        raise MethodError("need interval_ms > 0 and end_ms > start_ms")
    det = AnodeEffectDetector(n_cells, start_ms, config)
    events: list[AnodeEffect] = []
    intervals: list[AnodeInterval] = []
    boundary = start_ms + interval_ms
    for ts, volts in scans:
        if ts < start_ms:
            continue
        if ts >= end_ms:
            break
        while ts >= boundary:
            iv = det.close_interval(boundary)
            intervals.append(iv)
            events.extend(iv.events)
            boundary += interval_ms
        det.update(ts, volts)
    while boundary <= end_ms:
        iv = det.close_interval(boundary)
        intervals.append(iv)
        events.extend(iv.events)
        boundary += interval_ms
    return AnodeDetection(
        tuple(events), tuple(intervals), tuple(det.open_effects(end_ms)), det.config
    )


# -- pot-controller counters ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ControllerAeDelta:
    """AE count and minutes over one step of the pot controllers' cumulative counters."""

    ts_ms: int
    ae_count: float
    ae_minutes: float
    kinds: tuple[str, ...]  # unusual counter steps seen (rollover, reset, suspect, ...)


class ControllerAeCounters:
    """AE minutes from pot-controller counters: per cell a cumulative AE count and a
    cumulative AE-seconds register. Deltas use the counter rules (rollover, reset, glitch),
    so a controller restart never produces negative or spiking AE minutes."""

    __slots__ = ("_count", "_secs")

    def __init__(
        self,
        n_cells: int,
        count_spec: CounterSpec | None = None,
        seconds_spec: CounterSpec | None = None,
    ) -> None:
        self._count = [Counter(count_spec or CounterSpec(width_bits=16)) for _ in range(n_cells)]
        self._secs = [Counter(seconds_spec or CounterSpec(width_bits=32)) for _ in range(n_cells)]

    def update(
        self, ts_ms: int, counts: Sequence[Raw | None], seconds: Sequence[Raw | None]
    ) -> ControllerAeDelta:
        n = 0.0
        s = 0.0
        kinds: list[str] = []
        for ctr, raw in zip(self._count, counts, strict=True):
            if raw is None:
                continue
            st = ctr.update(ts_ms, raw)
            n += st.delta
            if st.kind not in ("ok", "first") and st.kind not in kinds:
                kinds.append(st.kind)
        for ctr, raw in zip(self._secs, seconds, strict=True):
            if raw is None:
                continue
            st = ctr.update(ts_ms, raw)
            s += st.delta
            if st.kind not in ("ok", "first") and st.kind not in kinds:
                kinds.append(st.kind)
        return ControllerAeDelta(ts_ms, n, s / 60.0, tuple(kinds))


# -- operating cell-days -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CellDays:
    """Operating cell-days over a period from a cells-in-operation signal."""

    cell_days: float
    covered_ms: int
    period_ms: int

    @property
    def coverage(self) -> float:
        return self.covered_ms / self.period_ms


def operating_cell_days(
    samples: Iterable[tuple[int, float | None]],
    start_ms: int,
    end_ms: int,
    *,
    max_gap_ms: int | None = None,
) -> CellDays:
    """Σ cells in operation × time, in cell-days: the step-held (sample-and-hold) integral of
    the cells-in-operation count, because the count changes in steps when cells are cut in
    or out. Time not covered (gaps beyond ``max_gap_ms``) is reported, not guessed."""
    r = integrate(samples, start_ms, end_ms, mode="step", max_gap_ms=max_gap_ms)
    return CellDays(r.integral_h / 24.0, r.covered_ms, end_ms - start_ms)
