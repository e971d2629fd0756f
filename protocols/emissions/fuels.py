"""Fuel combustion CO2 for every fuel a site declares (all three guidelines' fuel equation).

A site declares each fuel as ``{"id", "parameter", "fuel"}``: the key parameter carrying the
month's quantity and the row of :data:`~protocols.emissions.defaults_fuels.FUELS` whose
defaults apply where no measured NCV / carbon content / oxidation is available (optional
``ncv_parameter``, ``carbon_parameter``, ``oxidation_parameter`` name parameters that carry
them; laboratory results plug into the resolver).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocols.emissions.defaults_fuels import FUELS
from protocols.emissions.formulas import fuel_co2
from protocols.emissions.inputs import Input, Wanted
from protocols.emissions.source import MonthContext, Source, flag
from protocols.errors import MrvError

__all__ = ["QUANTITY_SCALE", "FuelUse", "fuel_sources", "fuel_uses"]

#: parameter unit → factor to the fuel table's quantity unit
QUANTITY_SCALE: dict[str, dict[str, float]] = {
    "t": {"t": 1.0, "kt": 1000.0},
    "10^4 Nm3": {"Nm³": 1e-4, "Nm3": 1e-4, "10^4 Nm3": 1.0},
}


@dataclass(frozen=True, slots=True)
class FuelUse:
    """One fuel the site burns, and where its quantity (and properties) come from."""

    id: str
    parameter: str
    fuel: str
    ncv_parameter: str | None = None
    carbon_parameter: str | None = None
    oxidation_parameter: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The settings form: the fields that are set."""
        return {k: v for k in self.__dataclass_fields__ if (v := getattr(self, k)) is not None}


def fuel_uses(data: Any, where: str) -> tuple[FuelUse, ...]:
    """Parse a settings list of fuels; a bad entry raises an error naming field and fix."""
    if data is None:
        return ()
    if isinstance(data, str) or not isinstance(data, list | tuple):
        raise MrvError(f"settings.{where} must be a list of {{id, parameter, fuel}}")
    out = []
    for i, d in enumerate(data):
        if isinstance(d, FuelUse):
            out.append(d)
            continue
        if not isinstance(d, dict) or not {"id", "parameter", "fuel"} <= set(d):
            raise MrvError(f"settings.{where}[{i}] needs id, parameter and fuel")
        if d["fuel"] not in FUELS:
            raise MrvError(
                f"settings.{where}[{i}].fuel {d['fuel']!r} is not one of {', '.join(FUELS)}"
            )
        try:
            out.append(FuelUse(**d))
        except TypeError as exc:
            raise MrvError(f"settings.{where}[{i}]: {exc}") from None
    return tuple(out)


def fuel_sources(
    ctx: MonthContext, fuels: Sequence[FuelUse]
) -> tuple[list[Source], list[dict[str, Any]]]:
    """One ``fuel_co2`` source per declared fuel whose quantity the month has."""
    sources: list[Source] = []
    flags: list[dict[str, Any]] = []
    for f in fuels:
        d = FUELS[f.fuel]
        q = ctx.resolve(Wanted("quantity", f.parameter, d.unit, None, QUANTITY_SCALE[d.unit]))
        if q is None:
            flags.append(
                flag(
                    "fuel_co2_not_computed",
                    f"fuel {f.id}: no month value of {f.parameter}",
                    source=f"fuel_co2:{f.id}",
                )
            )
            continue
        ncv = ctx.resolve(Wanted("ncv", f.ncv_parameter, d.ncv.unit, d.ncv))
        cc = ctx.resolve(Wanted("carbon_content", f.carbon_parameter, "t C/GJ", d.carbon_content))
        of = ctx.resolve(Wanted("oxidation", f.oxidation_parameter, "fraction", d.oxidation))
        assert ncv is not None and cc is not None and of is not None  # defaults always answer
        inputs: dict[str, Input] = {
            "quantity": q,
            "ncv": ncv,
            "carbon_content": cc,
            "oxidation": of,
        }
        co2 = fuel_co2(*(float(inputs[k].value or 0.0) for k in inputs))
        sources.append(
            Source(
                id=f"fuel_co2:{f.id}",
                kind="fuel_co2",
                gas="CO2",
                t=co2,
                co2e_t=co2,
                method=f"FC × NCV × CC × OF × 44/12 ({d.name_zh} {d.name_en})",
                inputs=inputs,
            )
        )
    return sources, flags
