"""HTTP API ``/api/v1``: JSON over the evidence store, records and tokens.

Every route depends on ``api_principal`` (401 without a token) and checks the site grant
(404 for sites the token may not read) before touching data. Times are UTC epoch ms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from collector.models import RecordVersion
from collector.web.auth import api_principal, require_admin, require_download, require_site
from collector.web.counter_view import counter_marks, counter_spec, scale_series
from collector.web.downsample import DEFAULT_BUCKETS, MAX_BUCKETS
from collector.web.records import BuildUnavailable, RecordsReader, bundle_path, zip_stream
from collector.web.source import WebSource, month_bounds, month_of
from collector.web.tokens import TokenError, TokenInfo, TokenStore
from protocols.ids import ID_PATTERN
from protocols.reasons import describe_reason

router = APIRouter()

Who = Annotated[TokenInfo, Depends(api_principal)]
SiteId = Annotated[str, Path(pattern=ID_PATTERN, description="site id")]
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
MonthQ = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM in the site's time zone"),
]
#: Bounds of integers the store can hold: beyond them 422, never an overflow (500).
MAX_ID = 2**63 - 1
MAX_MS = 32503680000000  # year 3000, the payload schema's bound
StartQ = Annotated[
    int | None, Query(ge=0, le=MAX_MS, description="range start, UTC epoch ms (inclusive)")
]
EndQ = Annotated[
    int | None, Query(ge=0, le=MAX_MS, description="range end, UTC epoch ms (exclusive)")
]
EntryId = Annotated[int, Path(ge=1, le=MAX_ID)]
VersionN = Annotated[int, Path(ge=1, le=MAX_ID)]


def _source(request: Request) -> WebSource:
    return request.app.state.source


def _records(request: Request) -> RecordsReader:
    return request.app.state.records


def _site(request: Request, who: TokenInfo, site: str) -> WebSource:
    require_site(who, site)
    src = _source(request)
    if not src.has_site(site):
        raise HTTPException(404, f"site {site!r} not found")
    return src


def time_range(
    src: WebSource, site: str, start: int | None, end: int | None, month: str | None
) -> tuple[int, int]:
    """Explicit ``start``/``end`` win; else ``month``; else the month of the newest data."""
    tz = src.site(site).timezone
    m_start, m_end = month_bounds(month or src.default_month(site), tz)
    lo = start if start is not None else m_start
    hi = end if end is not None else (m_end if start is None else lo + (m_end - m_start))
    if hi <= lo:
        raise HTTPException(422, "end must be after start")
    return lo, hi


# -- who am I ----------------------------------------------------------------------------
@router.get("/me", summary="The calling token's name, role and sites")
def me(who: Who) -> dict[str, Any]:
    return who.as_dict()


# -- sites and agents --------------------------------------------------------------------
@router.get("/sites", summary="Sites this token may read")
def sites(request: Request, who: Who) -> dict[str, Any]:
    src = _source(request)
    return {"sites": [s.as_dict() for s in src.sites() if who.can_read(s.id)]}


@router.get("/sites/{site}", summary="One site and its summary")
def site(request: Request, who: Who, site: SiteId) -> dict[str, Any]:
    src = _site(request, who, site)
    agents = src.agents(site)
    return {
        **src.site(site).as_dict(),
        "agents": len(agents),
        "agents_online": sum(1 for a in agents if a.online),
        "open_gaps": sum(len(a.gaps) for a in agents),
        "quarantined": src.quarantine_count(site),
        "latest_reading": src.latest_ts(site),
        "current_month": src.default_month(site),
    }


def _agent_dict(a: Any) -> dict[str, Any]:
    status = a.status or {}
    return {
        "site": a.site,
        "agent": a.agent,
        "online": a.online,
        "last_seen": a.last_seen,
        "status_at": a.status_at,
        "last_contiguous_seq": a.contiguous_through,
        "highest_seq": a.highest_seq,
        "acked_through": a.acked_through,
        "stored_batches": a.stored_batches,
        "head_hash": a.head_hash,
        "open_gaps": [{"first_seq": g[0], "last_seq": g[1]} for g in a.gaps],
        "quarantined": a.quarantined,
        "equivocations": a.equivocations,
        "kids": a.kids,
        "agent_version": status.get("agent_version"),
        "config_hash": status.get("config_hash"),
        "clock": status.get("clock"),
        "devices": [d for d in status.get("devices") or [] if isinstance(d, dict)],
    }


@router.get("/sites/{site}/agents", summary="Agents: online state, last seen, chain position, gaps")
def agents(request: Request, who: Who, site: SiteId) -> dict[str, Any]:
    src = _site(request, who, site)
    return {"site": site, "agents": [_agent_dict(a) for a in src.agents(site)]}


# -- catalogue and time series ------------------------------------------------------------
@router.get("/sites/{site}/parameters", summary="Key-parameter catalogue of the site")
def parameters(request: Request, who: Who, site: SiteId) -> dict[str, Any]:
    src = _site(request, who, site)
    return {
        "site": site,
        "industry": src.site(site).industry,
        "parameters": [p.as_dict() for p in src.catalogue(site)],
    }


@router.get(
    "/sites/{site}/parameters/{param}/series",
    summary="Time series, downsampled to min/max/mean per bucket",
    description=(
        "Readings of one parameter in `[start, end)`. When there are more readings than "
        "`buckets`, each bucket carries min, max and mean (spikes survive zooming out); "
        "`t` is the bucket centre. `gaps` are spans without readings longer than 1.5 "
        "intervals (or readings without a value); `flagged_readings` lists readings whose "
        "quality is not good (substituted, uncertain, bad); `anode_effects` the events in "
        "range. Default range: the month (`month=`, else the month of the newest data)."
    ),
)
def series(
    request: Request,
    who: Who,
    site: SiteId,
    param: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")],
    start: StartQ = None,
    end: EndQ = None,
    month: MonthQ = None,
    buckets: Annotated[int, Query(ge=10, le=MAX_BUCKETS)] = DEFAULT_BUCKETS,
    agent: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> dict[str, Any]:
    src = _site(request, who, site)
    info = src.param(site, param)
    if info is None:
        raise HTTPException(404, f"parameter {param!r} is not known at site {site!r}")
    lo, hi = time_range(src, site, start, end, month)
    result = src.timeseries(site, param, lo, hi, buckets=buckets, agent=agent)
    subs = record_substitutions(_records(request), site, param, lo, hi, src.site(site).timezone)
    out = {"parameter": info.as_dict(), **result.as_dict(), "substitutions": subs}
    spec = counter_spec(src.site_config.get(site), param, info.aggregation)
    for f in out.get("flagged_readings") or []:
        f["cause"] = describe_reason(f.get("reason")) if f.get("reason") else ""
    out["clock_jumps"] = [
        {"ts": e.ts, "agent": e.agent, "jump_ms": e.data.get("jump_ms")}
        for e in src.store.events(site, lo, hi, type="clock_jump")
        if e.ts is not None and (agent is None or e.agent == agent)
    ][:500]
    out["poll_overruns"] = [
        {"start": e.start, "end": e.end, "agent": e.agent, "missed": e.data.get("missed")}
        for e in src.store.events(site, lo, hi, type="poll_overrun")
        if e.start is not None and e.end is not None and (agent is None or e.agent == agent)
    ][:500]
    out["counter"] = None
    if spec is not None:
        scale_series(out, spec.scale)
        raw = [
            (r.ts, r.value)
            for r in src.store.readings(site, lo, hi, param=param, agent=agent)
            if r.value is not None and r.quality != "bad"
        ]
        out["counter"] = {"scale": spec.scale, "marks": counter_marks(raw, spec)}
    return out


def record_substitutions(
    records: RecordsReader, site: str, param: str, start: int, end: int, tz: str
) -> list[dict[str, Any]]:
    """Substituted spans of ``param`` from the latest record version of each month in range."""
    out: list[dict[str, Any]] = []
    month = month_of(start, tz)
    last = month_of(max(start, end - 1), tz)
    for _ in range(240):  # at most 20 years of months
        versions = records.versions(site, month)
        if versions:
            try:
                record = records.record(versions[0])
            except (OSError, ValueError):
                record = {}
            for p in record.get("parameters") or []:
                if not isinstance(p, dict) or p.get("id") != param:
                    continue
                for sub in p.get("substitutions") or []:
                    try:
                        s_ms = _iso_ms(sub["start"])
                        e_ms = _iso_ms(sub["end"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if e_ms > start and s_ms < end:
                        out.append(
                            {
                                "start": s_ms,
                                "end": e_ms,
                                "rule": sub.get("rule"),
                                "value": sub.get("value"),
                                "record_version": versions[0].version,
                            }
                        )
        if month == last:
            break
        y, m = (int(x) for x in month.split("-"))
        month = f"{y + m // 12:04d}-{m % 12 + 1:02d}"
    return out


def _iso_ms(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(str(value)).timestamp() * 1000)


@router.get("/sites/{site}/completeness", summary="Completeness so far per key parameter")
def completeness(request: Request, who: Who, site: SiteId, month: MonthQ = None) -> dict[str, Any]:
    src = _site(request, who, site)
    m = month or src.default_month(site)
    return {
        "site": site,
        "month": m,
        "parameters": [
            {
                "id": c.param,
                "interval_ms": c.interval_ms,
                "expected_intervals": c.expected,
                "valid_intervals": c.valid,
                "readings": c.readings,
                "completeness": c.completeness,
                "last_reading": c.last_ts,
            }
            for c in src.completeness(site, m)
        ],
    }


# -- events ------------------------------------------------------------------------------
def _event_dict(e: Any) -> dict[str, Any]:
    return {
        "agent": e.agent,
        "seq": e.seq,
        "type": e.type,
        "ts": e.ts,
        "start": e.start,
        "end": e.end,
        "cell": e.cell,
        "peak_v": e.peak_v,
        "duration_s": (e.end - e.start) / 1000
        if e.start is not None and e.end is not None
        else None,
        "data": e.data,
    }


@router.get("/sites/{site}/anode-effects", summary="Anode-effect events in a time range")
def anode_effects(
    request: Request,
    who: Who,
    site: SiteId,
    start: StartQ = None,
    end: EndQ = None,
    month: MonthQ = None,
) -> dict[str, Any]:
    src = _site(request, who, site)
    lo, hi = time_range(src, site, start, end, month)
    events = src.anode_effects(site, lo, hi)
    return {"site": site, "start": lo, "end": hi, "events": [_event_dict(e) for e in events]}


@router.get("/sites/{site}/events", summary="Events of any type in a time range")
def events(
    request: Request,
    who: Who,
    site: SiteId,
    start: StartQ = None,
    end: EndQ = None,
    month: MonthQ = None,
    type: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,64}$")] = None,
) -> dict[str, Any]:
    src = _site(request, who, site)
    lo, hi = time_range(src, site, start, end, month)
    return {
        "site": site,
        "start": lo,
        "end": hi,
        "events": [_event_dict(e) for e in src.events(site, lo, hi, type)],
    }


# -- quarantine --------------------------------------------------------------------------
def _quarantine_dict(q: Any) -> dict[str, Any]:
    return dict(q.as_dict())


Limit = Annotated[int, Query(ge=1, le=1000)]
BeforeId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="page: entries with id below this")
]
Reason = Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")]


@router.get("/sites/{site}/quarantine", summary="Quarantined messages of a site, newest first")
def site_quarantine(
    request: Request,
    who: Who,
    site: SiteId,
    limit: Limit = 100,
    before_id: BeforeId = None,
    reason: Reason = None,
) -> dict[str, Any]:
    src = _site(request, who, site)
    entries = src.quarantine(site, limit=limit, before_id=before_id, reason=reason)
    return {
        "site": site,
        "entries": [_quarantine_dict(q) for q in entries],
        "next_before_id": entries[-1].id if len(entries) == limit else None,
    }


@router.get("/quarantine", summary="All quarantined messages, incl. unattributed (admin)")
def all_quarantine(
    request: Request,
    who: Who,
    limit: Limit = 100,
    before_id: BeforeId = None,
    reason: Reason = None,
) -> dict[str, Any]:
    require_admin(who)
    entries = _source(request).quarantine(None, limit=limit, before_id=before_id, reason=reason)
    return {
        "entries": [_quarantine_dict(q) for q in entries],
        "next_before_id": entries[-1].id if len(entries) == limit else None,
    }


def _quarantine_entry(request: Request, who: TokenInfo, entry_id: int) -> Any:
    q = _source(request).quarantine_entry(entry_id)
    if q is None or not (who.role == "admin" or (q.site is not None and who.can_read(q.site))):
        raise HTTPException(404, f"quarantine entry {entry_id} not found")
    return q


@router.get("/quarantine/{entry_id}", summary="One quarantined message's metadata")
def quarantine_entry(request: Request, who: Who, entry_id: EntryId) -> dict[str, Any]:
    return _quarantine_dict(_quarantine_entry(request, who, entry_id))


@router.get(
    "/quarantine/{entry_id}/raw",
    summary="The quarantined bytes as received (verifier, admin)",
    response_class=Response,
)
def quarantine_raw(request: Request, who: Who, entry_id: EntryId) -> Response:
    q = _quarantine_entry(request, who, entry_id)
    if who.role != "admin":
        require_download(who, q.site)
    return Response(
        q.raw,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="quarantine-{q.id}.bin"',
            "X-Content-SHA256": q.sha256,
            "X-Original-Size": str(q.size),
        },
    )


# -- records -------------------------------------------------------------------------------
def _versions(request: Request, site: str, month: str | None = None) -> list[RecordVersion]:
    return _records(request).versions(site, month)


def _version(request: Request, site: str, month: str, version: int | None) -> RecordVersion:
    found = _versions(request, site, month)
    if version is not None:
        found = [v for v in found if v.version == version]
    if not found:
        what = f"version {version} of " if version is not None else ""
        raise HTTPException(404, f"no {what}record for {site} {month}")
    return found[0]


@router.get("/sites/{site}/records", summary="Monthly records of a site with their versions")
def records(request: Request, who: Who, site: SiteId) -> dict[str, Any]:
    _site(request, who, site)
    months: dict[str, list[dict[str, Any]]] = {}
    for v in _versions(request, site):
        months.setdefault(v.month, []).append(v.as_dict())
    return {
        "site": site,
        "records": [
            {"month": m, "latest_version": vs[0]["version"], "versions": vs}
            for m, vs in months.items()
        ],
    }


def _record_response(request: Request, v: RecordVersion) -> dict[str, Any]:
    try:
        record = _records(request).record(v)
    except (OSError, ValueError):
        raise HTTPException(500, f"record {v.site} {v.month} v{v.version} cannot be read") from None
    versions = [x.as_dict() for x in _versions(request, v.site, v.month)]
    return {**v.as_dict(), "versions": versions, "record": record}


@router.get("/sites/{site}/records/{month}", summary="The latest version of a monthly record")
def record(request: Request, who: Who, site: SiteId, month: Month) -> dict[str, Any]:
    _site(request, who, site)
    return _record_response(request, _version(request, site, month, None))


@router.get(
    "/sites/{site}/records/{month}/versions/{version}", summary="One version of a monthly record"
)
def record_version(
    request: Request, who: Who, site: SiteId, month: Month, version: VersionN
) -> dict[str, Any]:
    _site(request, who, site)
    return _record_response(request, _version(request, site, month, version))


def bundle_response(v: RecordVersion) -> StreamingResponse:
    if not (bundle_path(v) / "record.json").is_file():
        raise HTTPException(
            404, f"the bundle of {v.site} {v.month} v{v.version} is not on this collector"
        )
    name = f"mrv-{v.site}-{v.month}-v{v.version}"
    return StreamingResponse(
        zip_stream(bundle_path(v), name),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@router.get(
    "/sites/{site}/records/{month}/bundle",
    summary="Evidence bundle of the latest version as a zip (verifier, admin)",
    response_class=StreamingResponse,
)
def bundle_latest(request: Request, who: Who, site: SiteId, month: Month) -> StreamingResponse:
    _site(request, who, site)
    require_download(who, site)
    return bundle_response(_version(request, site, month, None))


@router.get(
    "/sites/{site}/records/{month}/versions/{version}/bundle",
    summary="Evidence bundle of one version as a zip (verifier, admin)",
    response_class=StreamingResponse,
)
def bundle(
    request: Request, who: Who, site: SiteId, month: Month, version: VersionN
) -> StreamingResponse:
    _site(request, who, site)
    require_download(who, site)
    return bundle_response(_version(request, site, month, version))


class BuildRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=1000)


@router.post(
    "/sites/{site}/records/{month}/build",
    status_code=201,
    summary="Build, sign and store the next version of a monthly record (admin)",
    description="Like `mrv-collector record build`; rebuilding a month needs a `reason`.",
)
def build(
    request: Request,
    who: Who,
    site: SiteId,
    month: Month,
    body: Annotated[BuildRequest, Body()] = BuildRequest(),
) -> dict[str, Any]:
    require_admin(who)
    _site(request, who, site)
    builder = request.app.state.builder
    if builder is None:
        raise HTTPException(
            503, "this web app cannot build records; use mrv-collector record build"
        )
    from protocols.errors import MrvError

    try:
        return builder(site, month, body.reason)
    except BuildUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except (MrvError, ValueError) as exc:  # RecordError, MethodError, KeyFileError
        raise HTTPException(409 if "reason" in str(exc) else 422, str(exc)) from None


# -- admin: tokens and keys ------------------------------------------------------------------
class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern=r"^(viewer|verifier|admin)$")
    sites: list[Annotated[str, Field(pattern=ID_PATTERN)]] = []


def _tokens(request: Request) -> TokenStore:
    return request.app.state.tokens


@router.get("/tokens", summary="API tokens (admin); never the secrets")
def list_tokens(request: Request, who: Who) -> dict[str, Any]:
    require_admin(who)
    return {"tokens": [t.as_dict() for t in _tokens(request).list()]}


@router.post("/tokens", status_code=201, summary="Create a token (admin); shown once")
def add_token(request: Request, who: Who, body: Annotated[NewToken, Body()]) -> dict[str, Any]:
    require_admin(who)
    try:
        token, info = _tokens(request).add(body.name, body.role, body.sites)
    except TokenError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"token": token, **info.as_dict()}


@router.delete("/tokens/{token_id}", summary="Revoke a token (admin)")
def revoke_token(request: Request, who: Who, token_id: EntryId) -> dict[str, Any]:
    require_admin(who)
    try:
        return _tokens(request).revoke(token_id).as_dict()
    except TokenError as exc:
        raise HTTPException(404, str(exc)) from None


class NewKey(BaseModel):
    agent: str = Field(pattern=ID_PATTERN)
    jwk: dict[str, Any]
    valid_from: int | None = Field(default=None, ge=0, le=MAX_MS)
    valid_to: int | None = Field(default=None, ge=0, le=MAX_MS)


@router.get("/sites/{site}/keys", summary="Enrolled agent keys of a site")
def keys(request: Request, who: Who, site: SiteId) -> dict[str, Any]:
    require_site(who, site)
    store = request.app.state.admin_store
    if not hasattr(store, "keys"):
        raise HTTPException(503, "this store does not list keys")
    return {"site": site, "keys": [k.as_dict() for k in store.keys(site)]}


@router.post("/sites/{site}/keys", status_code=201, summary="Enroll an agent's public key (admin)")
def enroll(
    request: Request, who: Who, site: SiteId, body: Annotated[NewKey, Body()]
) -> dict[str, Any]:
    require_admin(who)
    store = request.app.state.admin_store
    if not hasattr(store, "enroll_key"):
        raise HTTPException(503, "this store does not accept key enrolment")
    try:
        key = store.enroll_key(
            site, body.agent, body.jwk, valid_from=body.valid_from, valid_to=body.valid_to
        )
    except Exception as exc:  # the store's own error names the problem (StoreError)
        if getattr(exc, "reason", None) != "store":
            raise
        raise HTTPException(409 if "already" in str(exc) else 422, str(exc)) from None
    return key.as_dict()
