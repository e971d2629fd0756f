"""Iron and steel (CETS-AG-03.01-V01-2024, 钢铁): carbon mass balance per process and for the
enterprise.

CO2 = (Σ carbon in − Σ carbon out) × 44/12. Per process (coking, sintering, ironmaking,
steelmaking) the by-product gases appear as outputs of the process that makes them; for the
enterprise, gases used internally stay inside the balance and only exported gas, products
and by-products sold leave it. The enterprise balance is the emission source (the per-process
balances are shown beside it in ``derived.carbon_balance_by_process`` and are not added, so
nothing is counted twice). A flow whose quantity the month lacks is left out and flagged;
carbon fractions come from the month (a parameter) or the defaults table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols.emissions.defaults_steel import STEEL_CARBON
from protocols.emissions.formulas import CarbonFlow, carbon_balance_co2
from protocols.emissions.fuels import QUANTITY_SCALE
from protocols.emissions.inputs import Wanted
from protocols.emissions.source import Accounting, BalanceFlow, MonthContext, Source, flag
from protocols.errors import MrvError

__all__ = ["DEFAULT_BALANCES", "SteelSettings", "account_steel"]

_GAS = "10^4 Nm3"


def _f(name: str, parameter: str, carbon: str, lab: str | None = None) -> dict[str, str]:
    """A flow; ``lab`` names the parameter of its laboratory carbon content (submitted with
    ``mrv-agent submit``), used where the month has one, else the defaults table."""
    out = {"name": name, "parameter": parameter, "carbon": carbon}
    if lab is not None:
        out["carbon_parameter"] = lab
    return out


#: balance → {"in": flows, "out": flows}; a flow names its quantity parameter and its row of
#: ``STEEL_CARBON``
DEFAULT_BALANCES: dict[str, dict[str, list[dict[str, str]]]] = {
    "coking": {
        "in": [_f("coking_coal", "coking_coal_t", "coking_coal")],
        "out": [
            _f("coke", "coke_produced_t", "coke"),
            _f("coke_oven_gas", "coke_oven_gas_nm3", "coke_oven_gas"),
            _f("tar", "tar_t", "tar"),
            _f("crude_benzene", "crude_benzene_t", "crude_benzene"),
        ],
    },
    "sintering": {
        "in": [
            _f("coke_breeze", "sinter_coke_breeze_t", "coke"),
            _f("limestone", "limestone_t", "limestone"),
            _f("dolomite", "dolomite_t", "dolomite"),
        ],
        "out": [],
    },
    "ironmaking": {
        "in": [
            _f("coke", "coke_t", "coke", "coke_carbon_fraction"),
            _f("pci_coal", "pci_coal_t", "pci_coal", "pci_coal_carbon_fraction"),
        ],
        "out": [_f("hot_metal", "hot_metal_t", "hot_metal"), _f("bf_gas", "bf_gas_nm3", "bf_gas")],
    },
    "steelmaking": {
        "in": [
            _f("hot_metal", "hot_metal_t", "hot_metal"),
            _f("scrap", "scrap_t", "scrap"),
            _f("pig_iron", "pig_iron_purchased_t", "pig_iron"),
            _f("dri", "dri_t", "dri"),
            _f("electrodes", "electrodes_t", "electrodes"),
        ],
        "out": [
            _f("crude_steel", "crude_steel_t", "crude_steel"),
            _f("bof_gas", "bof_gas_nm3", "bof_gas"),
        ],
    },
    "enterprise": {
        "in": [
            _f("coking_coal", "coking_coal_t", "coking_coal"),
            _f("coke_purchased", "coke_purchased_t", "coke", "coke_carbon_fraction"),
            _f("pci_coal", "pci_coal_t", "pci_coal", "pci_coal_carbon_fraction"),
            _f("natural_gas", "natural_gas_nm3", "natural_gas"),
            _f("limestone", "limestone_t", "limestone"),
            _f("dolomite", "dolomite_t", "dolomite"),
            _f("electrodes", "electrodes_t", "electrodes"),
            _f("pig_iron", "pig_iron_purchased_t", "pig_iron"),
            _f("scrap", "scrap_t", "scrap"),
            _f("dri", "dri_t", "dri"),
        ],
        "out": [
            _f("crude_steel", "crude_steel_t", "crude_steel"),
            _f("coke_sold", "coke_sold_t", "coke"),
            _f("tar", "tar_t", "tar"),
            _f("crude_benzene", "crude_benzene_t", "crude_benzene"),
            _f("bf_gas_exported", "bf_gas_export_nm3", "bf_gas"),
            _f("coke_oven_gas_exported", "coke_oven_gas_export_nm3", "coke_oven_gas"),
            _f("bof_gas_exported", "bof_gas_export_nm3", "bof_gas"),
        ],
    },
}


@dataclass(frozen=True, slots=True)
class SteelSettings:
    """``settings.steel``: the balances (``DEFAULT_BALANCES`` unless the site declares its
    own: same shape; each flow may add ``carbon_parameter``)."""

    balances: dict[str, Any] = field(default_factory=lambda: DEFAULT_BALANCES)

    def __post_init__(self) -> None:
        b = self.balances
        if not isinstance(b, dict) or "enterprise" not in b:
            raise MrvError("settings.steel.balances must be an object with an 'enterprise' balance")
        for name, bal in b.items():
            if not isinstance(bal, dict) or set(bal) - {"in", "out"}:
                raise MrvError(f"settings.steel.balances.{name} must be {{in: [...], out: [...]}}")
            for side in ("in", "out"):
                for i, f in enumerate(bal.get(side, [])):
                    if not isinstance(f, dict) or not {"name", "parameter", "carbon"} <= set(f):
                        raise MrvError(
                            f"settings.steel.balances.{name}.{side}[{i}] needs name, parameter "
                            "and carbon"
                        )
                    if f["carbon"] not in STEEL_CARBON:
                        raise MrvError(
                            f"settings.steel.balances.{name}.{side}[{i}].carbon {f['carbon']!r} "
                            f"is not one of {', '.join(STEEL_CARBON)}"
                        )

    def to_dict(self) -> dict[str, Any]:
        return {"balances": self.balances}


def _balance(
    ctx: MonthContext, name: str, bal: dict[str, Any], flags: list[dict[str, Any]]
) -> Source:
    sides: dict[str, list[BalanceFlow]] = {"in": [], "out": []}
    for side in ("in", "out"):
        for f in bal.get(side, []):
            d = STEEL_CARBON[f["carbon"]]
            unit = _GAS if d.unit.endswith("Nm3") else "t"
            q = ctx.resolve(Wanted("quantity", f["parameter"], unit, None, QUANTITY_SCALE[unit]))
            if q is None:
                flags.append(
                    flag(
                        "balance_flow_missing",
                        f"carbon balance {name}: no month value of {f['parameter']} "
                        f"({side} flow {f['name']}); left out",
                        balance=name,
                        flow=f["name"],
                    )
                )
                continue
            c = ctx.resolve(Wanted("carbon_fraction", f.get("carbon_parameter"), d.unit, d))
            assert c is not None
            sides[side].append(
                BalanceFlow(
                    f["name"],
                    float(q.value or 0.0),
                    float(c.value or 0.0),
                    q.origin,
                    f"quantity: {q.source}; carbon: {c.source}",
                    unit,
                    c.origin,
                    (*q.documents, *c.documents),
                )
            )
    co2 = carbon_balance_co2(
        [CarbonFlow(x.name, x.quantity, x.carbon_fraction) for x in sides["in"]],
        [CarbonFlow(x.name, x.quantity, x.carbon_fraction) for x in sides["out"]],
    )
    return Source(
        id=f"carbon_balance:{name}",
        kind="carbon_balance",
        gas="CO2",
        t=co2,
        co2e_t=co2,
        method="(Σ in Q × C − Σ out Q × C) × 44/12 (CETS-AG-03.01-V01-2024)",
        flows_in=tuple(sides["in"]),
        flows_out=tuple(sides["out"]),
    )


def account_steel(ctx: MonthContext, settings: SteelSettings) -> Accounting:
    acc = Accounting()
    by_process: dict[str, Any] = {}
    for name, bal in settings.balances.items():
        if name == "enterprise":
            continue
        by_process[name] = _balance(ctx, name, bal, acc.flags).to_dict()
    acc.sources.append(_balance(ctx, "enterprise", settings.balances["enterprise"], acc.flags))
    acc.derived["carbon_balance_by_process"] = by_process
    return acc
