"""The month's direct emissions as China's 2024 accounting guidelines compute them.

One module per industry (``aluminium`` CETS-AG-04.01-V01-2024, ``cement``
CETS-AG-02.01-V01-2024, ``steel`` CETS-AG-03.01-V01-2024), one defaults table per guideline,
the formulas (``formulas``) shared with ``mrv-verify calc``, and the input-resolution seam
(``inputs``). :data:`ACCOUNTING` is the one table industry → accounting function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.emissions.aluminium import AluminiumSettings, PfcSettings, account_aluminium
from protocols.emissions.cement import CementSettings, account_cement
from protocols.emissions.source import Accounting, MonthContext, emissions_json
from protocols.emissions.steel import SteelSettings, account_steel
from protocols.industry import Industry

__all__ = [
    "ACCOUNTING",
    "INDUSTRY_SETTINGS",
    "Accounting",
    "AluminiumSettings",
    "CementSettings",
    "MonthContext",
    "PfcSettings",
    "SteelSettings",
    "emissions_json",
    "factor_table",
]

#: industry → function (month context, the industry's settings block) → Accounting
ACCOUNTING: dict[Industry, Callable[[MonthContext, Any], Accounting]] = {
    Industry.ALUMINIUM: account_aluminium,
    Industry.CEMENT: account_cement,
    Industry.STEEL: account_steel,
}

#: industry → its ``settings.<industry>`` block
INDUSTRY_SETTINGS: dict[Industry, type] = {
    Industry.ALUMINIUM: AluminiumSettings,
    Industry.CEMENT: CementSettings,
    Industry.STEEL: SteelSettings,
}


def factor_table(industry: Industry) -> dict[str, Any]:
    """The defaults an industry's record may use, each with its reference and ``confirmed``
    flag (written into the record's settings so a reviewer sees what to check)."""
    from protocols.emissions.defaults_aluminium import ALUMINIUM_DEFAULTS
    from protocols.emissions.defaults_cement import CEMENT_DEFAULTS
    from protocols.emissions.defaults_fuels import FUELS
    from protocols.emissions.defaults_steel import STEEL_CARBON
    from protocols.emissions.formulas import CARBONATE_FACTORS

    own = {
        Industry.ALUMINIUM: ALUMINIUM_DEFAULTS,
        Industry.CEMENT: CEMENT_DEFAULTS,
        Industry.STEEL: STEEL_CARBON,
    }.get(industry, {})
    out: dict[str, Any] = {k: f.to_dict() for k, f in sorted(own.items())}
    if industry in (Industry.ALUMINIUM, Industry.CEMENT):
        for k, fd in sorted(FUELS.items()):
            for prop in ("ncv", "carbon_content", "oxidation"):
                out[f"fuel.{k}.{prop}"] = getattr(fd, prop).to_dict()
    for k, f in sorted(CARBONATE_FACTORS.items()):
        out[f"carbonate.{k}"] = f.to_dict()
    return out
