"""Faraday's law for aluminium electrolysis: metal from line current, and specific energy.

Al³⁺ + 3e⁻ → Al, so one kiloampere-hour deposits M / (z·F) × 3.6e6 C of aluminium:

    26.9815385 g/mol / (3 × 96485.33212 C/mol) × 3.6e6 C = 335.573 g = 0.335573 kg/(kA·h)

(M: IUPAC 2021 standard atomic weight of Al, 26.9815384(3); F: CODATA 2018 Faraday
constant, exact since the 2019 SI redefinition: N_A × e = 96485.33212 C/mol.) The same
0.335573 kg/kA·h appears in the aluminium industry literature, e.g. Grjotheim & Kvande,
*Introduction to Aluminium Electrolysis*, 2nd ed. (Aluminium-Verlag 1993), ch. 1, and
Haupin, "Principles of aluminum electrolysis", Light Metals 1995.

The line current flows through every cell of a potline in series, so production per day is
0.335573 kg/kA·h × 24 h × I × CE × cells, i.e. 0.00805375 t/(kA·day) × I × CE × cells × days.
Specific DC energy: a cell at V volts uses V kWh per kA·h and makes 0.335573 × CE kg, so
kWh/kg = V / (0.335573 × CE) = 2.980 × V / CE.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.methods.errors import (
    MethodError,
    require_finite,
    require_fraction,
    require_non_negative,
)

__all__ = [
    "AL_KG_PER_KA_H",
    "AL_T_PER_KA_DAY",
    "KWH_PER_KG_PER_V",
    "FaradayResult",
    "faraday_production",
    "implied_current_efficiency",
    "production_from_charge_t",
    "production_t",
    "specific_dc_energy_kwh_per_kg",
]

# Electrochemical equivalent of aluminium, kg per kA·h: M(Al)/(3F) × 3.6e6 C with
# M = 26.9815385 g/mol (IUPAC 2021) and F = 96485.33212 C/mol (CODATA 2018, exact).
AL_KG_PER_KA_H = 0.335573
# Tonnes per kA per day = 0.335573 kg/kA·h × 24 h / 1000 kg/t (DESIGN.md "Faraday").
AL_T_PER_KA_DAY = 0.00805375
# kWh per kg per cell volt = 1 / 0.335573 = 2.97998…, rounded to 2.980 as in the industry
# formula W = 2.980 × V / CE (Grjotheim & Kvande 1993; DESIGN.md "Faraday").
KWH_PER_KG_PER_V = 2.980

METHOD = "faraday"


@dataclass(frozen=True, slots=True)
class FaradayResult:
    """Faraday production estimate and the inputs it rests on."""

    aluminium_t: float
    current_ka: float
    current_efficiency: float
    cells: float
    days: float
    method: str = METHOD
    constant_t_per_ka_day: float = AL_T_PER_KA_DAY

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "aluminium_t": self.aluminium_t,
            "constant": {"name": "t_per_kA_day", "value": self.constant_t_per_ka_day},
            "inputs": {
                "current_ka": self.current_ka,
                "ce": self.current_efficiency,
                "cells": self.cells,
                "days": self.days,
            },
        }


def production_t(current_ka: float, ce: float, cells: float, days: float) -> float:
    """Aluminium (t) = 0.00805375 × I(kA) × CE × cells × days; CE as a fraction."""
    return AL_T_PER_KA_DAY * current_ka * ce * cells * days


def faraday_production(current_ka: float, ce: float, cells: float, days: float) -> FaradayResult:
    """Validated Faraday estimate with its inputs, for records and the command line."""
    i = require_non_negative("current_ka", current_ka)
    c = require_fraction("ce", ce)
    n = require_non_negative("cells", cells)
    d = require_non_negative("days", days)
    return FaradayResult(
        aluminium_t=production_t(i, c, n, d),
        current_ka=i,
        current_efficiency=c,
        cells=n,
        days=d,
    )


def production_from_charge_t(charge_ka_h: float, ce: float, cells: float) -> float:
    """Aluminium (t) from the time integral of line current (kA·h) through ``cells`` in series.

    Used when line current is integrated over irregular samples rather than averaged:
    0.335573 kg/kA·h × Q × CE × cells / 1000.
    """
    return AL_KG_PER_KA_H * charge_ka_h * ce * cells / 1000.0


def implied_current_efficiency(
    measured_t: float, current_ka: float, cells: float, days: float
) -> float:
    """Current efficiency (fraction) implied by measured metal: measured ÷ theoretical at CE=1.

    A cross-check, not a correction: a value outside the plausible band (data_quality) becomes
    a flag on the record.
    """
    m = require_non_negative("measured_t", measured_t)
    theoretical = production_t(
        require_non_negative("current_ka", current_ka),
        1.0,
        require_non_negative("cells", cells),
        require_non_negative("days", days),
    )
    if theoretical <= 0:
        raise MethodError("theoretical production is zero (current, cells or days is 0)")
    return m / theoretical


def specific_dc_energy_kwh_per_kg(cell_voltage_v: float, ce: float) -> float:
    """Specific DC energy (kWh/kg Al) = 2.980 × V_cell / CE; CE as a fraction."""
    v = require_finite("cell_voltage_v", cell_voltage_v)
    c = require_fraction("ce", ce)
    return KWH_PER_KG_PER_V * v / c
