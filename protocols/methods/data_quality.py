"""Data quality: interval validity, monthly completeness, gaps, conservative substitution,
and cross-checks that flag but never change values.

Validity. An interval is valid when at least 80 % of its expected samples are present, in the
style of EU Implementing Regulation 2018/2066 (MRR) Art. 44(2), which treats an hourly (or
shorter reference period) average as valid when enough of its data points are available
(80 % is the threshold used throughout this project, DESIGN.md "Data quality").
Completeness of a month = valid intervals ÷ expected intervals.

Substitution. Invalid intervals are replaced by tiers in the style of US EPA 40 CFR 75.33
(missing-data substitution for continuous monitors), each a named rule:

=====================  =================================================================
rule                   when / what (``direction="high"``: higher values are conservative)
=====================  =================================================================
SUB1_NEIGHBOUR_MAX     gap ≤ ``short_gap_max`` intervals and availability ≥ 90 %: the
                       larger of the valid intervals just before and just after the gap.
                       §75.33(b)(1) uses their average; for a quantity that drives
                       emissions up we take the larger one, which is never less
                       conservative. (``direction="neutral"`` gives SUB1_NEIGHBOUR_AVG,
                       the literal Part 75 rule; ``"low"`` gives SUB1_NEIGHBOUR_MIN.)
SUB2_LOOKBACK_P90      longer gap, availability ≥ 90 %: the 90th percentile of the
                       look-back window (§75.33(b)(2) style; ``low``: 10th percentile).
SUB3_LOOKBACK_MAX      availability < 90 %: the maximum of the look-back window
                       (§75.33(b)(3)/(c) style; ``low``: minimum).
SUB4_FALLBACK          no valid data anywhere: the caller's fallback (e.g. the maximum
                       potential value, as Part 75 does); without one the gap stays None
                       with rule SUB0_UNSUBSTITUTED.
=====================  =================================================================

A gap with a valid neighbour on one side only uses that neighbour for SUB1. The look-back
window is the last ``lookback`` valid (never substituted) values before the gap, including
``history`` supplied by the caller (e.g. the previous month); if there are none, the first
``lookback`` valid values after the gap. Percentiles interpolate linearly between ranks
(Hyndman & Fan type 7, the numpy/Excel PERCENTILE.INC default). Availability is the
fraction of valid intervals in the series passed in (the month).

Every substitution reports its rule, value and intervals; the result reports the share of
the total that substituted data contributes.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

from protocols.methods.errors import MethodError

__all__ = [
    "CE_RANGE",
    "SPECIFIC_DC_ENERGY_RANGE",
    "VALID_FRACTION",
    "Completeness",
    "Flag",
    "Gap",
    "Substitution",
    "SubstitutionResult",
    "check_current_efficiency",
    "check_range",
    "check_specific_dc_energy",
    "completeness",
    "gap_spans",
    "interval_valid",
    "percentile",
    "substitute",
]

# EU MRR 2018/2066 Art. 44(2) style: a reference period is valid with ≥ 80 % of its data.
VALID_FRACTION = 0.8
# 40 CFR 75.33 switches to the more conservative tiers when monitor data availability
# falls below 90 %.
AVAILABILITY_THRESHOLD = 0.9
# Plausible current efficiency of modern prebake potlines, 88–97 % (typical 92–96 %,
# Grjotheim & Kvande 1993; IAI energy statistics); outside means a data problem.
CE_RANGE = (0.88, 0.97)
# Plausible specific DC energy, kWh/kg Al: modern cells run ~12.5–14.5 kWh/kg; 12.0–15.5
# leaves margin for old Søderberg lines and the best cells (IAI primary aluminium energy
# intensity statistics). Outside means metering or production data is wrong.
SPECIFIC_DC_ENERGY_RANGE = (12.0, 15.5)


def interval_valid(count: int, expected: int, threshold: float = VALID_FRACTION) -> bool:
    """True when ``count`` ≥ ``threshold`` × ``expected`` (an interval expecting nothing is
    not valid: there is nothing to evidence it)."""
    if expected <= 0:
        return False
    return count >= threshold * expected - 1e-9


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of invalid intervals [start_index, end_index)."""

    start_index: int
    end_index: int

    @property
    def length(self) -> int:
        return self.end_index - self.start_index


def gap_spans(valid: Sequence[bool]) -> list[Gap]:
    """Runs of consecutive invalid intervals."""
    # one byte per interval (1 = valid), runs found by C-speed ``bytes.find``
    b = bytes(map(bool, valid))
    n = len(b)
    gaps: list[Gap] = []
    find = b.find
    i = find(b"\0")
    while i >= 0:
        j = find(b"\1", i)
        if j < 0:
            gaps.append(Gap(i, n))
            break
        gaps.append(Gap(i, j))
        i = find(b"\0", j)
    return gaps


@dataclass(frozen=True, slots=True)
class Completeness:
    """Valid ÷ expected intervals and the gaps."""

    expected_intervals: int
    valid_intervals: int
    completeness: float
    gaps: tuple[Gap, ...]


def completeness(valid: Sequence[bool]) -> Completeness:
    n = len(valid)
    v = sum(map(bool, valid))
    return Completeness(n, v, v / n if n else 0.0, tuple(gap_spans(valid)))


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolation percentile (type 7) of a non-empty sequence, p in [0, 100]."""
    if not values:
        raise MethodError("percentile of no values")
    if not 0 <= p <= 100:
        raise MethodError("percentile must be in [0, 100]")
    xs = sorted(values)
    h = (len(xs) - 1) * p / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


@dataclass(frozen=True, slots=True)
class Substitution:
    """One gap filled by one rule."""

    start_index: int
    end_index: int
    rule: str
    value: float | None
    basis: tuple[float, ...]  # the values the rule was applied to (neighbours or look-back)

    @property
    def intervals(self) -> int:
        return self.end_index - self.start_index

    @property
    def contribution(self) -> float:
        """Substituted amount for a summed quantity: value × intervals."""
        return 0.0 if self.value is None else self.value * self.intervals


@dataclass(frozen=True, slots=True)
class SubstitutionResult:
    """Series with gaps filled, and how."""

    values: tuple[float | None, ...]
    substitutions: tuple[Substitution, ...]
    availability: float
    direction: str
    total: float  # sum of the filled series (None entries excluded)
    substituted_total: float
    contribution: float  # substituted_total / total (0 when total is 0)
    substituted_intervals: int


_RULES = {
    "high": ("SUB1_NEIGHBOUR_MAX", "SUB2_LOOKBACK_P90", "SUB3_LOOKBACK_MAX"),
    "neutral": ("SUB1_NEIGHBOUR_AVG", "SUB2_LOOKBACK_P90", "SUB3_LOOKBACK_MAX"),
    "low": ("SUB1_NEIGHBOUR_MIN", "SUB2_LOOKBACK_P10", "SUB3_LOOKBACK_MIN"),
}


def substitute(
    values: Sequence[float | None],
    *,
    valid: Sequence[bool] | None = None,
    direction: str = "high",
    short_gap_max: int = 3,
    lookback: int = 720,
    history: Sequence[float] = (),
    availability_threshold: float = AVAILABILITY_THRESHOLD,
    fallback: float | None = None,
) -> SubstitutionResult:
    """Fill invalid intervals conservatively (see the module docstring for the rules).

    ``values[i]`` is interval i's value; it is invalid when ``valid[i]`` is False or, without
    ``valid``, when it is None or not finite. ``lookback`` defaults to 720 intervals (30 days
    of hours, the §75.33 look-back length).
    """
    if direction not in _RULES:
        raise MethodError(f"direction must be high, neutral or low, got {direction!r}")
    if short_gap_max < 0 or lookback <= 0:
        raise MethodError("short_gap_max must be >= 0 and lookback > 0")
    n = len(values)
    if valid is None:
        ok = [v is not None and math.isfinite(v) for v in values]
    else:
        if len(valid) != n:
            raise MethodError("valid and values differ in length")
        if None in values:
            ok = [bool(x) and v is not None for x, v in zip(valid, values, strict=True)]
        else:
            ok = list(map(bool, valid))
    r1, r2, r3 = _RULES[direction]
    availability = (sum(ok) / n) if n else 0.0
    # every invalid interval lies in a gap and is overwritten below
    out: list[float | None] = list(values)
    hist = [float(h) for h in history if h is not None and math.isfinite(h)]
    subs: list[Substitution] = []
    vidx = list(compress(range(n), ok))
    vval = list(map(float, compress(values, ok)))  # type: ignore[arg-type]
    for g in gap_spans(ok):
        pos = bisect_left(vidx, g.start_index)  # valid values before the gap: vval[:pos]
        before = vval[max(0, pos - lookback) : pos]
        after = vval[pos : pos + lookback]
        window = (hist + before)[-lookback:] or after
        rule: str
        basis: tuple[float, ...]
        val: float | None
        if (
            availability >= availability_threshold
            and g.length <= short_gap_max
            and (before or after)
        ):
            nb = tuple(x for x in (before[-1:] + after[:1]))
            basis = nb
            rule = r1
            if direction == "high":
                val = max(nb)
            elif direction == "low":
                val = min(nb)
            else:
                val = sum(nb) / len(nb)
        elif window:
            basis = tuple(window)
            if availability >= availability_threshold:
                rule = r2
                val = percentile(window, 10.0 if direction == "low" else 90.0)
            else:
                rule = r3
                val = min(window) if direction == "low" else max(window)
        elif fallback is not None:
            rule, val, basis = "SUB4_FALLBACK", float(fallback), ()
        else:
            rule, val, basis = "SUB0_UNSUBSTITUTED", None, ()
        for i in range(g.start_index, g.end_index):
            out[i] = val
        subs.append(Substitution(g.start_index, g.end_index, rule, val, basis))
    total = sum(v for v in out if v is not None)
    sub_total = sum(s.contribution for s in subs)
    return SubstitutionResult(
        values=tuple(out),
        substitutions=tuple(subs),
        availability=availability,
        direction=direction,
        total=total,
        substituted_total=sub_total,
        contribution=(sub_total / total) if total else 0.0,
        substituted_intervals=sum(s.intervals for s in subs),
    )


# -- cross-checks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flag:
    """A cross-check that failed: reported on the record, the value itself is untouched."""

    code: str
    value: float
    low: float
    high: float
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "message": self.message,
        }


def check_range(code: str, value: float, low: float, high: float, what: str = "") -> Flag | None:
    """A flag when ``value`` is outside [low, high] (or not finite); None when plausible."""
    if math.isfinite(value) and low <= value <= high:
        return None
    label = what or code
    return Flag(code, value, low, high, f"{label} {value:.4g} outside [{low:g}, {high:g}]")


def check_current_efficiency(
    implied_ce: float, low: float = CE_RANGE[0], high: float = CE_RANGE[1]
) -> Flag | None:
    """Faraday vs measured metal: implied current efficiency outside 88–97 %."""
    return check_range("implied_ce_out_of_range", implied_ce, low, high, "implied CE")


def check_specific_dc_energy(
    kwh_per_kg: float,
    low: float = SPECIFIC_DC_ENERGY_RANGE[0],
    high: float = SPECIFIC_DC_ENERGY_RANGE[1],
) -> Flag | None:
    """Specific DC energy outside the plausible 12.0–15.5 kWh/kg."""
    return check_range(
        "specific_dc_energy_out_of_range", kwh_per_kg, low, high, "specific DC energy kWh/kg"
    )
