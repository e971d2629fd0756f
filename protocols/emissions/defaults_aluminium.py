"""Defaults of CETS-AG-04.01-V01-2024 (aluminium smelting, 铝冶炼行业), Appendix A.

Anode sulphur and ash are the guideline's defaults for when no laboratory result exists;
the PFC constants are the China form of the electrolysis PFC equation. Values not checked
against the 2024 text itself are ``confirmed=False`` (carried into the record's settings).
"""

from __future__ import annotations

from protocols.emissions.factors import Factor
from protocols.methods.pfc import (
    CHINA_C2F6_RATIO,
    CHINA_DEFAULT_EF_C2F6,
    CHINA_DEFAULT_EF_CF4,
    CHINA_ROUNDING,
    CHINA_SLOPE_CF4,
)

__all__ = ["ALUMINIUM_DEFAULTS", "ROUNDING"]

_G = "CETS-AG-04.01-V01-2024"

ALUMINIUM_DEFAULTS: dict[str, Factor] = {
    # 炭阳极平均含硫量 / 平均灰分 defaults (2%, 0.4%: the 2013 aluminium guideline's values,
    # retained in the 2024 Appendix A as far as could be established)
    "anode_sulphur": Factor(0.02, "fraction", f"{_G} Appendix A: 炭阳极含硫量", False),
    "anode_ash": Factor(0.004, "fraction", f"{_G} Appendix A: 炭阳极灰分", False),
    "pfc_slope_cf4": Factor(
        CHINA_SLOPE_CF4, "kg CF4/t Al per AE-min/cell-day", f"{_G} PFC equation", False
    ),
    "pfc_c2f6_ratio": Factor(CHINA_C2F6_RATIO, "kg C2F6/kg CF4", f"{_G} PFC equation", False),
    "pfc_default_ef_cf4": Factor(
        CHINA_DEFAULT_EF_CF4, "kg CF4/t Al", f"{_G} Appendix A: EF_CF4 缺省值", False
    ),
    "pfc_default_ef_c2f6": Factor(
        CHINA_DEFAULT_EF_C2F6, "kg C2F6/t Al", f"{_G} Appendix A: EF_C2F6 缺省值", False
    ),
}

#: decimal places the guideline's reporting tables give (applied where the platform figure is
#: formed; the unrounded value is shown beside it)
ROUNDING: dict[str, int] = dict(CHINA_ROUNDING)
