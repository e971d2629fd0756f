"""PFC (CF4, C2F6) emissions from primary aluminium: slope method, China guideline, Tier 1.

Slope method (IPCC 2006 Vol 3 Ch 4 Eq. 4.26; US EPA 40 CFR 98.63 Eq. F-2 and F-4):

    E_CF4 (t)  = S_CF4 × AEM × MP (t) × 0.001
    E_C2F6 (t) = E_CF4 × F_C2F6/CF4

S_CF4 in (kg CF4/t Al)/(AE-min/cell-day), F_C2F6/CF4 in kg C2F6/kg CF4, AEM in AE-minutes
per cell-day, MP metal production in tonnes, 0.001 kg → t.

China guideline form (MEE 2024 GHG accounting and reporting guideline for aluminium smelting
enterprises): EF_CF4 = 0.143 × AEM (kg/t Al), EF_C2F6 = 0.1 × EF_CF4; where AEM is not
measured, defaults EF_CF4 = 0.034 and EF_C2F6 = 0.0034 kg/t Al; E = EF × MP / 1000.

Tier 1 (IPCC 2006 Vol 3 Ch 4 Eq. 4.25, Table 4.15): E = EF × MP / 1000 with technology
defaults, for when nothing about anode effects is known.

Every function returns a frozen :class:`PfcResult` naming method, coefficients, GWP set
and inputs, so a verifier can re-derive the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from protocols.methods.errors import MethodError, require_non_negative
from protocols.methods.gwp import DEFAULT_GWP_SET, gwp_set
from protocols.methods.rounding import round_half_up

__all__ = [
    "CHINA_C2F6_RATIO",
    "CHINA_DEFAULT_EF_C2F6",
    "CHINA_DEFAULT_EF_CF4",
    "CHINA_ROUNDING",
    "CHINA_SLOPE_CF4",
    "COEFFICIENT_TABLES",
    "TIER1_FACTORS",
    "Coefficient",
    "PfcResult",
    "SlopeCoefficients",
    "Technology",
    "Tier1Factors",
    "pfc",
    "pfc_china",
    "pfc_slope",
    "pfc_tier1",
    "slope_coefficients",
    "smelter_specific_coefficients",
]


class Technology(StrEnum):
    """Reduction cell technologies as named by IPCC 2006 / 2019 Refinement (Table 4.16)."""

    CWPB = "CWPB"  # centre-worked prebake (bar-broken feed, IPCC 2006 grouping)
    SWPB = "SWPB"  # side-worked prebake
    VSS = "VSS"  # vertical stud Søderberg
    HSS = "HSS"  # horizontal stud Søderberg
    PFPB_L = "PFPB-L"  # point-feed prebake, legacy (2019 Refinement)
    PFPB_M = "PFPB-M"  # point-feed prebake, modern (2019 Refinement)
    PFPB_MW = "PFPB-MW"  # point-feed prebake, modern with fully automated AE intervention


def _technology(value: str | Technology) -> Technology:
    try:
        return Technology(str(value).strip().upper())
    except ValueError:
        known = ", ".join(t.value for t in Technology)
        raise MethodError(f"unknown cell technology {value!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class SlopeCoefficients:
    """S_CF4 and F_C2F6/CF4 for one technology, with where they come from."""

    technology: str | None
    s_cf4: float  # (kg CF4/t Al)/(AE-min/cell-day)
    f_c2f6_cf4: float  # kg C2F6 / kg CF4
    table: str  # "ipcc2006", "ipcc2019" or "smelter"
    source: str
    measured_on: str | None = None  # ISO date of the smelter-specific measurement


def _slope_table(
    source: str, table: str, rows: dict[Technology, tuple[float, float]]
) -> Mapping[Technology, SlopeCoefficients]:
    return MappingProxyType(
        {
            t: SlopeCoefficients(t.value, s, f, table=table, source=source)
            for t, (s, f) in rows.items()
        }
    )


COEFFICIENT_TABLES: Mapping[str, Mapping[Technology, SlopeCoefficients]] = MappingProxyType(
    {
        # IPCC 2006 Guidelines Vol 3 Ch 4 Table 4.16, "Technology specific slope and
        # overvoltage coefficients for the calculation of PFC emissions from aluminium
        # production (Tier 2 method)": S_CF4 / F_C2F6/CF4.
        "ipcc2006": _slope_table(
            "IPCC 2006 Vol 3 Ch 4 Table 4.16",
            "ipcc2006",
            {
                Technology.CWPB: (0.143, 0.121),
                Technology.SWPB: (0.272, 0.252),
                Technology.VSS: (0.092, 0.053),
                Technology.HSS: (0.099, 0.085),
            },
        ),
        # 2019 Refinement to the 2006 IPCC Guidelines, Vol 3 Ch 4 Table 4.16 (high-voltage
        # anode effects), as adopted in Commission Implementing Regulation (EU) 2025/2547.
        # PFPB-MW has no default: smelter-specific coefficients are required.
        "ipcc2019": _slope_table(
            "IPCC 2019 Refinement Vol 3 Ch 4 Table 4.16 (HVAE); EU Impl. Reg. 2025/2547",
            "ipcc2019",
            {
                Technology.PFPB_L: (0.122, 0.097),
                Technology.PFPB_M: (0.104, 0.057),
                Technology.CWPB: (0.143, 0.121),
                Technology.SWPB: (0.233, 0.280),
                Technology.VSS: (0.058, 0.086),
                Technology.HSS: (0.165, 0.077),
            },
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Tier1Factors:
    """Tier 1 default emission factors (kg gas per t Al) for one technology."""

    technology: str
    ef_cf4: float
    ef_c2f6: float
    source: str


_TIER1_SOURCE = "IPCC 2006 Vol 3 Ch 4 Table 4.15"

# IPCC 2006 Guidelines Vol 3 Ch 4 Table 4.15, "Default emission factors and uncertainty
# ranges for the calculation of PFC emissions from aluminium production (by cell technology
# type)", Tier 1, kg gas per tonne Al: CWPB CF4 0.4 / C2F6 0.04; SWPB 1.6 / 0.4;
# VSS 0.8 / 0.04; HSS 0.4 / 0.03. (Values as remembered from the table; the published table
# could not be opened from the development machine — re-check against the PDF before use in
# a compliance report.)
TIER1_FACTORS: Mapping[Technology, Tier1Factors] = MappingProxyType(
    {
        Technology.CWPB: Tier1Factors("CWPB", 0.4, 0.04, _TIER1_SOURCE),
        Technology.SWPB: Tier1Factors("SWPB", 1.6, 0.4, _TIER1_SOURCE),
        Technology.VSS: Tier1Factors("VSS", 0.8, 0.04, _TIER1_SOURCE),
        Technology.HSS: Tier1Factors("HSS", 0.4, 0.03, _TIER1_SOURCE),
    }
)

_CHINA_SOURCE = "MEE 2024 guideline, GHG accounting and reporting, aluminium smelting enterprises"
# China 2024 aluminium smelting guideline: EF_CF4 = 0.143 × AEM (kg CF4/t Al) — the IPCC
# CWPB slope coefficient applied to all cells.
CHINA_SLOPE_CF4 = 0.143
# Same guideline: EF_C2F6 = 0.1 × EF_CF4.
CHINA_C2F6_RATIO = 0.1
# Same guideline: defaults when AEM is not measured, kg/t Al.
CHINA_DEFAULT_EF_CF4 = 0.034
CHINA_DEFAULT_EF_C2F6 = 0.0034
# Same guideline: decimal places of the reported figures (production and AEM 2, EF_CF4 3,
# EF_C2F6 4). Not checked against the 2024 text itself (see protocols.emissions).
CHINA_ROUNDING = {"production_t": 2, "aem": 2, "ef_cf4": 3, "ef_c2f6": 4}


@dataclass(frozen=True, slots=True)
class Coefficient:
    """One named coefficient as used in a calculation."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class PfcResult:
    """CF4, C2F6 and CO2e (t) with everything needed to recompute them."""

    method: str  # "slope", "china", "tier1"
    cf4_t: float
    c2f6_t: float
    cf4_co2e_t: float
    c2f6_co2e_t: float
    co2e_t: float
    coefficients: tuple[Coefficient, ...]
    coefficient_set: str  # "ipcc2006", "ipcc2019", "smelter", "china2024", "ipcc2006_tier1"
    coefficient_source: str
    technology: str | None
    gwp_set: str
    gwp_cf4: float
    gwp_c2f6: float
    gwp_source: str
    aem: float | None
    production_t: float
    measured_on: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "technology": self.technology,
            "cf4_t": self.cf4_t,
            "c2f6_t": self.c2f6_t,
            "co2e_t": self.co2e_t,
            "cf4_co2e_t": self.cf4_co2e_t,
            "c2f6_co2e_t": self.c2f6_co2e_t,
            "coefficient_set": self.coefficient_set,
            "coefficient_source": self.coefficient_source,
            "measured_on": self.measured_on,
            "coefficients": [
                {"name": c.name, "value": c.value, "unit": c.unit} for c in self.coefficients
            ],
            "gwp_set": self.gwp_set,
            "gwp": {"CF4": self.gwp_cf4, "C2F6": self.gwp_c2f6, "source": self.gwp_source},
            "inputs": {"aem": self.aem, "production_t": self.production_t},
        }


def slope_coefficients(table: str, technology: str | Technology) -> SlopeCoefficients:
    """Default slope coefficients from ``ipcc2006`` or ``ipcc2019`` for a technology."""
    key = str(table).strip().lower()
    if key not in COEFFICIENT_TABLES:
        known = ", ".join(COEFFICIENT_TABLES)
        raise MethodError(f"unknown coefficient table {table!r} (known: {known})")
    tech = _technology(technology)
    if tech is Technology.PFPB_MW:
        raise MethodError(
            "PFPB-MW has no default slope coefficients: use smelter-specific coefficients "
            "(2019 Refinement Table 4.16)"
        )
    try:
        return COEFFICIENT_TABLES[key][tech]
    except KeyError:
        have = ", ".join(t.value for t in COEFFICIENT_TABLES[key])
        raise MethodError(
            f"table {key} has no coefficients for {tech.value} (has: {have})"
        ) from None


def smelter_specific_coefficients(
    s_cf4: float,
    f_c2f6_cf4: float,
    measured_on: str,
    *,
    technology: str | Technology | None = None,
    source: str = "smelter-specific measurement",
) -> SlopeCoefficients:
    """Coefficients measured at the smelter (Tier 3); the measurement date is mandatory."""
    if not measured_on or not str(measured_on).strip():
        raise MethodError("smelter-specific coefficients need their measurement date")
    return SlopeCoefficients(
        technology=None if technology is None else _technology(technology).value,
        s_cf4=require_non_negative("s_cf4", s_cf4),
        f_c2f6_cf4=require_non_negative("f_c2f6_cf4", f_c2f6_cf4),
        table="smelter",
        source=source,
        measured_on=str(measured_on).strip(),
    )


def _result(
    *,
    method: str,
    cf4_t: float,
    c2f6_t: float,
    coefficients: tuple[Coefficient, ...],
    coefficient_set: str,
    coefficient_source: str,
    technology: str | None,
    gwp: str,
    aem: float | None,
    production_t: float,
    measured_on: str | None = None,
) -> PfcResult:
    g = gwp_set(gwp)
    cf4_co2e = cf4_t * g["CF4"]
    c2f6_co2e = c2f6_t * g["C2F6"]
    return PfcResult(
        method=method,
        cf4_t=cf4_t,
        c2f6_t=c2f6_t,
        cf4_co2e_t=cf4_co2e,
        c2f6_co2e_t=c2f6_co2e,
        co2e_t=cf4_co2e + c2f6_co2e,
        coefficients=coefficients,
        coefficient_set=coefficient_set,
        coefficient_source=coefficient_source,
        technology=technology,
        gwp_set=g.name,
        gwp_cf4=g["CF4"],
        gwp_c2f6=g["C2F6"],
        gwp_source=g.source,
        aem=aem,
        production_t=production_t,
        measured_on=measured_on,
    )


_SLOPE_UNIT = "(kg CF4/t Al)/(AE-min/cell-day)"


def pfc_slope(
    aem: float,
    production_t: float,
    coefficients: SlopeCoefficients,
    *,
    gwp: str = DEFAULT_GWP_SET,
) -> PfcResult:
    """Slope method: E_CF4 = S_CF4 × AEM × MP × 0.001; E_C2F6 = E_CF4 × F_C2F6/CF4."""
    a = require_non_negative("aem", aem)
    mp = require_non_negative("production_t", production_t)
    cf4 = coefficients.s_cf4 * a * mp * 0.001  # 0.001 t/kg (40 CFR 98.63 Eq. F-2)
    c2f6 = cf4 * coefficients.f_c2f6_cf4  # 40 CFR 98.63 Eq. F-4
    return _result(
        method="slope",
        cf4_t=cf4,
        c2f6_t=c2f6,
        coefficients=(
            Coefficient("S_CF4", coefficients.s_cf4, _SLOPE_UNIT),
            Coefficient("F_C2F6/CF4", coefficients.f_c2f6_cf4, "kg C2F6/kg CF4"),
        ),
        coefficient_set=coefficients.table,
        coefficient_source=coefficients.source,
        technology=coefficients.technology,
        gwp=gwp,
        aem=a,
        production_t=mp,
        measured_on=coefficients.measured_on,
    )


def pfc_china(
    production_t: float, aem: float | None = None, *, gwp: str = DEFAULT_GWP_SET
) -> PfcResult:
    """China 2024 guideline: EF_CF4 = 0.143 × AEM, EF_C2F6 = 0.1 × EF_CF4 (kg/t Al).

    With ``aem=None`` (not measured) the guideline defaults 0.034 / 0.0034 kg/t apply.
    The guideline's rounding applies (``CHINA_ROUNDING``): production and AEM to 2 decimals,
    EF_CF4 to 3, EF_C2F6 to 4 (decimal half up), so a reported figure recomputes by hand.
    """
    mp = round_half_up(
        require_non_negative("production_t", production_t), CHINA_ROUNDING["production_t"]
    )
    if aem is None:
        ef_cf4, ef_c2f6 = CHINA_DEFAULT_EF_CF4, CHINA_DEFAULT_EF_C2F6
        coeffs: tuple[Coefficient, ...] = (
            Coefficient("EF_CF4", ef_cf4, "kg CF4/t Al"),
            Coefficient("EF_C2F6", ef_c2f6, "kg C2F6/t Al"),
        )
        a = None
    else:
        a = round_half_up(require_non_negative("aem", aem), CHINA_ROUNDING["aem"])
        raw_cf4 = CHINA_SLOPE_CF4 * a
        ef_cf4 = round_half_up(raw_cf4, CHINA_ROUNDING["ef_cf4"])
        raw_c2f6 = CHINA_C2F6_RATIO * ef_cf4
        ef_c2f6 = round_half_up(raw_c2f6, CHINA_ROUNDING["ef_c2f6"])
        coeffs = (
            Coefficient("S_CF4", CHINA_SLOPE_CF4, _SLOPE_UNIT),
            Coefficient("C2F6/CF4", CHINA_C2F6_RATIO, "kg C2F6/kg CF4"),
            Coefficient("EF_CF4", ef_cf4, "kg CF4/t Al"),
            Coefficient("EF_C2F6", ef_c2f6, "kg C2F6/t Al"),
            # beside the reported (rounded) factors, what they were before rounding
            Coefficient("unrounded EF_CF4", raw_cf4, "kg CF4/t Al"),
            Coefficient("unrounded EF_C2F6", raw_c2f6, "kg C2F6/t Al"),
        )
    return _result(
        method="china",
        cf4_t=ef_cf4 * mp / 1000.0,
        c2f6_t=ef_c2f6 * mp / 1000.0,
        coefficients=coeffs,
        coefficient_set="china2024" if a is not None else "china2024_default",
        coefficient_source=_CHINA_SOURCE,
        technology=None,
        gwp=gwp,
        aem=a,
        production_t=mp,
    )


def pfc_tier1(
    production_t: float, technology: str | Technology, *, gwp: str = DEFAULT_GWP_SET
) -> PfcResult:
    """IPCC Tier 1: E = EF(technology) × MP / 1000 with Table 4.15 defaults."""
    mp = require_non_negative("production_t", production_t)
    tech = _technology(technology)
    try:
        f = TIER1_FACTORS[tech]
    except KeyError:
        have = ", ".join(t.value for t in TIER1_FACTORS)
        raise MethodError(f"no Tier 1 factors for {tech.value} (have: {have})") from None
    return _result(
        method="tier1",
        cf4_t=f.ef_cf4 * mp / 1000.0,
        c2f6_t=f.ef_c2f6 * mp / 1000.0,
        coefficients=(
            Coefficient("EF_CF4", f.ef_cf4, "kg CF4/t Al"),
            Coefficient("EF_C2F6", f.ef_c2f6, "kg C2F6/t Al"),
        ),
        coefficient_set="ipcc2006_tier1",
        coefficient_source=f.source,
        technology=tech.value,
        gwp=gwp,
        aem=None,
        production_t=mp,
    )


def pfc(
    method: str,
    *,
    production_t: float,
    aem: float | None = None,
    technology: str | None = None,
    coefficients: str | SlopeCoefficients = "ipcc2006",
    gwp: str = DEFAULT_GWP_SET,
) -> PfcResult:
    """One entry point by method name, as configured in an agent or chosen on the CLI."""
    m = str(method).strip().lower()
    if m == "slope":
        if aem is None:
            raise MethodError("the slope method needs AEM")
        if isinstance(coefficients, SlopeCoefficients):
            sc = coefficients
        else:
            if technology is None:
                raise MethodError("the slope method needs a cell technology")
            sc = slope_coefficients(coefficients, technology)
        return pfc_slope(aem, production_t, sc, gwp=gwp)
    if m == "china":
        return pfc_china(production_t, aem, gwp=gwp)
    if m == "tier1":
        if technology is None:
            raise MethodError("the tier1 method needs a cell technology")
        return pfc_tier1(production_t, technology, gwp=gwp)
    raise MethodError(f"unknown PFC method {method!r} (known: slope, china, tier1)")
