"""Settings of a monthly record: everything besides the batches that the numbers depend on.

They are written into ``record.json`` (``"settings"``) so the offline verifier recomputes the
record from the batches and these settings alone. ``RecordSettings.from_dict(d).to_dict()``
round-trips exactly, and the verifier checks that it does.

Time: a month is the calendar month in the site's time zone (default ``Asia/Shanghai``):
``[local YYYY-MM-01 00:00, local next-month-01 00:00)`` converted to UTC epoch ms. The month
is cut into a grid of ``interval_s`` record intervals. A reading belongs to the interval that
contains its timestamp under ``interval_stamp``:

* ``"end"`` (default) — intervals are ``(t0, t0 + Δ]``: interval aggregates are stamped at
  the end of the interval they describe (the agent closes ``(start, end]`` intervals), so a
  reading stamped exactly at local midnight on the 1st belongs to the previous month;
* ``"start"`` — intervals are ``[t0, t0 + Δ)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocols.catalogue import Aggregation
from protocols.errors import MrvError
from protocols.ids import is_valid_id
from protocols.methods.anode_effect import AnodeEffectConfig
from protocols.methods.data_quality import CE_RANGE, SPECIFIC_DC_ENERGY_RANGE, VALID_FRACTION
from protocols.methods.gwp import DEFAULT_GWP_SET, gwp_set

__all__ = [
    "COMPUTATION_VERSION",
    "CounterSettings",
    "MonthWindow",
    "PfcSettings",
    "RecordError",
    "RecordSettings",
    "SubstitutionSettings",
    "month_window",
]

#: Bumped whenever protocols.record changes a number for the same input; written into the
#: record so a verifier knows which rules it must apply.
COMPUTATION_VERSION = 2
# 2: only key parameters (site catalogue + ``key_parameters``) are aggregated and substituted;
#    other reported ids go to ``signals`` (plain statistics); a catalogued parameter nobody
#    reported is ``not_measured`` (no value, no substitution) instead of substituted.

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_RULES = {a.value for a in Aggregation if a is not Aggregation.DERIVED}


class RecordError(MrvError):
    """Settings or input a record cannot be computed from (a usage/config error)."""

    reason = "record"


@dataclass(frozen=True, slots=True)
class MonthWindow:
    """A calendar month in a time zone as UTC epoch ms ``[start_ms, end_ms)``."""

    month: str
    timezone: str
    start_ms: int
    end_ms: int

    @property
    def days(self) -> float:
        """Length in days (28–31; a DST zone may give a fractional day)."""
        return (self.end_ms - self.start_ms) / 86_400_000.0

    def iso(self, ms: int) -> str:
        """Local ISO 8601 time with offset, e.g. ``2026-10-01T00:00:00+08:00``."""
        dt = datetime.fromtimestamp(ms / 1000.0, tz=ZoneInfo(self.timezone))
        return dt.isoformat(timespec="seconds")


def month_window(month: str, timezone: str = "Asia/Shanghai") -> MonthWindow:
    """The month ``YYYY-MM`` in ``timezone``; raises ``RecordError`` on bad input."""
    m = _MONTH_RE.match(str(month))
    if not m:
        raise RecordError(f"month must look like YYYY-MM, got {month!r}")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecordError(f"unknown time zone {timezone!r}") from None
    y, mo = int(m.group(1)), int(m.group(2))
    start = datetime(y, mo, 1, tzinfo=tz)
    end = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=tz)
    return MonthWindow(month, timezone, int(start.timestamp() * 1000), int(end.timestamp() * 1000))


def _num(name: str, v: Any, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise RecordError(f"settings.{name} must be a number, got {v!r}")
    if positive and v <= 0:
        raise RecordError(f"settings.{name} must be > 0, got {v!r}")
    return float(v)


@dataclass(frozen=True, slots=True)
class SubstitutionSettings:
    """Parameters of ``protocols.methods.data_quality.substitute`` (Part 75-style tiers)."""

    short_gap_max: int = 3  # intervals; longer gaps go to the look-back tiers
    lookback: int = 720  # valid intervals looked back (30 days of hours, §75.33)
    availability_threshold: float = 0.9  # below it: look-back maximum (SUB3)


@dataclass(frozen=True, slots=True)
class CounterSettings:
    """How to read one cumulative counter parameter (``protocols.methods.counters``)."""

    width_bits: int | None = None
    max_raw: int | None = None
    scale: float = 1.0
    max_rate_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class PfcSettings:
    """PFC method (``protocols.methods.pfc.pfc``) and its coefficient and GWP sets."""

    method: str = "slope"  # slope | china | tier1
    technology: str | None = "PFPB-M"
    coefficients: str = "ipcc2019"  # ipcc2006 | ipcc2019 | smelter
    gwp: str = DEFAULT_GWP_SET
    # smelter-specific coefficients (coefficients == "smelter")
    s_cf4: float | None = None
    f_c2f6_cf4: float | None = None
    measured_on: str | None = None


def _from(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise RecordError(f"settings.{where} must be an object")
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise RecordError(f"settings.{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return cls(**data)


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """All inputs of the monthly computation other than the batches."""

    site: str
    month: str
    timezone: str = "Asia/Shanghai"
    industry: str = "aluminium"
    interval_s: int = 3600
    interval_stamp: str = "end"
    valid_fraction: float = VALID_FRACTION
    #: expected sampling period per parameter (s); otherwise inferred (see compute module)
    sample_period_s: dict[str, float] = field(default_factory=dict)
    #: aggregation rule per parameter id, overriding the catalogue (uncatalogued ids default
    #: to ``time_weighted_mean``)
    aggregation: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # units of uncatalogued ids
    #: ids the site declares as key parameters beyond its catalogue (aggregated, substituted
    #: and flagged ``uncatalogued``); every other uncatalogued id is only a signal
    key_parameters: tuple[str, ...] = ()
    counters: dict[str, CounterSettings] = field(default_factory=dict)
    substitution: SubstitutionSettings = field(default_factory=SubstitutionSettings)
    pfc: PfcSettings = field(default_factory=PfcSettings)
    #: current efficiency (fraction) used for the Faraday production estimate
    faraday_ce: float = 0.93
    anode_effect_trigger_v: float = AnodeEffectConfig().trigger_v
    anode_effect_min_duration_ms: int = AnodeEffectConfig().min_duration_ms
    ce_range: tuple[float, float] = CE_RANGE
    specific_dc_energy_range: tuple[float, float] = SPECIFIC_DC_ENERGY_RANGE
    #: a batch whose clock is unsynced or off by more than this flags its intervals
    clock_max_offset_ms: float = 1000.0
    #: evidence reaches this far beyond both month ends (counter boundary readings)
    boundary_window_s: int = 3600

    def __post_init__(self) -> None:
        # accept plain mappings for the nested settings (as from YAML) and normalise them
        if any(isinstance(c, dict) for c in self.counters.values()):
            object.__setattr__(
                self,
                "counters",
                {
                    k: _from(CounterSettings, c, f"counters.{k}") if isinstance(c, dict) else c
                    for k, c in self.counters.items()
                },
            )
        for name, cls in (("substitution", SubstitutionSettings), ("pfc", PfcSettings)):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, _from(cls, getattr(self, name), name))
        for name in ("ce_range", "specific_dc_energy_range"):
            r = getattr(self, name)
            if not isinstance(r, list | tuple) or len(r) != 2:
                raise RecordError(f"settings.{name} must be [low, high]")
            object.__setattr__(self, name, (_num(name, r[0]), _num(name, r[1])))
        kp = self.key_parameters
        if isinstance(kp, str) or not isinstance(kp, list | tuple):
            raise RecordError("settings.key_parameters must be a list of parameter ids")
        for pid in kp:
            if not isinstance(pid, str) or not pid:
                raise RecordError(f"settings.key_parameters: {pid!r} is not a parameter id")
        object.__setattr__(self, "key_parameters", tuple(sorted(set(kp))))
        if not is_valid_id(self.site):
            raise RecordError(f"settings.site {self.site!r} is not a valid site id")
        window = month_window(self.month, self.timezone)  # validates both
        iv = self.interval_s
        if isinstance(iv, bool) or not isinstance(iv, int) or iv <= 0:
            raise RecordError(f"settings.interval_s must be a positive integer, got {iv!r}")
        if (window.end_ms - window.start_ms) % (iv * 1000):
            raise RecordError(
                f"settings.interval_s {iv} does not divide the month {self.month} evenly "
                "(use a divisor of one day, e.g. 60, 900 or 3600)"
            )
        if self.interval_stamp not in ("end", "start"):
            raise RecordError("settings.interval_stamp must be 'end' or 'start'")
        if not 0.0 < _num("valid_fraction", self.valid_fraction) <= 1.0:
            raise RecordError("settings.valid_fraction must be in (0, 1]")
        for pid, rule in self.aggregation.items():
            if rule not in _RULES:
                raise RecordError(
                    f"settings.aggregation.{pid}: {rule!r} is not one of {sorted(_RULES)}"
                )
        for pid, p in self.sample_period_s.items():
            _num(f"sample_period_s.{pid}", p, positive=True)
        if not 0.0 < _num("faraday_ce", self.faraday_ce) <= 1.0:
            raise RecordError("settings.faraday_ce must be a fraction in (0, 1], e.g. 0.93")
        gwp_set(self.pfc.gwp)  # raises MethodError for an unknown set
        if self.pfc.method not in ("slope", "china", "tier1"):
            raise RecordError("settings.pfc.method must be slope, china or tier1")

    @property
    def window(self) -> MonthWindow:
        return month_window(self.month, self.timezone)

    @property
    def interval_ms(self) -> int:
        return self.interval_s * 1000

    @property
    def n_intervals(self) -> int:
        w = self.window
        return (w.end_ms - w.start_ms) // self.interval_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form written into record.json."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "counters":
                v = {k: _plain(c) for k, c in sorted(v.items())}
            elif f.name in ("substitution", "pfc"):
                v = _plain(v)
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = dict(sorted(v.items()))
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Any) -> RecordSettings:
        """Settings from record.json or a settings file; raises ``RecordError``."""
        if not isinstance(data, dict):
            raise RecordError("settings must be an object")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise RecordError(f"settings: unknown field(s) {', '.join(sorted(unknown))}")
        d = dict(data)
        try:
            for name in ("counters", "sample_period_s", "aggregation", "units"):
                if name in d and not isinstance(d[name], dict):
                    raise RecordError(f"settings.{name} must be an object")
            return cls(**d)
        except TypeError as exc:
            raise RecordError(f"settings: {exc}") from None
        except ValueError as exc:  # MethodError from the methods
            raise RecordError(f"settings: {exc}") from None


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
