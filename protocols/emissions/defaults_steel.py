"""Carbon contents for the steel carbon mass balance (CETS-AG-03.01-V01-2024).

Mass-based carbon contents (t C per t) are IPCC 2006 Vol 3 Ch 4 Table 4.3 ("material-
specific carbon contents for iron and steel", kg C/kg); the 2024 guideline's Appendix A gives
its own defaults which could not be opened here, so these are ``confirmed=False``. Four rows
(coke, limestone, dolomite, EAF electrodes) agree with public reproductions that quote the
IPCC PDF's Table 4.3 text (``reproduced_by``); the others have no agreeing reproduction.
Gases are per 10⁴ Nm³ = NCV × carbon content per GJ of the guideline fuel tables
(unconfirmed; public reproductions of the Chinese table disagree for coke-oven gas).
Crude benzene is C6H6 stoichiometry (72/78 with integer atomic masses; exact 0.9226).
"""

from __future__ import annotations

from protocols.emissions.factors import Factor

__all__ = ["STEEL_CARBON"]

_T43 = "IPCC 2006 Vol 3 Ch 4 Table 4.3 (CETS-AG-03.01-V01-2024 Appendix A not checked)"
_GAS = "CETS-AG-03.01-V01-2024 Appendix A gas NCV × carbon content (2013-2015 values)"


#: public reproductions quoting IPCC 2006 Vol 3 Ch 4 Table 4.3 (p. 4.27) from the PDF: a steel
#: decarbonisation model audit ("Limestone 0.12", "Dolomite 0.13", "EAF Carbon Electrodes
#: 0.82", "Coke 0.83" kg C/kg) and a factor build that parses the PDF (electrodes 0.82)
_T43_REPRO = (
    "as reproduced by public repository files quoting IPCC 2006 Vol 3 Table 4.3 p. 4.27 "
    "(steel-model audit; factor build parsing the IPCC PDF); PDF itself not opened"
)


def _m(v: float, what: str, reproduced: bool = False, note: str = "") -> Factor:
    return Factor(v, "t C/t", f"{_T43}: {what}", False, note, _T43_REPRO if reproduced else "")


def _g(ncv: float, cc_t_per_tj: float, what: str, note: str = "", repro: str = "") -> Factor:
    return Factor(ncv * cc_t_per_tj / 1000.0, "t C/10^4 Nm3", f"{_GAS}: {what}", False, note, repro)


#: an unattributed public carbon-accounting app's Chinese fossil-fuel table (低位发热量,
#: 单位热值含碳量): 高炉煤气 33.000 GJ/10^4 Nm3 × 0.07080 t C/GJ, 转炉煤气 84.000 × 0.04960
_APP_REPRO = (
    "as reproduced by an unattributed public app's Chinese fuel table (NCV and carbon "
    "content both agree); guideline text not opened"
)


STEEL_CARBON: dict[str, Factor] = {
    "coking_coal": _m(0.73, "coking coal"),
    "coke": _m(0.83, "coke", reproduced=True),
    "pci_coal": _m(
        0.73,
        "coking coal (PCI coal, no own row)",
        note="PCI coal is not coking coal; Table 4.3's 'Coal' row differs (a CBAM model "
        "quotes 'coal 0.67-0.80'); a site should measure its PCI coal",
    ),
    "limestone": _m(0.12, "limestone", reproduced=True),
    "dolomite": _m(0.13, "dolomite", reproduced=True),
    "electrodes": _m(0.82, "EAF carbon electrodes", reproduced=True),
    "pig_iron": _m(0.04, "purchased pig iron"),
    "hot_metal": _m(0.04, "pig iron (hot metal)"),
    "scrap": _m(0.04, "scrap iron"),
    "dri": _m(0.02, "direct reduced iron"),
    "crude_steel": _m(0.01, "steel"),
    "tar": _m(0.62, "coal tar"),
    "crude_benzene": Factor(
        72.0 / 78.0,
        "t C/t",
        "C6H6 stoichiometry 72/78",
        True,
        "integer atomic masses; with IUPAC masses 72.066/78.114 = 0.9226 (0.05 % lower)",
    ),
    "natural_gas": _g(
        389.31,
        15.3,
        "天然气",
        "one reproduction gives 0.01532 t C/GJ (15.32) instead of 15.3",
        "as reproduced by unattributed public apps' Chinese fuel tables (389.31 GJ/10^4 Nm3, "
        "15.3 t C/TJ); guideline text not opened",
    ),
    "coke_oven_gas": _g(
        179.81,
        13.58,
        "焦炉煤气",
        "public reproductions of Chinese fuel tables disagree (173.854 GJ/10^4 Nm3 with "
        "12.1 t C/TJ; 179.21 with 12.1): check the 2024 Appendix A row",
    ),
    "bf_gas": _g(33.00, 70.8, "高炉煤气", repro=_APP_REPRO),
    "bof_gas": _g(84.00, 49.6, "转炉煤气", repro=_APP_REPRO),
}
