"""Formatting for templates: times in the site's zone, numbers, percentages, ages."""

from __future__ import annotations

import math
import time
from datetime import datetime
from zoneinfo import ZoneInfo


def ts(ms: int | None, tz: str = "Asia/Shanghai", seconds: bool = False) -> str:
    if ms is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime(fmt)


def num(value: float | int | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.{max(0, digits - 2)}f}"
    return (
        f"{value:.{digits}g}"
        if abs(value) < 1e-3
        else f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    )


def pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f} %"


def ago(ms: int | None, now: int | None = None) -> str:
    """'5 min ago' style age, bilingual-neutral units."""
    if ms is None:
        return "—"
    now = now if now is not None else time.time_ns() // 1_000_000
    s = max(0, (now - ms) // 1000)
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{s // 60} min"
    if s < 48 * 3600:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n} {unit}"
        n //= 1024
    return f"{n} GiB"


def cause(reason: str | None) -> str:
    """A bad reading's reason in words (``exception:04`` → the Modbus exception's meaning)."""
    from protocols.reasons import describe_reason

    return describe_reason(reason)
