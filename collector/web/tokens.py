"""API tokens for the web UI and HTTP API, kept hashed in the collector's SQLite file.

A token is 256 bits from ``secrets``; only its SHA-256 is stored, so a copy of the database
does not grant access. A slow password hash is unnecessary for high-entropy secrets. The
table is our own (``web_tokens``) and lives beside the evidence store's tables; the evidence
store's code is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from protocols.errors import MrvError
from protocols.ids import validate_id

Role = Literal["viewer", "verifier", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "verifier", "admin")
TOKEN_PREFIX = "mrv_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'verifier', 'admin')),
    sites       TEXT NOT NULL,            -- JSON list of site ids; ignored for admin
    token_hash  TEXT NOT NULL UNIQUE,     -- lowercase hex SHA-256 of the token
    hint        TEXT NOT NULL,            -- first characters, to tell tokens apart in lists
    created_at  INTEGER NOT NULL,         -- UTC epoch ms
    revoked_at  INTEGER,
    last_used_at INTEGER
);
"""


class TokenError(MrvError):
    reason = "token"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token's metadata (never the token itself)."""

    id: int
    name: str
    role: Role
    sites: tuple[str, ...]
    hint: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def can_read(self, site: str) -> bool:
        return self.role == "admin" or site in self.sites

    def can_download(self, site: str) -> bool:
        """Raw evidence (bundles, quarantined bytes) is for verifiers and admins only."""
        return self.role == "admin" or (self.role == "verifier" and site in self.sites)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "sites": list(self.sites) if self.role != "admin" else ["*"],
            "hint": self.hint,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class TokenStore:
    """Create, look up and revoke tokens; one short-lived connection per call (thread-safe)."""

    def __init__(self, database: Path | str) -> None:
        self.database = Path(database)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.database, timeout=10.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            yield db
        finally:
            db.close()

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
        now = _now_ms()
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO web_tokens (name, role, sites, token_hash, hint, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, role, json.dumps(list(clean)), hash_token(token), hint, now),
            )
            token_id = int(cur.lastrowid or 0)
        info = TokenInfo(token_id, name, role, clean, hint, now, None, None)
        return token, info

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        sql = "SELECT * FROM web_tokens"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            return [_info(r) for r in db.execute(sql + " ORDER BY id")]

    def revoke(self, ident: str | int) -> TokenInfo:
        """Revoke by numeric id or by name (a name must be unambiguous among active tokens)."""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            if isinstance(ident, int) or str(ident).isdigit():
                rows = db.execute("SELECT * FROM web_tokens WHERE id = ?", (int(ident),)).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM web_tokens WHERE name = ? AND revoked_at IS NULL", (ident,)
                ).fetchall()
            if not rows:
                raise TokenError(f"no active token {ident!r}")
            if len(rows) > 1:
                raise TokenError(f"{len(rows)} active tokens are named {ident!r}; revoke by id")
            row = rows[0]
            if row["revoked_at"] is None:
                db.execute(
                    "UPDATE web_tokens SET revoked_at = ? WHERE id = ?", (_now_ms(), row["id"])
                )
            row = db.execute("SELECT * FROM web_tokens WHERE id = ?", (row["id"],)).fetchone()
            return _info(row)

    def authenticate(self, token: str | None) -> TokenInfo | None:
        """Return the active token's metadata, or None; the hash comparison is constant-time."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM web_tokens WHERE token_hash = ?", (digest,)).fetchone()
            if row is None or not hmac.compare_digest(row["token_hash"], digest):
                return None
            if row["revoked_at"] is not None:
                return None
            now = _now_ms()
            # Record use at most once a minute: a busy UI must not turn reads into writes.
            if row["last_used_at"] is None or now - row["last_used_at"] > 60_000:
                # the store may be busy writing; last-use time is only informative
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("PRAGMA busy_timeout = 200")
                    db.execute(
                        "UPDATE web_tokens SET last_used_at = ? WHERE id = ?", (now, row["id"])
                    )
            return _info(row)


def _info(row: sqlite3.Row) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        sites=tuple(json.loads(row["sites"])),
        hint=row["hint"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )
