"""API tokens for the web UI and HTTP API, kept hashed in the evidence store.

A token is 256 bits from ``secrets``; only its SHA-256 is stored, so a copy of the database
does not grant access. A slow password hash is unnecessary for high-entropy secrets. The
rows live in the store's token table (``collector.store``, ``store.tokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from collector.models import ROLES, Role, TokenInfo
from collector.store.interface import TokenTable
from protocols.errors import MrvError
from protocols.ids import validate_id

__all__ = ["ROLES", "TOKEN_PREFIX", "Role", "TokenError", "TokenInfo", "TokenStore", "hash_token"]

TOKEN_PREFIX = "mrv_"


class TokenError(MrvError):
    reason = "token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TokenStore:
    """Create, look up and revoke tokens, kept in the evidence store's token table."""

    def __init__(self, table: TokenTable) -> None:
        self.table = table

    def add(
        self, name: str, role: str, sites: list[str] | tuple[str, ...] = ()
    ) -> tuple[str, TokenInfo]:
        """Create a token; return it (shown once, never stored) and its metadata."""
        if role not in ROLES:
            raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        name = name.strip()
        if not name or len(name) > 200:
            raise TokenError("token name must be 1 to 200 characters")
        clean = tuple(dict.fromkeys(validate_id(s, "site") for s in sites))
        if role != "admin" and not clean:
            raise TokenError(f"a {role} token needs at least one --site")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        hint = token[: len(TOKEN_PREFIX) + 6]
        info = self.table.add(name, role, clean, hash_token(token), hint, _now_ms())
        return token, info

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        return self.table.list(include_revoked=include_revoked)

    def revoke(self, ident: str | int) -> TokenInfo:
        """Revoke by numeric id or by name (a name must be unambiguous among active tokens)."""
        if isinstance(ident, int) or str(ident).isdigit():
            found = self.table.by_id(int(ident))
            rows = [] if found is None else [found]
        else:
            rows = self.table.active_named(str(ident))
        if not rows:
            raise TokenError(f"no active token {ident!r}")
        if len(rows) > 1:
            raise TokenError(f"{len(rows)} active tokens are named {ident!r}; revoke by id")
        info = self.table.revoke(rows[0].id, _now_ms())
        assert info is not None
        return info

    def authenticate(self, token: str | None) -> TokenInfo | None:
        """Return the active token's metadata, or None; the hash comparison is constant-time."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        found = self.table.by_hash(digest)
        if found is None or not hmac.compare_digest(found[0], digest):
            return None
        info = found[1]
        if info.revoked_at is not None:
            return None
        now = _now_ms()
        # Record use at most once a minute: a busy UI must not turn reads into writes.
        if info.last_used_at is None or now - info.last_used_at > 60_000:
            self.table.touch(info.id, now)
        return info
