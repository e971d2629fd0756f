"""Carbon contents for the steel carbon mass balance (CETS-AG-03.01-V01-2024).

Mass-based carbon contents (t C per t) are IPCC 2006 Vol 3 Ch 4 Table 4.3 ("material-
specific carbon contents for iron and steel"); the 2024 guideline's Appendix A gives its own
defaults which could not be opened here, so these are ``confirmed=False``. Gases are per
10⁴ Nm³ = NCV × carbon content per GJ of the guideline fuel tables (unconfirmed as well).
Crude benzene is C6H6 stoichiometry (72/78, confirmed by chemistry).
"""

from __future__ import annotations

from protocols.emissions.factors import Factor

__all__ = ["STEEL_CARBON"]

_T43 = "IPCC 2006 Vol 3 Ch 4 Table 4.3 (CETS-AG-03.01-V01-2024 Appendix A not checked)"
_GAS = "CETS-AG-03.01-V01-2024 Appendix A gas NCV × carbon content (2013-2015 values)"


def _m(v: float, what: str) -> Factor:
    return Factor(v, "t C/t", f"{_T43}: {what}", False)


def _g(ncv: float, cc_t_per_tj: float, what: str) -> Factor:
    return Factor(ncv * cc_t_per_tj / 1000.0, "t C/10^4 Nm3", f"{_GAS}: {what}", False)


STEEL_CARBON: dict[str, Factor] = {
    "coking_coal": _m(0.73, "coking coal"),
    "coke": _m(0.83, "coke"),
    "pci_coal": _m(0.73, "coking coal (PCI coal, no own row)"),
    "limestone": _m(0.12, "limestone"),
    "dolomite": _m(0.13, "dolomite"),
    "electrodes": _m(0.82, "EAF carbon electrodes"),
    "pig_iron": _m(0.04, "purchased pig iron"),
    "hot_metal": _m(0.04, "pig iron (hot metal)"),
    "scrap": _m(0.04, "scrap iron"),
    "dri": _m(0.02, "direct reduced iron"),
    "crude_steel": _m(0.01, "steel"),
    "tar": _m(0.62, "coal tar"),
    "crude_benzene": Factor(72.0 / 78.0, "t C/t", "C6H6 stoichiometry 72/78", True),
    "natural_gas": _g(389.31, 15.3, "天然气"),
    "coke_oven_gas": _g(179.81, 13.58, "焦炉煤气"),
    "bf_gas": _g(33.00, 70.8, "高炉煤气"),
    "bof_gas": _g(84.00, 49.6, "转炉煤气"),
}
