"""The web layer's read side: everything pages and API show, on top of the evidence store.

The store (``collector.store.EvidenceStore``) answers agents, series, events and quarantine,
and aggregates the time series inside the database (``bucket_stats``, ``points``,
``reading_times``, ``completeness_counts``), so a month of one-minute data comes back as
~1000 buckets instead of 43 200 Python objects. Gaps are found here in one pass over the
ordered timestamps (``downsample.find_gaps``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.models import AgentState, QuarantineEntry, StoredEvent
from collector.store import EvidenceStore
from collector.web.downsample import Series, bucket_width, find_gaps, typical_interval


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: str
    name: str
    industry: str
    timezone: str

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "industry": self.industry,
            "timezone": self.timezone,
        }


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """A key parameter as the UI labels it; names fall back to the id when unknown."""

    id: str
    name_en: str
    name_zh: str
    unit: str
    aggregation: str
    key: bool = True  # listed in the site's catalogue (vs. only seen in the data)
    agents: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_en": self.name_en,
            "name_zh": self.name_zh,
            "unit": self.unit,
            "aggregation": self.aggregation,
            "in_catalogue": self.key,
            "agents": list(self.agents),
        }


@dataclass(slots=True)
class TimeSeriesResult:
    site: str
    param: str
    start: int
    end: int
    interval_ms: int
    series: Series
    gaps: list[tuple[int, int]]
    flagged: list[dict[str, Any]] = field(default_factory=list)
    anode_effects: list[dict[str, Any]] = field(default_factory=list)
    readings: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "param": self.param,
            "start": self.start,
            "end": self.end,
            "interval_ms": self.interval_ms,
            "readings": self.readings,
            **self.series.as_dict(),
            "gaps": [list(g) for g in self.gaps],
            "flagged_readings": self.flagged,
            "anode_effects": self.anode_effects,
        }


@dataclass(frozen=True, slots=True)
class ParamCompleteness:
    param: str
    interval_ms: int
    expected: int
    valid: int
    readings: int
    last_ts: int | None

    @property
    def completeness(self) -> float:
        return self.valid / self.expected if self.expected else 0.0


def month_bounds(month: str, tz: str) -> tuple[int, int]:
    """``YYYY-MM`` in the site's time zone → ``[start, end)`` in UTC epoch ms."""
    year, mon = (int(x) for x in month.split("-"))
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def month_of(ms: int, tz: str) -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%Y-%m")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


MAX_FLAGGED = 500


class WebSource:
    """Read-only view over the evidence store, the site config and the parameter catalogue."""

    def __init__(self, store: EvidenceStore, *, sites: dict[str, Any] | None = None) -> None:
        self.store = store
        self.site_config = dict(sites or {})

    # -- sites and catalogue ------------------------------------------------------------
    def sites(self) -> list[SiteInfo]:
        ids = set(self.store.sites()) | set(self.site_config)
        return [self.site(s) for s in sorted(ids)]

    def site(self, site: str) -> SiteInfo:
        cfg = self.site_config.get(site)
        return SiteInfo(
            id=site,
            name=(getattr(cfg, "name", None) or site),
            industry=getattr(cfg, "industry", None) or "generic",
            timezone=getattr(cfg, "timezone", None) or "Asia/Shanghai",
        )

    def has_site(self, site: str) -> bool:
        return site in self.site_config or site in self.store.sites()

    def agents(self, site: str) -> list[AgentState]:
        return self.store.agents(site)

    def catalogue(self, site: str) -> list[ParamInfo]:
        """Key parameters: the industry catalogue, what agents announced at birth, what is stored."""
        info = self.site(site)
        found: dict[str, ParamInfo] = {}
        for entry in _industry_catalogue(info.industry):
            found[entry.id] = entry
        # as the monthly record decides: the industry catalogue plus the ids the site's
        # record settings declare; a site without a catalogue takes what agents announce
        declared = self._declared_keys(site)
        open_list = not found
        announced: dict[str, dict[str, Any]] = {}
        for agent in self.store.agents(site):
            for item in (agent.status or {}).get("catalogue") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    announced.setdefault(item["id"], item)
        for pid, item in announced.items():
            if pid not in found:
                found[pid] = ParamInfo(
                    id=pid,
                    name_en=str(item.get("name_en") or item.get("name") or pid),
                    name_zh=str(item.get("name_zh") or ""),
                    unit=str(item.get("unit") or ""),
                    aggregation=str(item.get("aggregation") or ""),
                    key=open_list or pid in declared,
                )
        by_param: dict[str, list[str]] = {}
        for agent_id, param in self._series_names(site):
            by_param.setdefault(param, []).append(agent_id)
        for pid, agents in by_param.items():
            base = found.get(pid) or _known_param(pid) or ParamInfo(pid, pid, "", "", "", key=False)
            found[pid] = ParamInfo(
                base.id,
                base.name_en,
                base.name_zh,
                base.unit,
                base.aggregation,
                base.key or pid in declared,
                tuple(sorted(agents)),
            )
        return list(found.values())  # catalogue order first, then what only the data shows

    def _declared_keys(self, site: str) -> set[str]:
        """``key_parameters`` of the site's record settings (uncatalogued ids it declares key)."""
        records = getattr(self.site_config.get(site), "records", None) or {}
        ids = records.get("key_parameters") if isinstance(records, dict) else None
        return {str(x) for x in ids} if isinstance(ids, list | tuple) else set()

    def param(self, site: str, param: str) -> ParamInfo | None:
        return next((p for p in self.catalogue(site) if p.id == param), None)

    def _series_names(self, site: str) -> list[tuple[str, str]]:
        """(agent, param) of every stored series, without ``store.series``'s row counts."""
        return self.store.series_names(site)

    def latest_ts(self, site: str) -> int | None:
        """Newest reading of the site."""
        return self.store.latest_ts(site)

    def default_month(self, site: str) -> str:
        """The month of the newest data (this month while data flows), else this month."""
        tz = self.site(site).timezone
        return month_of(self.latest_ts(site) or _now_ms(), tz)

    # -- time series --------------------------------------------------------------------
    def interval_ms(self, site: str, param: str, agent: str | None = None) -> int:
        return typical_interval(self.store.recent_times(site, param, agent, 64))

    def timeseries(
        self,
        site: str,
        param: str,
        start: int,
        end: int,
        *,
        buckets: int,
        agent: str | None = None,
    ) -> TimeSeriesResult:
        interval = self.interval_ms(site, param, agent)
        store = self.store
        out = Series()
        width = bucket_width(start, end, buckets)
        grouped = store.bucket_stats(site, param, agent, start, end, width)
        count = sum(b.count for b in grouped)
        if count <= buckets:
            for p in store.points(site, param, agent, start, end):
                out.t.append(p.ts)
                out.mean.append(p.value)
                out.min.append(p.min)
                out.max.append(p.max)
                out.n.append(0 if p.value is None else 1)
                out.flagged.append(0 if p.quality == "good" else 1)
        else:
            out.bucket_ms = width
            for b in grouped:
                out.t.append(start + b.index * width + width // 2)
                out.mean.append(b.mean)
                out.min.append(b.min)
                out.max.append(b.max)
                out.n.append(b.n)
                out.flagged.append(b.flagged)
        gaps = find_gaps(store.reading_times(site, param, agent, start, end), start, end, interval)
        flagged = [
            {"ts": ts, "value": value, "quality": quality, "reason": reason}
            for ts, value, quality, reason in store.flagged_readings(
                site, param, agent, start, end, MAX_FLAGGED
            )
        ]
        gaps = _bad_as_gaps(gaps, flagged, interval)
        effects = [
            {
                "agent": e.agent,
                "cell": e.cell,
                "start": e.start,
                "end": e.end,
                "peak_v": e.peak_v,
            }
            for e in self.store.events(site, start, end, type="anode_effect")
        ]
        return TimeSeriesResult(
            site, param, start, end, interval, out, gaps, flagged, effects, count
        )

    # -- completeness so far ------------------------------------------------------------
    def completeness(
        self, site: str, month: str, now: int | None = None
    ) -> list[ParamCompleteness]:
        """Per key parameter: valid ÷ expected intervals from the month's start until now (or
        its end). Other measured signals are not key figures and get no completeness.

        An interval reading is valid when it carries a value, is not ``bad`` and, when it
        reports ``count``/``expected`` samples, has at least 80 % of them (data_quality).
        """
        from protocols.methods.data_quality import VALID_FRACTION

        tz = self.site(site).timezone
        start, end = month_bounds(month, tz)
        until = min(end, now if now is not None else _now_ms())
        out: list[ParamCompleteness] = []
        for p in self.catalogue(site):
            if not p.key:
                continue
            interval = self.interval_ms(site, p.id) if p.agents else 60_000
            expected = max(0, (until - start) // interval) if until > start else 0
            valid = n = 0
            last: int | None = None
            if p.agents:
                valid, n, last = self.store.completeness_counts(
                    site, p.id, start, until, VALID_FRACTION
                )
            out.append(
                ParamCompleteness(
                    p.id,
                    interval,
                    int(expected),
                    min(int(valid), int(expected)) if expected else int(valid),
                    int(n),
                    last,
                )
            )
        return out

    # -- events and quarantine ----------------------------------------------------------
    def anode_effects(self, site: str, start: int | None, end: int | None) -> list[StoredEvent]:
        return self.store.events(site, start, end, type="anode_effect")

    def events(
        self, site: str, start: int | None, end: int | None, type: str | None
    ) -> list[StoredEvent]:
        return self.store.events(site, start, end, type=type)

    def quarantine(
        self,
        site: str | None,
        *,
        limit: int = 100,
        before_id: int | None = None,
        reason: str | None = None,
    ) -> list[QuarantineEntry]:
        return self.store.quarantine_entries(
            site=site, limit=limit, before_id=before_id, reason=reason
        )

    def quarantine_count(self, site: str) -> int:
        return sum(a.quarantined for a in self.store.agents(site))

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None:
        return self.store.quarantine_entry(entry_id)


def _bad_as_gaps(
    gaps: list[tuple[int, int]], flagged: list[dict[str, Any]], interval: int
) -> list[tuple[int, int]]:
    """Readings without a value are holes too: shade their interval like a missing one."""
    spans = list(gaps)
    for f in flagged:
        if f["value"] is None:
            spans.append((f["ts"] - interval, f["ts"]))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _param_info(p: Any, *, key: bool = True) -> ParamInfo:
    return ParamInfo(
        id=p.id,
        name_en=p.name_en,
        name_zh=p.name_zh,
        unit=p.unit,
        aggregation=str(p.aggregation),
        key=key,
    )


def _industry_catalogue(industry: str) -> list[ParamInfo]:
    """The shared parameter catalogue (``protocols.catalogue``) for the site's industry."""
    from protocols import catalogue

    try:
        return [_param_info(p) for p in catalogue.catalogue(industry)]
    except (KeyError, ValueError):
        return []  # unknown: no fixed catalogue, names come from agents and data


def _known_param(pid: str) -> ParamInfo | None:
    """Names and unit of a parameter outside the site's industry list, if the catalogue has it."""
    from protocols import catalogue

    try:
        return _param_info(catalogue.parameter(pid), key=False)
    except (KeyError, ValueError):
        return None


def decode_json(text: str | None) -> Any:
    return json.loads(text) if text else None
