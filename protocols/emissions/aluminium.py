"""Aluminium smelting (CETS-AG-04.01-V01-2024, 铝冶炼行业): the month's derived results and
direct emissions from the month's parameter values.

Production is liquid aluminium (铝液产量, ``al_production_t``, tapped and weighed); where it
is not measured, the Faraday estimate stands in (flagged). Sources: anode CO2 from net anode
consumption (``anode_consumption_t`` ÷ production) with sulphur and ash content; PFC in the
guideline's China form by default (slope and Tier 1 computed beside it as cross-checks);
fuel CO2 for every fuel the site declares. AC electricity and AC kWh per tonne are
auxiliary parameters, never emissions. Faraday, implied current efficiency, AEM and the
specific-energy checks are the cross-checks of ``protocols.methods``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocols.emissions.defaults_aluminium import ALUMINIUM_DEFAULTS, ROUNDING
from protocols.emissions.formulas import anode_co2
from protocols.emissions.fuels import FuelUse, fuel_sources, fuel_uses
from protocols.emissions.inputs import Input, Wanted
from protocols.emissions.source import Accounting, MonthContext, Source, flag
from protocols.errors import MrvError
from protocols.methods.aem import aem as aem_method
from protocols.methods.anode_effect import AnodeEffectConfig
from protocols.methods.data_quality import (
    CE_RANGE,
    SPECIFIC_DC_ENERGY_RANGE,
    check_current_efficiency,
    check_specific_dc_energy,
)
from protocols.methods.errors import MethodError
from protocols.methods.faraday import (
    faraday_production,
    implied_current_efficiency,
    specific_dc_energy_kwh_per_kg,
)
from protocols.methods.gwp import DEFAULT_GWP_SET, gwp_set
from protocols.methods.pfc import PfcResult, smelter_specific_coefficients
from protocols.methods.pfc import pfc as pfc_method
from protocols.methods.rounding import round_half_up

__all__ = ["AluminiumSettings", "PfcSettings", "account_aluminium"]


@dataclass(frozen=True, slots=True)
class PfcSettings:
    """PFC method (``protocols.methods.pfc.pfc``) and its coefficient and GWP sets. The
    China guideline form is the default; ``technology``/``coefficients`` drive the slope
    cross-check (and the slope method when chosen)."""

    method: str = "china"  # china | slope | tier1
    technology: str | None = "PFPB-M"
    coefficients: str = "ipcc2019"  # ipcc2006 | ipcc2019 | smelter
    gwp: str = DEFAULT_GWP_SET  # AR5: CF4 6630 / C2F6 11100, as the 2024 guideline uses
    # smelter-specific coefficients (coefficients == "smelter")
    s_cf4: float | None = None
    f_c2f6_cf4: float | None = None
    measured_on: str | None = None


@dataclass(frozen=True, slots=True)
class AluminiumSettings:
    """``settings.aluminium``: everything the smelter's numbers depend on besides the data."""

    pfc: PfcSettings = field(default_factory=PfcSettings)
    #: current efficiency (fraction) used for the Faraday production estimate
    faraday_ce: float = 0.93
    anode_effect_trigger_v: float = AnodeEffectConfig().trigger_v
    anode_effect_min_duration_ms: int = AnodeEffectConfig().min_duration_ms
    ce_range: tuple[float, float] = CE_RANGE
    specific_dc_energy_range: tuple[float, float] = SPECIFIC_DC_ENERGY_RANGE
    #: fuels burnt on site (anode baking, casthouse): ``[{id, parameter, fuel}]``
    fuels: tuple[FuelUse, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.pfc, dict):
            try:
                object.__setattr__(self, "pfc", PfcSettings(**self.pfc))
            except TypeError as exc:
                raise MrvError(f"settings.aluminium.pfc: {exc}") from None
        object.__setattr__(self, "fuels", fuel_uses(self.fuels, "aluminium.fuels"))
        for name in ("ce_range", "specific_dc_energy_range"):
            r = getattr(self, name)
            if not isinstance(r, list | tuple) or len(r) != 2:
                raise MrvError(f"settings.aluminium.{name} must be [low, high]")
            object.__setattr__(self, name, (float(r[0]), float(r[1])))
        ce = self.faraday_ce
        if isinstance(ce, bool) or not isinstance(ce, int | float) or not 0.0 < ce <= 1.0:
            raise MrvError("settings.aluminium.faraday_ce must be a fraction in (0, 1], e.g. 0.93")
        gwp_set(self.pfc.gwp)  # raises MethodError for an unknown set
        if self.pfc.method not in ("slope", "china", "tier1"):
            raise MrvError("settings.aluminium.pfc.method must be china, slope or tier1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "pfc": {k: getattr(self.pfc, k) for k in PfcSettings.__dataclass_fields__},
            "faraday_ce": self.faraday_ce,
            "anode_effect_trigger_v": self.anode_effect_trigger_v,
            "anode_effect_min_duration_ms": self.anode_effect_min_duration_ms,
            "ce_range": list(self.ce_range),
            "specific_dc_energy_range": list(self.specific_dc_energy_range),
            "fuels": [f.to_dict() for f in self.fuels],
        }


def _rounded(inp: Input, places: int) -> Input:
    v = inp.value
    if not isinstance(v, float | int):
        return inp
    r = round_half_up(float(v), places)
    return Input(r, inp.unit, inp.origin, inp.source, None if r == v else float(v))


def account_aluminium(ctx: MonthContext, settings: AluminiumSettings) -> Accounting:
    """Derived results, emission sources and cross-check flags of a smelter's month."""
    acc = Accounting()
    flags, derived, params = acc.flags, acc.derived, acc.params
    days = ctx.days
    current = ctx.value("line_current_ka")
    cells = ctx.value("operating_cells")
    voltage = ctx.value("cell_voltage_avg_v")
    measured = ctx.value("al_production_t")
    dc = ctx.value("dc_energy_mwh")

    def attempt(what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (MethodError, MrvError, ValueError, ZeroDivisionError) as exc:
            flags.append(flag(f"{what}_not_computed", f"{what}: {exc}"))
            return None

    # Liquid aluminium: measured, and the Faraday estimate as a cross-check.
    prod: dict[str, Any] = {"measured_t": measured, "faraday": None, "implied_ce": None}
    far = None
    if current is not None and cells is not None:
        far = attempt(
            "faraday", lambda: faraday_production(current, settings.faraday_ce, cells, days)
        )
        prod["faraday"] = far.to_dict() if far is not None else None
    else:
        flags.append(flag("faraday_not_computed", "line_current_ka or operating_cells missing"))
    implied = None
    if measured is not None and current is not None and cells is not None:
        implied = attempt(
            "implied_ce", lambda: implied_current_efficiency(measured, current, cells, days)
        )
        prod["implied_ce"] = implied
        if implied is not None:
            f = check_current_efficiency(implied, *settings.ce_range)
            if f is not None:
                flags.append(f.to_dict())
    prod["ce_range"] = list(settings.ce_range)
    derived["production"] = prod
    params["al_production_faraday_t"] = (
        far.aluminium_t if far is not None else None,
        ["line_current_ka", "operating_cells"],
        "protocols.methods.faraday.faraday_production",
    )
    params["current_efficiency"] = (
        implied,
        ["al_production_t", "line_current_ka", "operating_cells"],
        "protocols.methods.faraday.implied_current_efficiency",
    )

    # Anode effects and AEM.
    start, end = ctx.start_ms, ctx.end_ms
    effects = ctx.anode_effects
    ev_minutes = math.fsum(
        (min(e["end"], end) - max(e["start"], start)) / 60_000.0 for e in effects
    )
    ev_count = sum(1 for e in effects if start <= e["start"] < end)
    ae_min = ctx.value("ae_minutes")
    ae_src = "parameter ae_minutes"
    if ae_min is None:
        ae_min, ae_src = ev_minutes, "anode_effect events"
    cell_days = ctx.value("operating_cell_days")
    cd_src = "parameter operating_cell_days"
    if cell_days is None and cells is not None:
        cell_days, cd_src = cells * days, "mean operating_cells × days"
    ae_count_p = ctx.value("ae_count")
    ae_count = round(ae_count_p) if ae_count_p is not None else ev_count
    aem_res = None
    if cell_days is not None:
        aem_res = attempt(
            "aem",
            lambda: aem_method(
                ae_min,
                cell_days,
                trigger_v=settings.anode_effect_trigger_v,
                min_duration_s=settings.anode_effect_min_duration_ms / 1000.0,
                ae_count=ae_count,
            ),
        )
    else:
        flags.append(flag("aem_not_computed", "no operating cell-days"))
    derived["aem"] = {
        **(aem_res.to_dict() if aem_res is not None else {"aem": None}),
        "sources": {"ae_minutes": ae_src, "cell_days": cd_src},
        "events": {"count": ev_count, "minutes_in_month": ev_minutes},
    }
    aem_value = aem_res.aem if aem_res is not None else None
    params["aem"] = (aem_value, ["ae_minutes", "operating_cell_days"], "protocols.methods.aem.aem")

    # Production input of the emission sources (rounded as the guideline reports it).
    prod_in: Input | None = None
    if measured is not None:
        pv = ctx.values["al_production_t"]
        prod_in = Input(measured, "t", pv.origin, pv.source)
    elif far is not None:
        prod_in = Input(
            far.aluminium_t, "t", "calculated", "Faraday estimate (al_production_faraday_t)"
        )
        flags.append(
            flag("pfc_on_faraday_production", "no measured metal: PFC uses the Faraday estimate")
        )
    if prod_in is not None:
        prod_in = _rounded(prod_in, ROUNDING["production_t"])

    # PFC by the configured method (China form by default), slope and Tier 1 beside it.
    p = settings.pfc
    pfc_res: PfcResult | None = None
    cross: dict[str, Any] = {}
    if prod_in is not None:
        mp = float(prod_in.value or 0.0)

        def run(method: str) -> PfcResult | None:
            coeffs: Any = p.coefficients
            if p.coefficients == "smelter":
                coeffs = attempt(
                    "pfc",
                    lambda: smelter_specific_coefficients(
                        p.s_cf4 or 0.0,
                        p.f_c2f6_cf4 or 0.0,
                        p.measured_on or "",
                        technology=p.technology,
                    ),
                )
                if coeffs is None:
                    return None
            return attempt(  # type: ignore[no-any-return]
                "pfc" if method == p.method else f"pfc_{method}",
                lambda: pfc_method(
                    method,
                    production_t=mp,
                    aem=aem_value,
                    technology=p.technology,
                    coefficients=coeffs,
                    gwp=p.gwp,
                ),
            )

        pfc_res = run(p.method)
        for other in ("china", "slope", "tier1"):
            if other != p.method:
                r = run(other)
                cross[other] = r.to_dict() if r is not None else None
    else:
        flags.append(flag("pfc_not_computed", "no metal production (measured or Faraday)"))
    derived["pfc"] = pfc_res.to_dict() if pfc_res is not None else None
    derived["pfc_cross_checks"] = cross
    for pid, attr in (("cf4_t", "cf4_t"), ("c2f6_t", "c2f6_t"), ("pfc_co2e_t", "co2e_t")):
        params[pid] = (
            getattr(pfc_res, attr) if pfc_res is not None else None,
            ["aem", "al_production_t"],
            "protocols.methods.pfc.pfc",
        )
    if pfc_res is not None and prod_in is not None:
        aem_in = (
            _rounded(Input(aem_value, "min/(cell·d)", "calculated", "parameter aem"), 2)
            if aem_value is not None
            else Input(None, "min/(cell·d)", "default", "not measured: EF defaults apply")
        )
        acc.sources.append(
            Source(
                id="pfc",
                kind="pfc",
                gas="CF4+C2F6",
                t=pfc_res.cf4_t + pfc_res.c2f6_t,
                co2e_t=pfc_res.co2e_t,
                method=f"PFC {pfc_res.method} ({pfc_res.coefficient_source}), GWP {pfc_res.gwp_set}",
                inputs={
                    "aem": aem_in,
                    "production_t": prod_in,
                    "method": Input(pfc_res.method, None, "default", "settings.aluminium.pfc"),
                    "gwp": Input(pfc_res.gwp_set, None, "default", pfc_res.gwp_source),
                },
            )
        )

    # Anode CO2: net anode consumption per tonne × production × (1 − S − A) × 44/12.
    anode_t = ctx.value("anode_consumption_t")
    if prod_in is not None and anode_t is not None and prod_in.value:
        pv = ctx.values["anode_consumption_t"]
        nc = Input(
            anode_t / float(prod_in.value),
            "t/t Al",
            "calculated",
            f"{pv.source} ({pv.origin}) / production_t",
        )
        s_in = ctx.resolve(
            Wanted(
                "sulphur", "anode_sulphur_fraction", "fraction", ALUMINIUM_DEFAULTS["anode_sulphur"]
            )
        )
        a_in = ctx.resolve(
            Wanted("ash", "anode_ash_fraction", "fraction", ALUMINIUM_DEFAULTS["anode_ash"])
        )
        assert s_in is not None and a_in is not None
        co2 = attempt(
            "anode_co2",
            lambda: anode_co2(
                float(nc.value or 0.0),
                float(prod_in.value or 0.0),
                float(s_in.value or 0.0),
                float(a_in.value or 0.0),
            ),
        )
        if co2 is not None:
            acc.sources.append(
                Source(
                    id="anode_co2",
                    kind="anode_co2",
                    gas="CO2",
                    t=co2,
                    co2e_t=co2,
                    method="NC × P × (1 − S − A) × 44/12 (CETS-AG-04.01-V01-2024)",
                    inputs={
                        "net_anode_t_per_t": nc,
                        "production_t": prod_in,
                        "sulphur": s_in,
                        "ash": a_in,
                    },
                )
            )
    else:
        flags.append(
            flag(
                "anode_co2_not_computed",
                "anode_co2: needs anode_consumption_t and production for the month",
            )
        )

    fs, ff = fuel_sources(ctx, settings.fuels)
    acc.sources.extend(fs)
    flags.extend(ff)

    # Specific energy: measured, and Faraday's 2.980 × V / CE; AC kWh/t auxiliary.
    se_measured = None
    if dc is not None and measured:
        se_measured = dc / measured  # MWh / t = kWh / kg
        f = check_specific_dc_energy(se_measured, *settings.specific_dc_energy_range)
        if f is not None:
            flags.append(f.to_dict())
    se_faraday = None
    if voltage is not None:
        lo, hi = settings.ce_range
        ce = implied if implied is not None and lo <= implied <= hi else settings.faraday_ce
        se_faraday = attempt("specific_energy", lambda: specific_dc_energy_kwh_per_kg(voltage, ce))
    derived["specific_energy"] = {
        "measured_kwh_per_kg": se_measured,
        "faraday_kwh_per_kg": se_faraday,
        "range": list(settings.specific_dc_energy_range),
    }
    params["specific_dc_energy_kwh_per_kg"] = (
        se_measured,
        ["dc_energy_mwh", "al_production_t"],
        "dc_energy_mwh / al_production_t",
    )
    ac = ctx.value("ac_energy_mwh")
    ac_per_t = ac * 1000.0 / measured if ac is not None and measured else None
    params["ac_kwh_per_t"] = (
        ac_per_t,
        ["ac_energy_mwh", "al_production_t"],
        "ac_energy_mwh × 1000 / al_production_t",
    )
    derived["auxiliary"] = {"ac_energy_mwh": ac, "ac_kwh_per_t": ac_per_t}
    return acc
