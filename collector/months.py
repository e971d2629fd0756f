"""Where a site-month stands on its way to the national platform, and when it is due.

Pure: facts in, state and deadlines out (the CLI, the web calendar and the deadline alarms
all call these). A month moves

    open → complete → record_built → sealed → submitted

* ``complete``: every agent that reported in the month has a contiguous, acknowledged chain
  through the month end, and every submission the site's plan requires for the month (lab
  results, settlement slips) is present;
* ``record_built``: a signed record version exists (the latest one is what counts);
* ``sealed``: the collector operator confirmed the latest version; a later rebuild (a new
  version with a reason) leaves the month ``record_built`` again until it is sealed anew;
* ``submitted``: somebody uploaded the sealed version (who, when, the platform's receipt no.).

Deadlines: the monthly key parameters are uploaded within 40 natural days after the month
(MEE notice on the 2025 monthly evidence of steel, cement and aluminium, 月度存证 "每月结束后
40 个自然日内"; the 40 days are as the issue states them — the notice's own text was not
confirmed here); provinces often set an earlier internal date (default 20 days, configurable
per site). A deadline is the end (24:00) of that local calendar day in the site's time zone
(Asia/Shanghai by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "PLATFORM_DAYS",
    "STATES",
    "MonthDeadlines",
    "MonthFacts",
    "alarms_due",
    "deadlines",
    "month_state",
]

State = Literal["open", "complete", "record_built", "sealed", "submitted"]
STATES: tuple[State, ...] = ("open", "complete", "record_built", "sealed", "submitted")

#: Natural days after the month within which the platform expects the upload (see above).
PLATFORM_DAYS = 40
#: A typical provincial internal date (configurable per site: ``submission.internal_days``).
INTERNAL_DAYS = 20


@dataclass(frozen=True, slots=True)
class MonthDeadlines:
    month: str
    timezone: str
    month_end_ms: int  # first instant after the month, local time
    internal_ms: int  # end of the internal deadline's day
    platform_ms: int  # end of the platform deadline's day
    internal_date: str
    platform_date: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "month_end_ms": self.month_end_ms,
            "internal": {"date": self.internal_date, "ends_ms": self.internal_ms},
            "platform": {"date": self.platform_date, "ends_ms": self.platform_ms},
            "timezone": self.timezone,
        }


def _first_of_next(month: str) -> date:
    y, m = (int(x) for x in month.split("-"))
    return date(y + (m == 12), m % 12 + 1, 1)


def _end_of_day_ms(d: date, tz: ZoneInfo) -> int:
    nxt = datetime(d.year, d.month, d.day, tzinfo=tz) + timedelta(days=1)
    return int(nxt.timestamp() * 1000)


def deadlines(
    month: str,
    timezone: str = "Asia/Shanghai",
    *,
    platform_days: int = PLATFORM_DAYS,
    internal_days: int = INTERNAL_DAYS,
) -> MonthDeadlines:
    """The month's deadlines: N natural days after its last day, to the end of that day."""
    tz = ZoneInfo(timezone)
    first_next = _first_of_next(month)
    last = first_next - timedelta(days=1)
    internal = last + timedelta(days=internal_days)
    platform = last + timedelta(days=platform_days)
    start_next = datetime(first_next.year, first_next.month, 1, tzinfo=tz)
    return MonthDeadlines(
        month=month,
        timezone=timezone,
        month_end_ms=int(start_next.timestamp() * 1000),
        internal_ms=_end_of_day_ms(internal, tz),
        platform_ms=_end_of_day_ms(platform, tz),
        internal_date=internal.isoformat(),
        platform_date=platform.isoformat(),
    )


@dataclass(frozen=True, slots=True)
class AgentProgress:
    """One agent's evidence for the month: through where it is contiguous and acknowledged."""

    agent: str
    reported_in_month: bool
    through_month_end: bool  # a batch reaching the month end lies in the acked, gap-free chain
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MonthFacts:
    site: str
    month: str
    agents: tuple[AgentProgress, ...] = ()
    required_submissions: tuple[str, ...] = ()  # parameter ids the plan requires
    submitted_params: frozenset[str] = frozenset()
    latest_version: int | None = None
    latest_sha256: str | None = None
    sealed: dict[str, Any] | None = None  # latest seal event {version, by, at, reason}
    submitted: dict[str, Any] | None = None  # latest submit event {version, by, at, receipt}
    missing: tuple[str, ...] = field(default=())

    def why_not_complete(self) -> list[str]:
        out = [
            f"agent {a.agent}: {a.detail or 'evidence not yet through the month end'}"
            for a in self.agents
            if a.reported_in_month and not a.through_month_end
        ]
        out += [
            f"submission {p} for the month is missing"
            for p in self.required_submissions
            if p not in self.submitted_params
        ]
        if not any(a.reported_in_month for a in self.agents) and not self.submitted_params:
            out.append("no evidence for the month yet")
        return out


def month_state(f: MonthFacts) -> State:
    """The furthest state the facts support (see the module docstring)."""
    if f.latest_version is not None:
        if f.sealed is not None and f.sealed.get("version") == f.latest_version:
            if f.submitted is not None and f.submitted.get("version") == f.latest_version:
                return "submitted"
            return "sealed"
        return "record_built"
    return "open" if f.why_not_complete() else "complete"


def alarms_due(
    state: State,
    dl: MonthDeadlines,
    now_ms: int,
    *,
    warn_days: float,
) -> list[tuple[str, int]]:
    """Deadlines (``internal``/``platform``, end ms) inside the warning window and not met.

    A month counts as met for the internal date once sealed and for the platform date once
    submitted; a deadline already past stays due (it is overdue) until then.
    """
    out: list[tuple[str, int]] = []
    window = int(warn_days * 86_400_000)
    for name, ends, met in (
        ("internal", dl.internal_ms, state in ("sealed", "submitted")),
        ("platform", dl.platform_ms, state == "submitted"),
    ):
        if not met and now_ms >= ends - window and now_ms >= dl.month_end_ms:
            out.append((name, ends))
    return out
