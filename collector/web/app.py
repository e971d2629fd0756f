"""The FastAPI app factory: API under ``/api/v1``, server-rendered pages, static files.

Mount it in ``mrv-collector run`` with ``http: {enabled: true, app: "collector.web:collector_app"}``
(the collector calls ``collector_app(collector)``), or build one directly with
``create_app(store, ...)`` for tests and tools.

Errors are always answered in the caller's language: JSON ``{"error": {...}}`` under
``/api/``, an HTML page elsewhere; never a stack trace.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.store import EvidenceStore
from collector.web.auth import LoginRequired
from collector.web.records import RecordsReader, record_builder, records_for
from collector.web.source import WebSource
from collector.web.tokens import TokenStore
from collector.web.verification import BundleVerifier

log = logging.getLogger("mrv.web")

HERE = Path(__file__).resolve().parent
API_PREFIX = "/api/v1"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}

_TITLES = {
    400: ("请求无效", "Bad request"),
    401: ("需要登录", "Sign-in required"),
    403: ("无权访问", "Access denied"),
    404: ("未找到", "Not found"),
    405: ("不支持的方法", "Method not allowed"),
    422: ("请求参数无效", "Invalid request"),
    500: ("服务器错误", "Server error"),
}


def create_app(
    store: EvidenceStore,
    *,
    sites: dict[str, Any] | None = None,
    records: RecordsReader | None = None,
    records_dir: Path | str | None = None,
    tokens: TokenStore | None = None,
    secure_cookies: bool = False,
    admin_store: Any | None = None,
    builder: Any | None = None,
) -> FastAPI:
    """Build the web app over an evidence store.

    Tokens, records and the time-series reads come from the store itself; ``sites`` the
    collector config's site table (names, industry, time
    zone); ``records``/``records_dir`` where monthly records and bundles are read from;
    ``admin_store`` the writable store for admin actions such as key enrolment (default:
    ``store`` when it can enroll); ``builder`` a ``build(site, month, reason) -> dict`` for
    the admin record-build endpoint (see ``records.record_builder``; absent: 503).
    """
    source = WebSource(store, sites=sites)
    app = FastAPI(
        title="Plant MRV collector API",
        description=(
            "Read-only evidence of a Plant MRV collector (月度存证): sites, agents, the key-parameter "
            "catalogue, downsampled time series, anode effects, quarantine, monthly records and "
            "their evidence bundles. Every call needs a token: `Authorization: Bearer mrv_...` "
            "(create one with `mrv-collector token add`). Roles: viewer (read granted sites), "
            "verifier (also download bundles and quarantined bytes), admin (everything, all "
            "sites, tokens and key enrolment). A site a token is not granted answers 404, like "
            "a site that does not exist. Times are UTC epoch milliseconds."
        ),
        version="1",
        docs_url=None,  # our own /docs works offline; Swagger UI (CDN) at /docs/swagger
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.source = source
    app.state.tokens = tokens or TokenStore(store.tokens)
    app.state.records = records or records_for(records_dir, store.records)
    app.state.secure_cookies = secure_cookies
    app.state.admin_store = admin_store if admin_store is not None else store
    app.state.builder = builder
    app.state.verifier = BundleVerifier()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    _template_globals(templates)
    app.state.templates = templates

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from collector.web.api import router as api_router
    from collector.web.pages import router as page_router

    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(page_router)
    _install_docs(app, templates)
    _install_error_handlers(app)
    from collector.web.security import SecurityMiddleware

    app.add_middleware(SecurityMiddleware)
    return app


def collector_app(collector: Any) -> FastAPI:
    """``http.app`` hook: the web app for a running ``collector.service.Collector``."""
    cfg = collector.config
    records_dir = Path(cfg.data_dir) / "records"
    app = create_app(
        collector.store,
        sites=cfg.sites,
        records_dir=records_dir,
        secure_cookies=cfg.http.tls is not None,  # Secure cookies whenever served over TLS
        builder=record_builder(
            collector.store,
            cfg.sites,
            records_dir,
            cfg.signing_key,
            documents=collector.store.documents,
        ),
    )
    app.state.documents = collector.store.documents
    from collector.metrics import collector_metrics
    from protocols.prom import CONTENT_TYPE

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(collector_metrics(collector), media_type=CONTENT_TYPE)

    app.state.alarms = collector.alarms
    return app


def _template_globals(templates: Jinja2Templates) -> None:
    from collector.web import fmt

    env = templates.env
    env.globals["fmt"] = fmt
    env.filters["ts"] = fmt.ts
    env.filters["num"] = fmt.num
    env.filters["pct"] = fmt.pct
    env.filters["ago"] = fmt.ago


def _install_docs(app: FastAPI, templates: Jinja2Templates) -> None:
    """``/docs``: the API reference rendered here from the OpenAPI schema, so it works on an
    offline plant network; ``/docs/swagger``: FastAPI's Swagger UI, which loads from a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> Response:
        return templates.TemplateResponse(
            request, "api_docs.html", {"spec": app.openapi(), "who": None}
        )

    @app.get("/docs/swagger", include_in_schema=False, response_class=HTMLResponse)
    def swagger() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} (Swagger UI)")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in ("/openapi.json",)


def error_json(status: int, message: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "code": _CODES.get(status, "error"), "message": message}},
        status_code=status,
        headers=headers,
    )


def error_page(request: Request, status: int, message: str) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    zh, en = _TITLES.get(status, ("错误", "Error"))
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "title_zh": zh,
            "title_en": en,
            "message": message,
            "who": getattr(request.state, "principal", None),
        },
        status_code=status,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        if _wants_json(request):
            return error_json(exc.status_code, message, getattr(exc, "headers", None))
        return error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('query', 'path', 'body'))}: "
            f"{e.get('msg')}"
            for e in exc.errors()
        ]
        if _wants_json(request):
            return error_json(422, "; ".join(problems))
        return error_page(request, 400, "; ".join(problems))

    @app.exception_handler(OverflowError)
    async def _too_big(request: Request, exc: OverflowError) -> Response:
        # a number beyond what the store holds slipped past a bound: the caller's fault
        message = "a number in the request is out of range"
        if _wants_json(request):
            return error_json(422, message)
        return error_page(request, 422, message)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "an internal error occurred; it has been logged"
        if _wants_json(request):
            return error_json(500, message)
        return error_page(request, 500, message)
