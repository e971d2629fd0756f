"""Versioned 100-year global warming potential (GWP-100) tables.

A CO2e figure is meaningless without the GWP set behind it, so every PFC result names its
set. China's national carbon market (MEE 2024 aluminium smelting guideline) uses AR5:
CF4 6630, C2F6 11100. UNFCCC inventories used SAR until 2014 and AR4 until 2023; the Paris
Agreement transparency framework uses AR5; AR6 is the latest assessment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from protocols.methods.errors import MethodError

__all__ = ["DEFAULT_GWP_SET", "GWP_SETS", "GwpSet", "gwp", "gwp_set"]


@dataclass(frozen=True, slots=True)
class GwpSet:
    """One assessment report's GWP-100 values (kg CO2e per kg gas)."""

    name: str
    source: str
    values: Mapping[str, float]

    def __getitem__(self, gas: str) -> float:
        try:
            return self.values[gas]
        except KeyError:
            raise MethodError(f"GWP set {self.name} has no value for {gas!r}") from None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source, "values": dict(self.values)}


def _set(name: str, source: str, values: dict[str, float]) -> GwpSet:
    return GwpSet(name=name, source=source, values=MappingProxyType(values))


GWP_SETS: Mapping[str, GwpSet] = MappingProxyType(
    {
        # IPCC Second Assessment Report (1995), WG I, ch. 2, Table 2.9 (GWP-100):
        # CH4 21, N2O 310, CF4 6500, C2F6 9200. The UNFCCC reporting set until 2014.
        "SAR": _set(
            "SAR",
            "IPCC SAR (1995) WG I Table 2.9",
            {"CO2": 1.0, "CH4": 21.0, "N2O": 310.0, "CF4": 6500.0, "C2F6": 9200.0},
        ),
        # IPCC Fourth Assessment Report (2007), WG I, ch. 2, Table 2.14 (GWP-100):
        # CH4 25, N2O 298, CF4 7390, C2F6 12200.
        "AR4": _set(
            "AR4",
            "IPCC AR4 (2007) WG I Table 2.14",
            {"CO2": 1.0, "CH4": 25.0, "N2O": 298.0, "CF4": 7390.0, "C2F6": 12200.0},
        ),
        # IPCC Fifth Assessment Report (2013), WG I, ch. 8, Table 8.A.1 (GWP-100, without
        # climate-carbon feedback): CH4 28, N2O 265, CF4 6630, C2F6 11100. The set China's
        # 2024 aluminium smelting GHG accounting guideline uses.
        "AR5": _set(
            "AR5",
            "IPCC AR5 (2013) WG I Table 8.A.1",
            {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0, "CF4": 6630.0, "C2F6": 11100.0},
        ),
        # IPCC Sixth Assessment Report (2021), WG I, ch. 7, Table 7.SM.7 (GWP-100):
        # CH4 27.9 (Table 7.15 splits fossil 29.8 / non-fossil 27.2), N2O 273,
        # CF4 7380, C2F6 12400.
        "AR6": _set(
            "AR6",
            "IPCC AR6 (2021) WG I Table 7.SM.7",
            {
                "CO2": 1.0,
                "CH4": 27.9,
                "CH4_fossil": 29.8,
                "N2O": 273.0,
                "CF4": 7380.0,
                "C2F6": 12400.0,
            },
        ),
    }
)

# China's national carbon market accounts PFCs with AR5 values (see above).
DEFAULT_GWP_SET = "AR5"


def gwp_set(name: str) -> GwpSet:
    """Look up a GWP set by name (case-insensitive: ``ar5`` or ``AR5``)."""
    key = str(name).strip().upper()
    try:
        return GWP_SETS[key]
    except KeyError:
        known = ", ".join(GWP_SETS)
        raise MethodError(f"unknown GWP set {name!r} (known: {known})") from None


def gwp(set_name: str, gas: str) -> float:
    """GWP-100 of ``gas`` in set ``set_name``."""
    return gwp_set(set_name)[gas]
