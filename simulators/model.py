"""What every plant model shares: a fixed plant-time step, seeded noise and integrated totals.

Models are pure: given the seed and a plant instant they return the same values whatever order
and however often they are asked. Instantaneous signals are piecewise constant over fixed
steps of plant time and come from a hash of (seed, stream, step), so any step can be evaluated
on its own. Totals (energy, production) are exact integrals of those signals, accumulated step
by step from the model's origin and kept, so a total at any past or future instant is one
lookup plus a partial step. Operational events (stops, curtailments, anode effects) are drawn
in time order from per-stream generators, so they too are independent of the read pattern.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["STEP_MS", "Event", "EventStream", "SteppedModel", "noise", "step_rng", "uniform"]

STEP_MS = 60_000  # one plant minute: fine enough for MRV, cheap enough for a month at 15000x
_MASK = (1 << 64) - 1


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def uniform(*key: int) -> float:
    """A uniform number in [0, 1) that depends only on the integer key."""
    h = 0x2545F4914F6CDD1D
    for part in key:
        h = _splitmix(h ^ (part & _MASK))
    return (h >> 11) / float(1 << 53)


def step_rng(*key: int) -> random.Random:
    """A generator seeded only by the key: many draws for one step (e.g. every cell) cheaply."""
    h = 0x2545F4914F6CDD1D
    for part in key:
        h = _splitmix(h ^ (part & _MASK))
    return random.Random(h)


def noise(*key: int) -> float:
    """A standard normal number that depends only on the integer key (Box–Muller)."""
    u1 = uniform(*key, 1) or 1e-12
    u2 = uniform(*key, 2)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@dataclass(frozen=True)
class Event:
    """An operational episode in plant time [start_ms, end_ms) with a magnitude."""

    start_ms: int
    end_ms: int
    size: float


class EventStream:
    """Episodes drawn in time order from one seeded generator, extended on demand.

    ``draw(rng, after_ms)`` returns the next event starting after ``after_ms``.
    """

    def __init__(self, seed: int, draw: Callable[[random.Random, int], Event], origin_ms: int):
        self._rng = random.Random(seed)
        self._draw = draw
        self._last_ms = origin_ms
        self.events: list[Event] = []
        self._starts: list[int] = []

    def extend_to(self, t_ms: int) -> None:
        while self._last_ms <= t_ms:
            ev = self._draw(self._rng, self._last_ms)
            self.events.append(ev)
            self._starts.append(ev.start_ms)
            self._last_ms = max(ev.end_ms, ev.start_ms + 1)

    def active(self, t_ms: int) -> Event | None:
        self.extend_to(t_ms)
        i = bisect_right(self._starts, t_ms) - 1
        if i >= 0 and t_ms < self.events[i].end_ms:
            return self.events[i]
        return None

    def started_by(self, t_ms: int) -> list[Event]:
        self.extend_to(t_ms)
        return self.events[: bisect_right(self._starts, t_ms)]

    def overlapping(self, a_ms: int, b_ms: int) -> list[Event]:
        """Events with some part inside [a_ms, b_ms)."""
        self.extend_to(b_ms)
        hi = bisect_right(self._starts, b_ms - 1)
        out = []
        for ev in reversed(self.events[:hi]):  # disjoint and in order: stop at the first miss
            if ev.end_ms <= a_ms:
                break
            out.append(ev)
        out.reverse()
        return out


def step_aligned(rng: random.Random, after_ms: int, mean_gap_h: float, dur_h: tuple[float, float],
                 size: tuple[float, float]) -> Event:  # fmt: skip
    """A stop or dip starting and ending on step boundaries (operators act on minutes)."""
    gap = rng.expovariate(1.0 / (mean_gap_h * 3_600_000))
    start = (after_ms + int(gap)) // STEP_MS * STEP_MS + STEP_MS
    dur = max(1, round(rng.uniform(*dur_h) * 60)) * STEP_MS
    return Event(start, start + dur, rng.uniform(*size))


class SteppedModel:
    """Signals constant over each step; totals integrated exactly from the origin.

    Subclasses give ``signals(k)`` (a dict of instantaneous values for step k) and
    ``TOTALS`` mapping a total's name to the per-hour signal it integrates.
    """

    TOTALS: dict[str, str] = {}

    def __init__(self, seed: int, origin_ms: int) -> None:
        self.seed = seed
        self.origin_ms = origin_ms
        self.grid0_ms = origin_ms // STEP_MS * STEP_MS  # steps sit on whole plant minutes
        self.initial: dict[str, float] = {}
        self._cum: dict[str, array[float]] = {name: array("d", [0.0]) for name in self.TOTALS}

    # -- to be provided by each plant ----------------------------------------------------
    def signals(self, k: int) -> dict[str, float]:
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------
    def step_of(self, t_ms: int) -> int:
        return max(0, (t_ms - self.grid0_ms) // STEP_MS)

    def step_start(self, k: int) -> int:
        return self.grid0_ms + k * STEP_MS

    def _extend(self, k: int) -> None:
        """Make sure cumulative totals at the start of steps 0..k are known."""
        first = next(iter(self._cum.values()), None)
        if first is None:
            return
        while len(first) <= k:
            j = len(first) - 1
            sig = self.signals(j)
            for name, source in self.TOTALS.items():
                arr = self._cum[name]
                arr.append(arr[-1] + self.step_increment(name, source, j, sig))

    def step_increment(self, total: str, source: str, k: int, sig: dict[str, float]) -> float:
        """How much a total grows over the whole of step k."""
        return sig[source] * STEP_MS / 3_600_000

    def partial_increment(
        self, total: str, source: str, k: int, sig: dict[str, float], t_ms: int
    ) -> float:
        """How much a total grows from the start of step k to t_ms (inside step k)."""
        return sig[source] * (t_ms - self.step_start(k)) / 3_600_000

    def _cumulative(self, name: str, t_ms: int) -> float:
        k = self.step_of(t_ms)
        self._extend(k)
        part = self.partial_increment(name, self.TOTALS[name], k, self.signals(k), t_ms)
        return self._cum[name][k] + part

    def total(self, name: str, t_ms: int) -> float:
        """A cumulative total at t_ms, counted from the model's origin (plus its initial value)."""
        t_ms = max(t_ms, self.origin_ms)
        since_origin = self._cumulative(name, t_ms) - self._cumulative(name, self.origin_ms)
        return self.initial.get(name, 0.0) + since_origin

    def value(self, name: str, t_ms: int) -> float:
        """Any quantity by name at t_ms: a total or an instantaneous signal."""
        if name in self.TOTALS:
            return self.total(name, t_ms)
        return self.signals(self.step_of(max(t_ms, self.origin_ms)))[name]

    def truth(self, t_ms: int) -> dict[str, object]:
        """Ground truth since the origin, for tests and the demo's cross-checks."""
        return {
            "origin_ms": self.origin_ms,
            "t_ms": t_ms,
            "totals": {n: self.total(n, t_ms) - self.initial.get(n, 0.0) for n in self.TOTALS},
        }
