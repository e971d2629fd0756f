"""Server-rendered pages (Jinja2) for verifiers and operators, bilingual 中文 / English.

Pages read the same ``WebSource`` as the API; the chart on the parameter page fetches the
series API with the session cookie. The login form is parsed by hand (urlencoded) so the
app needs no multipart dependency.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates

from collector.models import RecordVersion
from collector.records.explain import record_view
from collector.web.api import _agent_dict, _event_dict, _quarantine_dict, bundle_response
from collector.web.auth import COOKIE_NAME, page_principal, require_download, require_site
from collector.web.records import RecordsReader, bundle_path
from collector.web.source import WebSource, month_bounds
from collector.web.tokens import TokenInfo, TokenStore
from collector.web.verification import BundleVerifier, agent_states
from protocols.ids import ID_PATTERN
from protocols.submission import DOCUMENT_TYPES

router = APIRouter(include_in_schema=False)

User = Annotated[TokenInfo, Depends(page_principal)]
SiteId = Annotated[str, Path(pattern=ID_PATTERN)]
MonthRe = r"^\d{4}-(0[1-9]|1[0-2])$"
MonthQ = Annotated[str | None, Query(pattern=MonthRe)]


def _render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    ctx.setdefault("who", getattr(request.state, "principal", None))
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _src(request: Request) -> WebSource:
    return request.app.state.source


def _records(request: Request) -> RecordsReader:
    return request.app.state.records


def _verifier(request: Request) -> BundleVerifier:
    return request.app.state.verifier


def _default_month(request: Request, src: WebSource, site: str) -> str:
    """The latest month with a record; without any, the month of the newest data."""
    versions = _records(request).versions(site)
    if versions:
        return max(v.month for v in versions)
    return src.default_month(site)


def _site(request: Request, who: TokenInfo, site: str) -> WebSource:
    require_site(who, site)
    src = _src(request)
    if not src.has_site(site):
        raise HTTPException(404, f"site {site!r} not found")
    return src


def _shift_month(month: str, delta: int) -> str:
    y, m = (int(x) for x in month.split("-"))
    m += delta
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    return f"{y:04d}-{m:02d}"


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: the login form must not become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# -- login / logout ------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _render(request, "login.html", next=_safe_next(next), error=None, who=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    body = (await request.body())[:8192].decode("utf-8", errors="replace")
    form = parse_qs(body)
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    tokens: TokenStore = request.app.state.tokens
    who = tokens.authenticate(token)
    if who is None:
        return _render(
            request,
            "login.html",
            status=401,
            next=target,
            error="令牌无效或已撤销 · The token is not valid or has been revoked.",
            who=None,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=bool(request.app.state.secure_cookies),
        max_age=12 * 3600,
        path="/",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


# -- pages -----------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def index(request: Request, who: User) -> HTMLResponse:
    src = _src(request)
    rows = []
    for s in src.sites():
        if not who.can_read(s.id):
            continue
        agents = src.agents(s.id)
        rows.append(
            {
                "site": s,
                "agents": len(agents),
                "online": sum(1 for a in agents if a.online),
                "gaps": sum(len(a.gaps) for a in agents),
                "quarantined": sum(a.quarantined for a in agents),
                "latest": src.latest_ts(s.id),
            }
        )
    return _render(request, "index.html", rows=rows)


@router.get("/sites/{site}", response_class=HTMLResponse)
def overview(request: Request, who: User, site: SiteId, month: MonthQ = None) -> HTMLResponse:
    src = _site(request, who, site)
    info = src.site(site)
    m = month or _default_month(request, src, site)
    agents = [_agent_dict(a) for a in src.agents(site)]
    catalogue = {p.id: p for p in src.catalogue(site)}
    comp = src.completeness(site, m)
    start, end = month_bounds(m, info.timezone)
    effects = src.anode_effects(site, start, end)
    versions = _records(request).versions(site, m)
    rec_view = None
    if versions:
        try:
            rec_view = record_view(_records(request).record(versions[0]))
        except (OSError, ValueError):
            rec_view = None
    if rec_view is not None and rec_view["ae_count"] is not None:
        ae, ae_source = rec_view["ae_count"], "record"
    else:
        ae, ae_source = _live_ae_count(src, site, start, end, len(effects))
    return _render(
        request,
        "overview.html",
        site=info,
        month=m,
        prev_month=_shift_month(m, -1),
        next_month=_shift_month(m, 1),
        agents=agents,
        online=sum(1 for a in agents if a["online"]),
        open_gaps=sum(len(a["open_gaps"]) for a in agents),
        quarantined=src.quarantine_count(site),
        completeness=[(catalogue.get(c.param), c) for c in comp],
        signals=[p for p in catalogue.values() if not p.key and p.agents],
        effects=[_event_dict(e) for e in effects[-20:]],
        effect_count=ae,
        effect_source=ae_source,
        record=versions[0] if versions else None,
        rec_view=rec_view,
        month_running=start <= time.time() * 1000 < end,
    )


def _live_ae_count(src: WebSource, site: str, start: int, end: int, events: int) -> tuple[int, str]:
    """Anode effects so far, counted as the record will: the ``ae_count`` interval sums the
    agents derive from pot-controller counters when there are any, else detected events."""
    total, seen = 0.0, False
    for r in src.store.readings(site, start, end, param="ae_count"):
        if r.value is not None and r.quality != "bad":
            total += r.value
            seen = True
    if seen:
        return round(total), "counters"
    return events, "events"


@router.get("/sites/{site}/parameters/{param}", response_class=HTMLResponse)
def parameter(
    request: Request,
    who: User,
    site: SiteId,
    param: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")],
    month: MonthQ = None,
) -> HTMLResponse:
    src = _site(request, who, site)
    info = src.site(site)
    p = src.param(site, param)
    if p is None:
        raise HTTPException(404, f"parameter {param!r} is not known at site {site!r}")
    m = month or _default_month(request, src, site)
    start, end = month_bounds(m, info.timezone)
    return _render(
        request,
        "parameter.html",
        site=info,
        param=p,
        month=m,
        prev_month=_shift_month(m, -1),
        next_month=_shift_month(m, 1),
        start=start,
        end=end,
        has_data=bool(p.agents),
        is_counter=p.aggregation == "counter_delta",
        api_url=f"/api/v1/sites/{site}/parameters/{param}/series",
    )


@router.get("/sites/{site}/records", response_class=HTMLResponse)
def records(request: Request, who: User, site: SiteId) -> HTMLResponse:
    src = _site(request, who, site)
    months: dict[str, list[RecordVersion]] = {}
    for v in _records(request).versions(site):
        months.setdefault(v.month, []).append(v)
    return _render(request, "records.html", site=src.site(site), months=months)


MONTH_STATES: dict[str, tuple[str, str, str]] = {
    # state: (中文, English, what to do next)
    "open": ("未完成", "open", "evidence or lab results still missing"),
    "complete": ("数据齐全", "complete", "build the record"),
    "record_built": ("已生成", "record built", "seal the record"),
    "sealed": ("已封存", "sealed", "upload, then record the submission"),
    "submitted": ("已上报", "submitted", ""),
}


@router.get("/sites/{site}/months", response_class=HTMLResponse)
def months(request: Request, who: User, site: SiteId) -> HTMLResponse:
    """The month calendar: each month's state, what it still needs, and its deadlines."""
    from collector.config import SiteConfig
    from collector.records.month_status import site_months

    src = _site(request, who, site)
    sc = src.site_config.get(site) or SiteConfig()
    rows = site_months(
        src.store,
        src.store.records,
        src.store.month_events,
        site,
        timezone=getattr(sc, "timezone", "Asia/Shanghai"),
        submission=getattr(sc, "submission", SiteConfig().submission),
        now_ms=int(time.time() * 1000),
        warn_days=5.0,
    )
    years: dict[str, list[Any]] = {}
    for r in rows:
        years.setdefault(r.facts.month[:4], []).append(r)
    return _render(request, "months.html", site=src.site(site), years=years, states=MONTH_STATES)


def _pick(request: Request, site: str, month: str, version: int | None) -> RecordVersion:
    found = _records(request).versions(site, month)
    if version is not None:
        found = [v for v in found if v.version == version]
    if not found:
        raise HTTPException(404, f"no record for {site} {month} yet")
    return found[0]


@router.get("/sites/{site}/records/{month}", response_class=HTMLResponse)
def record(
    request: Request,
    who: User,
    site: SiteId,
    month: Annotated[str, Path(pattern=MonthRe)],
    version: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    src = _site(request, who, site)
    v = _pick(request, site, month, version)
    try:
        data = _records(request).record(v)
    except (OSError, ValueError):
        raise HTTPException(500, "the record file cannot be read") from None
    view = record_view(data)
    verification = _verifier(request).status(bundle_path(v))
    return _render(
        request,
        "record.html",
        site=src.site(site),
        month=month,
        version=v,
        versions=_records(request).versions(site, month),
        view=view,
        verification=verification,
        evidence=agent_states(view["evidence"], verification),
        can_download=who.can_download(site),
        submissions=data.get("submissions") or [],
    )


@router.get("/sites/{site}/records/{month}/bundle")
def record_bundle(
    request: Request,
    who: User,
    site: SiteId,
    month: Annotated[str, Path(pattern=MonthRe)],
    version: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    _site(request, who, site)
    require_download(who, site)
    return bundle_response(_pick(request, site, month, version))


@router.get("/sites/{site}/records/{month}/documents/{name}")
def record_document(
    request: Request,
    who: User,
    site: SiteId,
    month: Annotated[str, Path(pattern=MonthRe)],
    name: Annotated[str, Path(pattern=r"^[0-9a-f]{64}\.[a-z0-9]{1,5}$")],
    version: Annotated[int | None, Query(ge=1)] = None,
) -> FileResponse:
    """A supporting document of the record (``documents/SHA256.EXT`` of its bundle)."""
    _site(request, who, site)
    require_download(who, site)
    v = _pick(request, site, month, version)
    f = bundle_path(v) / "documents" / name
    if not f.is_file():
        raise HTTPException(404, f"document {name} is not in the bundle of {site} {month}")
    ext = name.rsplit(".", 1)[1]
    return FileResponse(
        f,
        media_type=DOCUMENT_TYPES.get(ext, "application/octet-stream"),
        filename=name,
    )


def _later_accepted(state: Any, seq: int | None, reason: str, kid: str | None) -> bool:
    """A rejected batch whose seq the agent's chain now holds (e.g. its key was enrolled
    afterwards and the agent republished): resolved. An ``unknown_kid`` rejection names no
    seq (the payload is not read): resolved once that kid is enrolled for this agent and
    its chain is stored without a gap. An equivocation never is."""
    if state is None or reason == "equivocation":
        return False
    if seq is None:
        return (
            reason == "unknown_kid"
            and kid in (state.kids or [])
            and state.contiguous_through >= 1
            and not state.gaps
        )
    if seq > state.highest_seq:
        return False
    return not any(lo <= seq <= hi for lo, hi in state.gaps)


@router.get("/sites/{site}/quarantine", response_class=HTMLResponse)
def quarantine(
    request: Request,
    who: User,
    site: SiteId,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    src = _site(request, who, site)
    limit = 100
    entries = src.quarantine(site, limit=limit, before_id=before_id)
    chains = {a.agent: a for a in src.agents(site)}
    rows = []
    for q in entries:
        row = _quarantine_dict(q)
        row["resolved"] = _later_accepted(chains.get(q.agent or ""), q.seq, q.reason, q.kid)
        rows.append(row)
    return _render(
        request,
        "quarantine.html",
        site=src.site(site),
        entries=rows,
        next_before_id=entries[-1].id if len(entries) == limit else None,
        can_download=who.can_download(site),
    )
