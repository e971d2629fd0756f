"""Fossil-fuel defaults (NCV, carbon content per GJ, oxidation) for fuel combustion CO2.

Each 2024 guideline repeats a table of common fossil-fuel defaults in its Appendix A
(附录A 相关参数缺省值, 常用化石燃料相关参数缺省值). The values below are the ones China's
GHG accounting guidelines have used since 2013-2015 (低位发热量, 单位热值含碳量,
碳氧化率); the 2024 appendix text could not be opened from the development machine, so every
value is ``confirmed=False`` until checked against it. Units: NCV in GJ/t (solids, liquids)
or GJ/10⁴ Nm³ (gases); carbon content in t C/GJ; oxidation a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _alt(en: str, zh: str, ncv: float, cc_t_per_tj: float) -> FuelDefaults:
    return FuelDefaults(
        en,
        zh,
        "t",
        Factor(ncv, "GJ/t", f"{_IPCC}: {en}", False),
        Factor(cc_t_per_tj / 1000.0, "t C/GJ", f"{_IPCC}: {en}", False),
        Factor(1.0, "fraction", "IPCC 2006 Vol 2 Ch 1: oxidation factor 1 by default", False),
    )


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
