"""Who is asking: a bearer token (API) or the session cookie the login form sets (pages).

The cookie carries the token itself, HttpOnly and SameSite=Strict, so page scripts cannot
read it and other sites cannot make the browser send it. State-changing API calls accept
only the ``Authorization`` header, which a cross-site form can never set: no CSRF tokens
needed.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from collector.web.tokens import TokenInfo, TokenStore

COOKIE_NAME = "mrv_session"

bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `mrv-collector token add` (starts with `mrv_`).",
)


class LoginRequired(Exception):
    """A page was asked for without a valid session: send the browser to the login form."""


def token_store(request: Request) -> TokenStore:
    return request.app.state.tokens


def _lookup(request: Request, creds: HTTPAuthorizationCredentials | None) -> TokenInfo | None:
    tokens = token_store(request)
    if creds is not None:
        return tokens.authenticate(creds.credentials)
    if request.method in ("GET", "HEAD"):
        return tokens.authenticate(request.cookies.get(COOKIE_NAME))
    return None


def api_principal(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> TokenInfo:
    """The API caller; 401 (with ``WWW-Authenticate: Bearer``) without a valid token."""
    who = _lookup(request, creds)
    if who is None:
        raise HTTPException(
            status_code=401,
            detail="a valid API token is required (Authorization: Bearer mrv_...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = who
    return who


def page_principal(request: Request) -> TokenInfo:
    """The browser user; redirects to the login page without a valid session cookie."""
    who = token_store(request).authenticate(request.cookies.get(COOKIE_NAME))
    if who is None:
        raise LoginRequired()
    request.state.principal = who
    return who


def require_admin(who: TokenInfo) -> None:
    if who.role != "admin":
        raise HTTPException(status_code=403, detail="this needs an admin token")


def require_site(who: TokenInfo, site: str) -> None:
    """A site the token is not granted is reported exactly like a site that does not exist
    (404): a viewer of one plant learns nothing about which other plants are connected."""
    if not who.can_read(site):
        raise HTTPException(status_code=404, detail=f"site {site!r} not found")


def require_download(who: TokenInfo, site: str) -> None:
    require_site(who, site)
    if not who.can_download(site):
        raise HTTPException(
            status_code=403, detail="downloading evidence needs a verifier or admin token"
        )
