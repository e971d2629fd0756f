"""Resolving one emission input: the month's value or the guideline default, with its origin.

Every input of an emission source is ``{"value", "unit", "origin", "source"}``:

* ``origin`` (获取方式) — ``measured`` 实测值 (a metered key parameter), ``estimated`` 估算值
  (a metered parameter with substituted intervals), ``calculated`` 计算值 (derived from other
  parameters), ``default`` 缺省值 (the guideline's table);
* ``source`` (数据来源) — the parameter id (and what it rests on) or the table reference.

:class:`Resolver` tries an ordered list of :data:`Lookup` functions and takes the first that
answers; the record uses ``[month values, guideline default]``. Further evidence (lab, manual
and invoice values, per-site data-quality-control-plan priority) plugs in as more lookups
or a different order per input, without changing the industry modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from protocols.emissions.factors import Factor

__all__ = [
    "ORIGINS",
    "Input",
    "Lookup",
    "Origin",
    "ParameterValue",
    "Resolver",
    "Wanted",
    "default_lookup",
    "month_lookup",
    "parameter_values",
]

Origin = Literal["measured", "calculated", "estimated", "default", "lab", "manual", "invoice"]
ORIGINS: tuple[str, ...] = ("measured", "calculated", "estimated", "default")


@dataclass(frozen=True, slots=True)
class ParameterValue:
    """A month value of one parameter as the record has formed it."""

    id: str
    value: float | None
    unit: str | None
    origin: Origin
    source: str
    #: supporting documents (支撑材料) of a submitted value: ``{"sha256", "name", ...}``
    documents: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Input:
    """One resolved input; ``unrounded`` is set where the guideline's rounding changed it."""

    value: float | str | None
    unit: str | None
    origin: str
    source: str
    unrounded: float | None = None
    documents: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "unit": self.unit,
            "origin": self.origin,
            "source": self.source,
            "documents": [dict(d) for d in self.documents],
        }
        if self.unrounded is not None:
            out["unrounded"] = self.unrounded
        return out


@dataclass(frozen=True, slots=True)
class Wanted:
    """What an industry module asks for: an input name, the parameter that may carry it,
    the unit it needs (with the factor from the parameter's unit), the guideline default."""

    name: str
    parameter: str | None
    unit: str
    default: Factor | None = None
    #: multiply a parameter value in its own unit by this to get ``unit`` (e.g. Nm³ → 10⁴ Nm³)
    scale: Mapping[str, float] = field(default_factory=dict)


Lookup = Callable[[Wanted], Input | None]


def parameter_values(entries: Sequence[Mapping[str, Any]]) -> dict[str, ParameterValue]:
    """The record's parameter entries as :class:`ParameterValue` (origin from how each was
    formed: derived → calculated, substituted share → estimated, else measured)."""
    out: dict[str, ParameterValue] = {}
    for e in entries:
        pid = e["id"]
        if e.get("origin") in ("measured", "estimated", "calculated") and e.get("source"):
            # the record already said (protocols.record.submissions: a submitted lab value
            # is measured, with its report and documents)
            out[pid] = ParameterValue(
                pid,
                e.get("value"),
                e.get("unit"),
                e["origin"],
                e["source"],
                tuple(e.get("documents") or ()),
            )
            continue
        if e.get("aggregation") == "derived":
            inputs = ", ".join(e.get("inputs") or ())
            origin: Origin = "calculated"
            src = f"parameter {pid} ({e.get('method') or 'derived'}; from {inputs})"
        elif e.get("substituted_contribution"):
            origin = "estimated"
            src = f"parameter {pid} ({e.get('substituted_intervals', 0)} intervals substituted)"
        else:
            origin = "measured"
            src = f"parameter {pid}"
        out[pid] = ParameterValue(pid, e.get("value"), e.get("unit"), origin, src)
    return out


def month_lookup(values: Mapping[str, ParameterValue]) -> Lookup:
    """The month's value of the wanted parameter, converted to the wanted unit."""

    def look(w: Wanted) -> Input | None:
        pv = values.get(w.parameter or "")
        if pv is None or pv.value is None:
            return None
        k = 1.0 if pv.unit == w.unit or pv.unit is None else w.scale.get(pv.unit)
        if k is None:
            return None  # a unit the module cannot convert: fall through to the default
        return Input(pv.value * k, w.unit, pv.origin, pv.source, documents=pv.documents)

    return look


def default_lookup(w: Wanted) -> Input | None:
    """The guideline default, origin ``default``, source its table reference."""
    d = w.default
    if d is None:
        return None
    mark = "" if d.confirmed else " (unconfirmed)"
    return Input(d.value, d.unit, "default", d.ref + mark)


@dataclass(frozen=True, slots=True)
class Resolver:
    """First answer of ``lookups`` in order; ``None`` when nothing answers.

    ``plan`` (the site's data quality control plan, 数据质量控制计划) may name, per parameter id
    or input name, its own order of ``named`` lookups (e.g. ``["lab", "month", "default"]``:
    primary source, backup, guideline default); inputs the plan does not name use ``lookups``.
    """

    lookups: tuple[Lookup, ...]
    named: Mapping[str, Lookup] = field(default_factory=dict)
    plan: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __call__(self, w: Wanted) -> Input | None:
        order = self.plan.get(w.parameter or "") or self.plan.get(w.name)
        looks = self.lookups if order is None else tuple(self.named[k] for k in order)
        for look in looks:
            got = look(w)
            if got is not None:
                return got
        return None

    def __post_init__(self) -> None:
        for key, order in self.plan.items():
            unknown = [k for k in order if k not in self.named]
            if unknown:
                raise ValueError(
                    f"data quality control plan for {key}: unknown source(s) "
                    f"{', '.join(unknown)} (known: {', '.join(sorted(self.named))})"
                )

    @classmethod
    def for_month(cls, values: Mapping[str, ParameterValue]) -> Resolver:
        """The record's order: the month's parameter value, else the guideline default."""
        return cls((month_lookup(values), default_lookup))
