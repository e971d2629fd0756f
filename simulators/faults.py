"""Fault injection: what can go wrong between a device and an agent, scheduled in plant time.

Grammar of a fault spec (command line ``--faults`` and the control endpoint)::

    MODE[:key=value]...

    MODE   drop | timeout | late | exception | freeze | rollover | reset | restart
    unit=N       only this unit id (default: every unit; for restart: the whole device)
    at=WHEN      plant time it starts: ISO 8601 (2026-10-05T00:00:00Z) or +DURATION after
                 the simulator's start; default: when injected
    for=DURATION plant time it lasts; default: until cleared (restart: 30s)
    delay=DURATION  late: how long each answer is held back, wall time (default 2s)
    code=N       exception: Modbus exception code (default 4, server device failure)
    register=NAME   rollover/reset: only this counter (default: every counter of the unit)
    margin=N     rollover: raw counts below the wrap the counter jumps to (default 1000)

DURATION is a number with ms, s, m, h or d (a bare number is seconds). Example:
``timeout:unit=3:at=2026-10-05T00:00:00Z:for=10m``. Rollover and reset are one-off jumps
that stay (a new meter stays installed); the other modes last for their window.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Fault",
    "FaultError",
    "FaultMode",
    "format_duration",
    "parse_duration_ms",
    "parse_fault",
    "parse_instant_ms",
]


class FaultError(ValueError):
    """A fault spec or fault object that cannot be applied."""


class FaultMode(StrEnum):
    DROP = "drop"  # close the TCP connection instead of answering
    TIMEOUT = "timeout"  # never answer
    LATE = "late"  # answer after `delay` of wall time
    EXCEPTION = "exception"  # answer with a Modbus exception
    FREEZE = "freeze"  # keep serving the values of the instant the fault began
    ROLLOVER = "rollover"  # counters jump just below their wrap, then wrap around
    RESET = "reset"  # counters restart from zero (meter replacement)
    RESTART = "restart"  # device reboots: gone for `for`, uptime restarts


ONE_SHOT = frozenset({FaultMode.ROLLOVER, FaultMode.RESET})
DEFAULT_RESTART_MS = 30_000

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration_ms(text: str) -> int:
    m = _DURATION.match(text)
    if not m:
        raise FaultError(f"bad duration {text!r} (use e.g. 500ms, 10s, 10m, 2h, 1d)")
    return round(float(m.group(1)) * _UNITS_MS[m.group(2) or "s"])


def format_duration(ms: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def parse_instant_ms(text: str) -> int:
    """ISO 8601 instant to UTC epoch ms (a naive time is taken as UTC)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FaultError(
            f"bad instant {text!r} (use ISO 8601, e.g. 2026-10-05T00:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@dataclass(frozen=True)
class Fault:
    """One injected fault. Times are plant time (epoch ms); ``delay_s`` is wall time."""

    mode: FaultMode
    unit: int | None = None
    at_ms: int | None = None
    for_ms: int | None = None
    delay_s: float = 2.0
    code: int = 4
    register: str | None = None
    margin: int = 1000
    id: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", FaultMode(self.mode))
        if self.unit is not None and not 0 <= self.unit <= 255:
            raise FaultError("unit must be 0..255")
        if self.for_ms is not None and self.for_ms <= 0:
            raise FaultError("for= must be positive")
        if self.delay_s < 0:
            raise FaultError("delay= must not be negative")
        if not 1 <= self.code <= 255:
            raise FaultError("code= must be a Modbus exception code 1..255")
        if self.margin < 1:
            raise FaultError("margin= must be positive")
        if self.mode in ONE_SHOT and self.for_ms is not None:
            raise FaultError(f"{self.mode} is a one-off jump; for= does not apply")
        if self.register is not None and self.mode not in ONE_SHOT:
            raise FaultError("register= applies to rollover and reset only")

    @property
    def end_ms(self) -> int | None:
        """Plant time the fault's window closes (None: open-ended)."""
        if self.at_ms is None:
            return None
        if self.for_ms is not None:
            return self.at_ms + self.for_ms
        if self.mode is FaultMode.RESTART:
            return self.at_ms + DEFAULT_RESTART_MS
        return None

    def active(self, t_ms: int) -> bool:
        if self.at_ms is None or t_ms < self.at_ms:
            return False
        end = self.end_ms
        return end is None or t_ms < end

    def targets(self, unit: int) -> bool:
        return self.unit is None or self.unit == unit

    def scheduled(self, now_ms: int, fault_id: int) -> Fault:
        """This fault with its start pinned (now, if it had none) and its id."""
        return replace(self, at_ms=now_ms if self.at_ms is None else self.at_ms, id=fault_id)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mode"] = str(self.mode)
        d["end_ms"] = self.end_ms
        d["spec"] = self.spec()
        return d

    def spec(self) -> str:
        parts = [str(self.mode)]
        if self.unit is not None:
            parts.append(f"unit={self.unit}")
        if self.at_ms is not None:
            iso = datetime.fromtimestamp(self.at_ms / 1000, UTC).isoformat(timespec="milliseconds")
            parts.append("at=" + iso.replace("+00:00", "Z"))
        if self.for_ms is not None:
            parts.append(f"for={format_duration(self.for_ms)}")
        if self.mode is FaultMode.LATE:
            parts.append(f"delay={format_duration(round(self.delay_s * 1000))}")
        if self.mode is FaultMode.EXCEPTION:
            parts.append(f"code={self.code}")
        if self.register is not None:
            parts.append(f"register={self.register}")
        if self.mode is FaultMode.ROLLOVER:
            parts.append(f"margin={self.margin}")
        return ":".join(parts)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {"mode", "unit", "at_ms", "for_ms", "delay_s", "code", "register", "margin"}
        unknown = set(data) - known
        if unknown:
            raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "mode" not in data:
            raise FaultError("a fault needs a mode")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise FaultError(str(exc)) from None


def parse_fault(spec: str, start_ms: int | None = None) -> Fault:
    """Parse ``MODE[:key=value]...``; ``at=+DURATION`` counts from ``start_ms``."""
    pieces = spec.strip().split(":")
    mode_text = pieces[0].strip().lower()
    try:
        mode = FaultMode(mode_text)
    except ValueError:
        modes = ", ".join(m.value for m in FaultMode)
        raise FaultError(f"unknown fault mode {mode_text!r} (one of: {modes})") from None
    pairs: list[list[str]] = []
    for piece in pieces[1:]:
        if "=" in piece:
            pairs.append(piece.split("=", 1))
        elif pairs:  # the colons inside an ISO 8601 time
            pairs[-1][1] += ":" + piece
        else:
            raise FaultError(f"expected key=value in fault spec, got {piece!r}")
    kwargs: dict[str, Any] = {}
    for key, value in pairs:
        key = key.strip().lower()
        try:
            if key == "unit":
                kwargs["unit"] = int(value)
            elif key == "at":
                if value.startswith("+"):
                    if start_ms is None:
                        raise FaultError("at=+DURATION needs the simulator's start time")
                    kwargs["at_ms"] = start_ms + parse_duration_ms(value[1:])
                else:
                    kwargs["at_ms"] = parse_instant_ms(value)
            elif key == "for":
                kwargs["for_ms"] = parse_duration_ms(value)
            elif key == "delay":
                kwargs["delay_s"] = parse_duration_ms(value) / 1000
            elif key == "code":
                kwargs["code"] = int(value, 0)
            elif key == "register":
                kwargs["register"] = value.strip()
            elif key == "margin":
                kwargs["margin"] = int(value)
            else:
                raise FaultError(f"unknown fault key {key!r}")
        except ValueError as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"bad value for {key}: {value!r}") from None
    return Fault(mode, **kwargs)
