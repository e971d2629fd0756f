"""An emission source of the month and what an industry module returns.

A source is ``{"id", "kind", "gas", "t", "co2e_t", "method", "inputs"}`` (DESIGN.md,
"Emissions"); ``co2e_t`` equals the matching ``mrv-verify calc`` command on ``inputs``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from protocols.emissions.inputs import Input, ParameterValue, Resolver

__all__ = [
    "KINDS",
    "Accounting",
    "BalanceFlow",
    "MonthContext",
    "Source",
    "emissions_json",
    "flag",
]

Kind = Literal["anode_co2", "pfc", "fuel_co2", "clinker_co2", "carbonate_co2", "carbon_balance"]
KINDS: tuple[str, ...] = (
    "anode_co2",
    "pfc",
    "fuel_co2",
    "clinker_co2",
    "carbonate_co2",
    "carbon_balance",
)


def flag(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


@dataclass(frozen=True, slots=True)
class BalanceFlow:
    """One flow of a carbon balance with where its quantity and carbon fraction came from."""

    name: str
    quantity: float
    carbon_fraction: float
    origin: str
    source: str
    unit: str
    carbon_origin: str  # origin of the carbon fraction (``origin`` is the quantity's)
    #: supporting documents of the quantity and carbon fraction (submitted lab reports)
    documents: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "quantity": self.quantity,
            "unit": self.unit,
            "carbon_fraction": self.carbon_fraction,
            "origin": self.origin,
            "carbon_origin": self.carbon_origin,
            "source": self.source,
            "documents": [dict(d) for d in self.documents],
        }


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    kind: Kind
    gas: str
    t: float
    co2e_t: float
    method: str
    inputs: Mapping[str, Input] = field(default_factory=dict)
    flows_in: tuple[BalanceFlow, ...] = ()
    flows_out: tuple[BalanceFlow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        inputs: Any
        if self.kind == "carbon_balance":
            inputs = {
                "in": [f.to_dict() for f in self.flows_in],
                "out": [f.to_dict() for f in self.flows_out],
            }
        else:
            inputs = {k: v.to_dict() for k, v in self.inputs.items()}
        return {
            "id": self.id,
            "kind": self.kind,
            "gas": self.gas,
            "t": self.t,
            "co2e_t": self.co2e_t,
            "method": self.method,
            "inputs": inputs,
        }


@dataclass(frozen=True, slots=True)
class MonthContext:
    """What an industry module sees of the month: parameter values, the input resolver,
    the month's length and the anode effects the agents reported."""

    values: Mapping[str, ParameterValue]
    resolve: Resolver
    days: float
    start_ms: int
    end_ms: int
    anode_effects: tuple[Mapping[str, Any], ...] = ()

    def value(self, pid: str) -> float | None:
        pv = self.values.get(pid)
        return None if pv is None else pv.value


@dataclass(slots=True)
class Accounting:
    """An industry module's answer: sources, derived results, derived parameter values
    ``{id: (value, inputs, method)}`` and flags."""

    sources: list[Source] = field(default_factory=list)
    derived: dict[str, Any] = field(default_factory=dict)
    params: dict[str, tuple[float | None, list[str], str]] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)


def emissions_json(sources: list[Source]) -> dict[str, Any]:
    """``record.json``'s ``emissions``: the sources and their exactly summed CO2e."""
    return {
        "sources": [s.to_dict() for s in sources],
        "total_co2e_t": math.fsum(s.co2e_t for s in sources),
    }
