"""Fossil-fuel defaults (NCV, carbon content per GJ, oxidation) for fuel combustion CO2.

Each 2024 guideline repeats a table of common fossil-fuel defaults in its Appendix A
(附录A 相关参数缺省值, 常用化石燃料相关参数缺省值). The values below are the ones China's
GHG accounting guidelines have used since 2013-2015 (低位发热量, 单位热值含碳量,
碳氧化率); the 2024 appendix text could not be opened from the development machine, so every
value is ``confirmed=False`` until checked against it. Where public reproductions of the
Chinese table agree, ``reproduced_by`` says so; where they disagree, ``note`` does (see
``factors.py`` for the policy and /work/notes/14-factors.md for each row). Units: NCV in GJ/t (solids, liquids)
or GJ/10⁴ Nm³ (gases); carbon content in t C/GJ; oxidation a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from protocols.emissions.factors import Factor

__all__ = ["FUELS", "FuelDefaults"]

_REF = "CETS-AG 2024 Appendix A, common fossil fuels (values of the 2013-2015 guidelines)"


@dataclass(frozen=True, slots=True)
class FuelDefaults:
    name_en: str
    name_zh: str
    unit: str  # quantity unit the NCV refers to: "t" or "10^4 Nm3"
    ncv: Factor
    carbon_content: Factor
    oxidation: Factor


def _fuel(en: str, zh: str, unit: str, ncv: float, cc_t_per_tj: float, of: float) -> FuelDefaults:
    per = "GJ/t" if unit == "t" else "GJ/10^4 Nm3"
    return FuelDefaults(
        en,
        zh,
        unit,
        Factor(ncv, per, f"{_REF}: {zh} 低位发热量", False),
        Factor(cc_t_per_tj / 1000.0, "t C/GJ", f"{_REF}: {zh} 单位热值含碳量", False),
        Factor(of, "fraction", f"{_REF}: {zh} 碳氧化率", False),
    )


FUELS: dict[str, FuelDefaults] = {
    "bituminous_coal": _fuel("Bituminous coal", "烟煤", "t", 19.570, 26.18, 0.98),
    "anthracite": _fuel("Anthracite", "无烟煤", "t", 20.304, 27.49, 0.98),
    "washed_coal": _fuel("Washed (coking) coal", "洗精煤", "t", 26.344, 25.41, 0.98),
    "coke": _fuel("Coke", "焦炭", "t", 28.435, 29.5, 0.98),
    "fuel_oil": _fuel("Fuel oil", "燃料油", "t", 41.816, 21.1, 0.98),
    "diesel": _fuel("Diesel", "柴油", "t", 42.652, 20.2, 0.98),
    "natural_gas": _fuel("Natural gas", "天然气", "10^4 Nm3", 389.31, 15.3, 0.99),
    "coke_oven_gas": _fuel("Coke-oven gas", "焦炉煤气", "10^4 Nm3", 179.81, 13.58, 0.99),
}

_IPCC = "IPCC 2006 Vol 2 Ch 1 Tables 1.2 (NCV) / 1.3 (carbon content)"


#: the carbon contents agree with IPCC 2006 Vol 2 Ch 2 Table 2.2 CO2 factors as reproduced in
#: public code (waste oils 73 300, municipal wastes non-biomass 91 700 kg CO2/TJ = C × 44/12)
_T22 = (
    "consistent with IPCC 2006 Vol 2 Table 2.2 CO2 factor (= C × 44/12) as reproduced in "
    "public code; Table 1.3 itself not opened"
)


def _alt(en: str, zh: str, ncv: float, cc_t_per_tj: float) -> FuelDefaults:
    return FuelDefaults(
        en,
        zh,
        "t",
        Factor(ncv, "GJ/t", f"{_IPCC}: {en}", False),
        Factor(cc_t_per_tj / 1000.0, "t C/GJ", f"{_IPCC}: {en}", False, "", _T22),
        Factor(1.0, "fraction", "IPCC 2006 Vol 2 Ch 1: oxidation factor 1 by default", False),
    )


#: unattributed public carbon-accounting apps that tabulate the Chinese common-fuel defaults
#: (one gives 燃料油 41.816/0.02110/98 %, 柴油 42.652/0.02020/98 %, 天然气 389.310/0.01532/99 %,
#: 焦炭 28.435/0.02942, 无烟煤 22.867/0.02749; another 天然气 389.31 GJ/10^4 m3, 15.3 t C/TJ;
#: a mock factor library labelled GB/T 32150-2015 gives 烟煤 0.02618 t C/GJ, 98 %)
_APP = "as reproduced by an unattributed public app's Chinese fuel table"
_OF_SOLID = (
    "reproductions disagree on solid-fuel oxidation (one app: 95 % boilers, 99 % cement "
    "kilns, 85 % industrial boilers; a mock library: 烟煤 98 %); check the 2024 row"
)
_CHECKED: dict[tuple[str, str], tuple[str, str]] = {
    # (fuel, property): (reproduced_by, note)
    ("fuel_oil", "ncv"): (_APP, ""),
    ("fuel_oil", "carbon_content"): (_APP, ""),
    ("fuel_oil", "oxidation"): (_APP, ""),
    ("diesel", "ncv"): (_APP, ""),
    ("diesel", "carbon_content"): (_APP, ""),
    ("diesel", "oxidation"): (_APP, ""),
    ("natural_gas", "ncv"): (_APP + " (two apps)", ""),
    ("natural_gas", "carbon_content"): (
        _APP,
        "one app gives 15.3 t C/TJ, another 0.01532 t C/GJ (15.32)",
    ),
    ("natural_gas", "oxidation"): (_APP, ""),
    ("coke", "ncv"): (_APP, ""),
    ("coke", "carbon_content"): ("", "a reproduction gives 0.02942 t C/GJ (29.42), not 29.5"),
    ("anthracite", "ncv"): ("", "a reproduction gives 22.867 GJ/t, not 20.304"),
    ("anthracite", "carbon_content"): (_APP, ""),
    ("bituminous_coal", "ncv"): ("", "no reproduction found that gives 19.570 GJ/t"),
    ("bituminous_coal", "carbon_content"): ("as reproduced by a mock factor library", ""),
    ("coke_oven_gas", "ncv"): ("", "reproductions give 173.854 and 179.21, not 179.81"),
    ("coke_oven_gas", "carbon_content"): ("", "reproductions give 12.1 t C/TJ, not 13.58"),
}
for (_k, _prop), (_repro, _note) in _CHECKED.items():
    _fd = FUELS[_k]
    _f = replace(getattr(_fd, _prop), reproduced_by=_repro, note=_note)
    FUELS[_k] = replace(_fd, **{_prop: _f})
for _k in ("bituminous_coal", "anthracite", "washed_coal", "coke"):
    _fd = FUELS[_k]
    FUELS[_k] = replace(_fd, oxidation=replace(_fd.oxidation, note=_OF_SOLID))

# Alternative (waste-derived) fuels of cement kilns: only the fossil carbon counts; a site
# declares the non-biomass quantity (e.g. the fossil share of refuse-derived fuel).
FUELS.update(
    {
        "waste_oil": _alt("Waste oils", "废油", 40.2, 20.0),
        "msw_fossil": _alt(
            "Municipal wastes (non-biomass fraction)", "生活垃圾(非生物质部分)", 10.0, 25.0
        ),
    }
)
