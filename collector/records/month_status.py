"""The facts of a site-month, read from the evidence store, record versions and month events.

The imperative shell around :mod:`collector.months`: ``mrv-collector month status``, the web
calendar and the deadline alarms call :func:`site_months`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.months import (
    AgentProgress,
    MonthDeadlines,
    MonthFacts,
    alarms_due,
    deadlines,
    month_state,
)
from collector.store.interface import MonthEventLog, RecordStore
from protocols.keys import b64url_decode
from protocols.record.settings import month_window

__all__ = ["MonthStatus", "agent_progress", "deadline_alarms", "month_facts", "site_months"]

_FAR = 1 << 62


@dataclass(frozen=True, slots=True)
class MonthStatus:
    facts: MonthFacts
    state: str
    deadlines: MonthDeadlines
    due: list[tuple[str, int]]

    def as_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "site": f.site,
            "month": f.month,
            "state": self.state,
            "why_not_complete": f.why_not_complete() if self.state == "open" else [],
            "agents": [
                {
                    "agent": a.agent,
                    "reported_in_month": a.reported_in_month,
                    "through_month_end": a.through_month_end,
                    "detail": a.detail,
                }
                for a in f.agents
            ],
            "required_submissions": list(f.required_submissions),
            "submitted_params": sorted(f.submitted_params),
            "latest_version": f.latest_version,
            "record_sha256": f.latest_sha256,
            "sealed": f.sealed,
            "submitted": f.submitted,
            "deadlines": self.deadlines.as_dict(),
            "due": [{"deadline": n, "ends_ms": ms} for n, ms in self.due],
        }


def agent_progress(store: Any, site: str, agent: str, start: int, end: int) -> AgentProgress:
    """Is the agent's month evidence contiguous and acknowledged through the month end?"""
    st = store.agent_state(site, agent)
    if st is None:
        return AgentProgress(agent, False, False, "unknown agent")
    in_month = next(iter(store.envelopes_in_range(site, start, end, agent=agent)), None)
    if in_month is None:
        return AgentProgress(agent, False, False, "no evidence in the month")
    after = next(iter(store.envelopes_in_range(site, end, _FAR, agent=agent)), None)
    if after is None:
        # A lab/settlement agent (mrv-agent submit, no devices) sends nothing after the month:
        # it is through when everything it sent is in, gap-free and acknowledged.
        if st.contiguous_through == st.highest_seq == st.acked_through and _submissions_only(
            store.envelopes_in_range(site, start, end, agent=agent)
        ):
            return AgentProgress(agent, True, True, "")
        return AgentProgress(agent, True, False, "no batch reaches the month end yet")
    seq = after.seq
    if st.contiguous_through < seq:
        return AgentProgress(
            agent,
            True,
            False,
            f"chain has a gap before seq {seq} (contiguous to {st.contiguous_through})",
        )
    if st.acked_through < seq:
        return AgentProgress(agent, True, False, f"acknowledged only to seq {st.acked_through}")
    return AgentProgress(agent, True, True, "")


def _submissions_only(envelopes: Any) -> bool:
    """Every reading of these stored envelopes was submitted (origin lab/manual/invoice).

    Both payload versions count: a v2 payload's metered ``series`` carry no origin, so a
    meter agent on v2 is never mistaken for a lab agent (``compact.batch_readings``)."""
    from protocols.compact import batch_readings
    from protocols.errors import MrvError

    for e in envelopes:
        try:
            payload = json.loads(b64url_decode(json.loads(bytes(e.envelope))["payload"]))
            readings = batch_readings(payload)
        except (ValueError, KeyError, TypeError, MrvError):
            return False
        for r in readings:
            if r.get("origin") in (None, "meter"):
                return False
    return True


def month_facts(
    store: Any,
    versions: RecordStore,
    events: MonthEventLog,
    site: str,
    month: str,
    *,
    timezone: str,
    required: list[str],
) -> MonthFacts:
    w = month_window(month, timezone)
    agents = tuple(
        agent_progress(store, site, a.agent, w.start_ms, w.end_ms) for a in store.agents(site)
    )
    submitted = frozenset(
        p for p in required if next(iter(store.readings(site, w.start_ms, w.end_ms, param=p)), None)
    )
    latest = versions.latest(site, month)
    sealed = events.latest(site, month, "sealed")
    subm = events.latest(site, month, "submitted")
    return MonthFacts(
        site=site,
        month=month,
        agents=agents,
        required_submissions=tuple(required),
        submitted_params=submitted,
        latest_version=None if latest is None else latest.version,
        latest_sha256=None if latest is None else latest.record_sha256,
        sealed=None if sealed is None else sealed.as_dict(),
        submitted=None if subm is None else subm.as_dict(),
    )


def _months_between(first: str, last: str) -> list[str]:
    y, m = (int(x) for x in first.split("-"))
    ly, lm = (int(x) for x in last.split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append(f"{y:04d}-{m:02d}")
        y, m = y + (m == 12), m % 12 + 1
    return out


def _month_of(ms: int, tz: str) -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%Y-%m")


def site_months(
    store: Any,
    versions: RecordStore,
    events: MonthEventLog,
    site: str,
    *,
    timezone: str,
    submission: Any,
    now_ms: int,
    warn_days: float,
    months: list[str] | None = None,
) -> list[MonthStatus]:
    """Every month from the site's first evidence (or first record) to the current one."""
    if months is None:
        firsts = [v.month for v in versions.list(site)]
        for s in store.series(site):
            if getattr(s, "first_ts", None) is not None:
                firsts.append(_month_of(s.first_ts, timezone))
        if not firsts:
            return []
        months = _months_between(min(firsts), max(max(firsts), _month_of(now_ms, timezone)))
    out = []
    for month in months:
        f = month_facts(
            store,
            versions,
            events,
            site,
            month,
            timezone=timezone,
            required=list(submission.required_submissions),
        )
        st = month_state(f)
        dl = deadlines(
            month,
            timezone,
            platform_days=submission.platform_days,
            internal_days=submission.internal_days,
        )
        out.append(MonthStatus(f, st, dl, alarms_due(st, dl, now_ms, warn_days=warn_days)))
    return out


def deadline_alarms(cfg: Any, store: Any, now_ms: int) -> list[Any]:
    """``deadline_near`` alarms for every site-month whose deadline is near or past.

    One alarm per month and deadline (``internal``/``platform``); the notifier's repeat
    window keeps a standing one from going out more often than ``alarms.repeat_after_s``.
    """
    import dataclasses

    from collector.alarms import deadline_near
    from collector.config import SiteConfig

    out: list[Any] = []
    versions, events = store.records, store.month_events
    for site in sorted(set(store.sites()) | set(cfg.sites)):
        sc = cfg.sites.get(site) or SiteConfig()
        for ms in site_months(
            store,
            versions,
            events,
            site,
            timezone=sc.timezone,
            submission=sc.submission,
            now_ms=now_ms,
            warn_days=cfg.alarms.deadline_days,
        ):
            for name, ends in ms.due:
                a = deadline_near(site, ms.facts.month, ends, state=ms.state)
                out.append(
                    dataclasses.replace(
                        a,
                        subject=f"{ms.facts.month} {name}",
                        zh=f"{a.zh}（{'内部' if name == 'internal' else '平台'}截止）",
                        en=f"{a.en} [{name} deadline]",
                        detail={**a.detail, "deadline_kind": name},
                    )
                )
    return out
