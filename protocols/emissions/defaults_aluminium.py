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

#: a public CBAM model (Egypt, aluminium inputs) gives anode sulphur 0.02 and ash 0.004 with
#: the source "IPCC Tier 2 default": the same numbers, but IPCC's, not the 2024 appendix row
_ANODE_REPRO = (
    "same value cited as 'IPCC Tier 2 default' by a public CBAM model; the 2024 "
    "Appendix A row itself not opened"
)
#: a news article (2024-06-25, mirrored at http://www.shanshuisiyin.cn/ShowNews1.aspx?id=452210)
#: on the draft 铝冶炼 guideline: "过程排放使用缺省值计算 … 阳极效应碳排放强度为0.1454tCO2e/tAl".
#: 0.034 kg CF4 + 0.0034 kg C2F6 per t give 0.252-0.293 t CO2e/t under SAR, AR4, AR5 or AR6
#: GWPs, so the draft's defaults were not these two numbers (or the article is wrong)
_PFC_DOUBT = (
    "a news report on the draft guideline gives 0.1454 t CO2e/t Al for PFC with defaults; "
    "0.034/0.0034 kg/t give 0.25-0.29 t CO2e/t under any IPCC GWP set: check the 2024 row"
)

ALUMINIUM_DEFAULTS: dict[str, Factor] = {
    # 炭阳极平均含硫量 / 平均灰分 defaults (2%, 0.4%: the 2013 aluminium guideline's values,
    # retained in the 2024 Appendix A as far as could be established)
    "anode_sulphur": Factor(
        0.02, "fraction", f"{_G} Appendix A: 炭阳极含硫量", False, "", _ANODE_REPRO
    ),
    "anode_ash": Factor(0.004, "fraction", f"{_G} Appendix A: 炭阳极灰分", False, "", _ANODE_REPRO),
    "pfc_slope_cf4": Factor(
        CHINA_SLOPE_CF4,
        "kg CF4/t Al per AE-min/cell-day",
        f"{_G} PFC equation",
        False,
        "same number as the IPCC 2006 Table 4.16 CWPB slope in protocols/methods/pfc.py; "
        "the 2024 equation text not opened",
    ),
    "pfc_c2f6_ratio": Factor(CHINA_C2F6_RATIO, "kg C2F6/kg CF4", f"{_G} PFC equation", False),
    "pfc_default_ef_cf4": Factor(
        CHINA_DEFAULT_EF_CF4, "kg CF4/t Al", f"{_G} Appendix A: EF_CF4 缺省值", False, _PFC_DOUBT
    ),
    "pfc_default_ef_c2f6": Factor(
        CHINA_DEFAULT_EF_C2F6,
        "kg C2F6/t Al",
        f"{_G} Appendix A: EF_C2F6 缺省值",
        False,
        _PFC_DOUBT,
    ),
}

#: decimal places the guideline's reporting tables give (applied where the platform figure is
#: formed; the unrounded value is shown beside it)
ROUNDING: dict[str, int] = dict(CHINA_ROUNDING)
