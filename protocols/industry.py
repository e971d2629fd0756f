"""The one industry vocabulary: catalogue, agent config, collector config and record agree.

``generic`` is a site without an industry accounting module (the power meter only). The
names ``other`` (former collector config) and ``power`` (former catalogue) are read as
``generic`` so existing configs keep working; they are never written.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["INDUSTRY_ALIASES", "Industry", "industry_of"]


class Industry(StrEnum):
    ALUMINIUM = "aluminium"
    CEMENT = "cement"
    STEEL = "steel"
    GENERIC = "generic"  # no industry module: the generic power meter only


#: former spellings read as today's names
INDUSTRY_ALIASES = {"other": Industry.GENERIC, "power": Industry.GENERIC}


def industry_of(name: object) -> Industry:
    """Parse an industry name (case-insensitive, aliases accepted); ValueError names the fix."""
    key = str(name).strip().lower()
    if key in INDUSTRY_ALIASES:
        return INDUSTRY_ALIASES[key]
    try:
        return Industry(key)
    except ValueError:
        known = ", ".join(i.value for i in Industry)
        raise ValueError(f"unknown industry {name!r}: use one of {known}") from None
