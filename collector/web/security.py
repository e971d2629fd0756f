"""Web hardening in one ASGI middleware: security headers on every response, an
Origin/Referer check on state-changing requests (login CSRF included), and rate limits on
failed logins and bad tokens (429 with Retry-After).

Why a middleware: every route gets the same rules, including ones added later, and the
checks run before any route reads the body.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: No inline script anywhere (templates load /static/*.js); styles may be inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
#: Swagger UI loads its script from a CDN by design (``/docs`` is the offline reference).
CSP_EXEMPT = ("/docs/swagger",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Failed logins / requests with a bad token per client address and window before 429.
MAX_FAILURES = 10
WINDOW_S = 60.0


class FailureLimiter:
    """Failed authentications per client address in a sliding window."""

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._fails: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._fails.setdefault(client, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        q = self._recent(client, now)
        if len(q) < self.limit:
            return 0
        return max(1, math.ceil(q[0] + self.window_s - now))

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(client, now).append(now)
        if len(self._fails) > 10_000:  # bounded memory under a spray of addresses
            for k in list(self._fails)[:5_000]:
                del self._fails[k]


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k == name:
            return bytes(v).decode("latin-1")
    return None


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _own_origin(scope: Scope) -> str:
    host = _header(scope, b"host") or ""
    return f"{scope.get('scheme', 'http')}://{host}".lower()


def cross_origin(scope: Scope) -> str | None:
    """Why a state-changing request must be refused (None: it may proceed).

    Browsers send ``Sec-Fetch-Site`` (trusted when present) and ``Origin`` on every
    cross-site POST (and ``Referer`` unless told not to); they must name this server. A request with neither is a browser only if it carries
    the session cookie and no ``Authorization``: API clients (curl, scripts) send a token.
    """
    own = _own_origin(scope)
    # Fetch metadata first: under "Referrer-Policy: no-referrer" a browser's form POST says
    # "Origin: null" even on the same site, but Sec-Fetch-Site still tells the truth.
    site = _header(scope, b"sec-fetch-site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site {site}"
    origin = _header(scope, b"origin")
    if origin is not None and origin != "null":
        return None if origin.lower() == own else f"Origin {origin} is not this server"
    if origin == "null":
        return "Origin null (an opaque or sandboxed page) is not this server"
    referer = _header(scope, b"referer")
    if referer is not None:
        return None if _origin_of(referer) == own else "Referer is not this server"
    if _header(scope, b"authorization") is not None:
        return None
    return "a state-changing request from a browser must carry Origin or Referer"


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, limiter: FailureLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        client = (scope.get("client") or ("?", 0))[0]
        is_login = path == "/login" and scope.get("method") == "POST"
        authenticating = is_login or _header(scope, b"authorization") is not None
        headers = [h for h in HEADERS if not (path in CSP_EXEMPT and h[0] == HEADERS[0][0])]

        async def reply(status: int, message: str, extra: list[tuple[bytes, bytes]]) -> None:
            body = json.dumps(
                {"error": {"status": status, "code": _CODE[status], "message": message}}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        if authenticating:
            wait = self.limiter.retry_after(client)
            if wait:
                await reply(
                    429,
                    f"too many failed sign-ins or bad tokens; try again in {wait} s",
                    [(b"retry-after", str(wait).encode())],
                )
                return
        if scope.get("method") in UNSAFE_METHODS:
            why = cross_origin(scope)
            if why is not None:
                await reply(403, f"cross-origin request refused: {why}", [])
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message.get("status") == 401:
                    self.limiter.failed(client)
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_CODE = {403: "forbidden", 429: "too_many_requests"}
