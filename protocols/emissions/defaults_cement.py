"""Defaults of CETS-AG-02.01-V01-2024 (cement clinker, 水泥熟料), Appendix A.

The clinker emission factor default applies where the site has no measured CaO/MgO content
of its clinker; non-carbonate CaO/MgO (from non-carbonate substitute raw materials such as
slag or fly ash) is deducted only where measured — the default deduction is zero, which is
conservative. Values not checked against the 2024 text are ``confirmed=False``.
"""

from __future__ import annotations

from protocols.emissions.factors import Factor

__all__ = ["CEMENT_DEFAULTS"]

_G = "CETS-AG-02.01-V01-2024"

CEMENT_DEFAULTS: dict[str, Factor] = {
    "clinker_ef": Factor(
        0.538,
        "t CO2/t clinker",
        f"{_G} Appendix A: 熟料碳酸盐分解排放因子缺省值",
        False,
        "no reproduction tied to the guideline found (only a mock app); not the IPCC 2006 "
        "Tier 1 value (Eq. 2.4: 0.51 x 1.02 = 0.52, as quoted from the PDF in public code)",
    ),
    "cao_noncarbonate": Factor(
        0.0,
        "fraction",
        f"{_G} clinker equation: non-carbonate CaO deducted only where measured",
        False,
        "no deduction without a laboratory result (conservative)",
    ),
    "mgo_noncarbonate": Factor(
        0.0,
        "fraction",
        f"{_G} clinker equation: non-carbonate MgO deducted only where measured",
        False,
        "no deduction without a laboratory result (conservative)",
    ),
}
