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
from protocols.emissions import (
    INDUSTRY_SETTINGS,
    AluminiumSettings,
    CementSettings,
    PfcSettings,
    SteelSettings,
    factor_table,
)
from protocols.errors import MrvError
from protocols.ids import is_valid_id
from protocols.industry import Industry, industry_of
from protocols.methods.data_quality import VALID_FRACTION

__all__ = [
    "COMPUTATION_VERSION",
    "AluminiumSettings",
    "CementSettings",
    "CounterSettings",
    "MonthWindow",
    "PfcSettings",
    "RecordError",
    "RecordSettings",
    "SteelSettings",
    "SubstitutionSettings",
    "month_window",
]

#: Bumped whenever protocols.record changes a number for the same input; written into the
#: record so a verifier knows which rules it must apply.
COMPUTATION_VERSION = 4  # 4: submissions, data quality plan, origin/source/documents
# 2: only key parameters (site catalogue + ``key_parameters``) are aggregated and substituted;
#    other reported ids go to ``signals`` (plain statistics); a catalogued parameter nobody
#    reported is ``not_measured`` (no value, no substitution) instead of substituted.
# 3: ``emissions`` (protocols.emissions, China 2024 guidelines); industry settings in their own
#    block (``settings.aluminium.pfc`` ...); PFC defaults to the China form with the
#    guideline's rounding; ``settings.emission_factors`` lists the defaults with references.

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
    #: the site industry's own block (only the site's industry is written)
    aluminium: AluminiumSettings = field(default_factory=AluminiumSettings)
    cement: CementSettings = field(default_factory=CementSettings)
    steel: SteelSettings = field(default_factory=SteelSettings)
    #: a batch whose clock is unsynced or off by more than this flags its intervals
    clock_max_offset_ms: float = 1000.0
    #: evidence reaches this far beyond both month ends (counter boundary readings)
    boundary_window_s: int = 3600
    #: the site's data quality control plan (数据质量控制计划): per parameter its primary
    #: source (``submitted`` or ``meter``), backup and default (protocols.record.submissions)
    data_quality_plan: dict[str, dict[str, str]] = field(default_factory=dict)

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
        if isinstance(self.substitution, dict):
            object.__setattr__(
                self, "substitution", _from(SubstitutionSettings, self.substitution, "substitution")
            )
        try:
            object.__setattr__(self, "industry", industry_of(self.industry).value)
        except ValueError as exc:
            raise RecordError(f"settings.industry: {exc}") from None
        for ind, cls in INDUSTRY_SETTINGS.items():
            v = getattr(self, ind.value)
            if isinstance(v, dict):
                object.__setattr__(self, ind.value, _block(cls, v, ind.value))
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
        from protocols.record.submissions import validate_plan

        object.__setattr__(self, "data_quality_plan", validate_plan(self.data_quality_plan))

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

    @property
    def industry_enum(self) -> Industry:
        return Industry(self.industry)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form written into record.json (only the site industry's block, and
        the defaults table it may use with references and ``confirmed`` flags)."""
        out: dict[str, Any] = {}
        own = self.industry
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _BLOCKS:
                if f.name != own:
                    continue
                v = v.to_dict()
            elif f.name == "counters":
                v = {k: _plain(c) for k, c in sorted(v.items())}
            elif f.name == "substitution":
                v = _plain(v)
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = dict(sorted(v.items()))
            out[f.name] = v
        out["emission_factors"] = factor_table(self.industry_enum)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> RecordSettings:
        """Settings from record.json or a settings file; raises ``RecordError``."""
        if not isinstance(data, dict):
            raise RecordError("settings must be an object")
        d = dict(data)
        factors = d.pop("emission_factors", None)
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - _MOVED
        if unknown:
            raise RecordError(f"settings: unknown field(s) {', '.join(sorted(unknown))}")
        moved = sorted(set(d) & _MOVED)
        if moved:
            raise RecordError(
                f"settings: {', '.join(moved)} moved into the industry block: write "
                f"aluminium: {{{moved[0]}: ...}}"
            )
        ind = d.get("industry", "aluminium")
        for block in _BLOCKS:
            if block in d and block != str(ind).strip().lower():
                raise RecordError(
                    f"settings.{block} given for a {ind} site: remove it or fix settings.industry"
                )
        try:
            for name in ("counters", "sample_period_s", "aggregation", "units"):
                if name in d and not isinstance(d[name], dict):
                    raise RecordError(f"settings.{name} must be an object")
            out = cls(**d)
        except TypeError as exc:
            raise RecordError(f"settings: {exc}") from None
        except ValueError as exc:  # MethodError from the methods
            raise RecordError(f"settings: {exc}") from None
        if factors is not None and factors != factor_table(out.industry_enum):
            raise RecordError(
                "settings.emission_factors differ from this version's defaults table "
                f"(computation version {COMPUTATION_VERSION})"
            )
        return out


_BLOCKS = frozenset(i.value for i in INDUSTRY_SETTINGS)
#: former flat fields, now in ``settings.aluminium``
_MOVED = frozenset(
    {
        "pfc",
        "faraday_ce",
        "anode_effect_trigger_v",
        "anode_effect_min_duration_ms",
        "ce_range",
        "specific_dc_energy_range",
    }
)


def _block(cls: type, data: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise RecordError(f"settings.{where}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise RecordError(f"settings.{where}: {exc}") from None
    except MrvError as exc:
        raise RecordError(str(exc)) from None
    except ValueError as exc:
        raise RecordError(f"settings.{where}: {exc}") from None


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
