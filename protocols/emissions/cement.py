"""Cement clinker (CETS-AG-02.01-V01-2024, 水泥熟料): clinker process CO2 and fuel CO2.

Clinker process CO2 uses the clinker's measured CaO and MgO content net of non-carbonate
CaO/MgO (from non-carbonate substitute raw materials such as slag, fly ash or carbide slag)
where both contents are measured, else the guideline's default emission factor. Fuel CO2
covers kiln main-burner and calciner coal and every further fuel the site declares
(alternative fuels: their fossil quantity as a declared fuel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.emissions.defaults_cement import CEMENT_DEFAULTS
from protocols.emissions.formulas import clinker_co2, clinker_co2_ef
from protocols.emissions.fuels import FuelUse, fuel_sources, fuel_uses
from protocols.emissions.inputs import Input, Wanted
from protocols.emissions.source import Accounting, MonthContext, Source, flag

__all__ = ["DEFAULT_CEMENT_FUELS", "CementSettings", "account_cement"]

#: coal NCV and carbon content come from the site's coal laboratory where submitted
#: (``mrv-agent submit``, protocols.submission), else the guideline's fuel table
DEFAULT_CEMENT_FUELS = (
    FuelUse(
        "kiln_coal",
        "kiln_coal_t",
        "bituminous_coal",
        ncv_parameter="coal_ncv_gj_per_t",
        carbon_parameter="coal_carbon_tc_per_gj",
    ),
    FuelUse(
        "calciner_coal",
        "calciner_coal_t",
        "bituminous_coal",
        ncv_parameter="coal_ncv_gj_per_t",
        carbon_parameter="coal_carbon_tc_per_gj",
    ),
)


@dataclass(frozen=True, slots=True)
class CementSettings:
    """``settings.cement``: which parameters carry clinker, its CaO/MgO, and the fuels."""

    clinker_parameter: str = "clinker_t"
    cao_parameter: str = "clinker_cao_fraction"
    mgo_parameter: str = "clinker_mgo_fraction"
    cao_noncarbonate_parameter: str = "cao_noncarbonate_fraction"
    mgo_noncarbonate_parameter: str = "mgo_noncarbonate_fraction"
    fuels: tuple[FuelUse, ...] = DEFAULT_CEMENT_FUELS

    def __post_init__(self) -> None:
        object.__setattr__(self, "fuels", fuel_uses(self.fuels, "cement.fuels"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["fuels"] = [f.to_dict() for f in self.fuels]
        return out


def account_cement(ctx: MonthContext, settings: CementSettings) -> Accounting:
    acc = Accounting()
    q = ctx.resolve(Wanted("clinker_t", settings.clinker_parameter, "t"))
    if q is None:
        acc.flags.append(
            flag("clinker_co2_not_computed", f"no month value of {settings.clinker_parameter}")
        )
    else:
        cao = ctx.resolve(Wanted("cao", settings.cao_parameter, "fraction"))
        mgo = ctx.resolve(Wanted("mgo", settings.mgo_parameter, "fraction"))
        qv = float(q.value or 0.0)
        if cao is not None and mgo is not None:
            x0 = ctx.resolve(
                Wanted(
                    "cao_noncarbonate",
                    settings.cao_noncarbonate_parameter,
                    "fraction",
                    CEMENT_DEFAULTS["cao_noncarbonate"],
                )
            )
            y0 = ctx.resolve(
                Wanted(
                    "mgo_noncarbonate",
                    settings.mgo_noncarbonate_parameter,
                    "fraction",
                    CEMENT_DEFAULTS["mgo_noncarbonate"],
                )
            )
            assert x0 is not None and y0 is not None
            inputs: dict[str, Input] = {
                "clinker_t": q,
                "cao": cao,
                "mgo": mgo,
                "cao_noncarbonate": x0,
                "mgo_noncarbonate": y0,
            }
            co2 = clinker_co2(
                qv,
                float(cao.value or 0),
                float(mgo.value or 0),
                float(x0.value or 0),
                float(y0.value or 0),
            )
            method = "Q × ((CaO − CaO₀) × 44/56 + (MgO − MgO₀) × 44/40) (CETS-AG-02.01-V01-2024)"
        else:
            ef = ctx.resolve(Wanted("ef", None, "t CO2/t clinker", CEMENT_DEFAULTS["clinker_ef"]))
            assert ef is not None
            inputs = {"clinker_t": q, "ef": ef}
            co2 = clinker_co2_ef(qv, float(ef.value or 0))
            method = "Q × EF, guideline default EF (no measured CaO and MgO)"
        acc.sources.append(Source("clinker_co2", "clinker_co2", "CO2", co2, co2, method, inputs))
    fs, ff = fuel_sources(ctx, settings.fuels)
    acc.sources.extend(fs)
    acc.flags.extend(ff)
    return acc
