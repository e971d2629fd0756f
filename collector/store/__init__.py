"""The evidence store: one interface (``interface``), one backend per module, one door in.

``open_store(url)`` is the only place a store is constructed::

    sqlite:///relative/path.sqlite     a file, relative to the working directory
    sqlite:////abs/path/evidence.sqlite
    postgresql://user@host:port/dbname  (libpq URL; several collectors may share it)

The collector config's ``database:`` takes the same URLs (relative SQLite paths are taken
relative to the config file there, ``collector.config``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from collector.store.interface import (
    EvidenceStore,
    IngestTransaction,
    RecordStore,
    StoreError,
    TokenTable,
)

if TYPE_CHECKING:
    from collector.config import CollectorConfig

__all__ = [
    "EvidenceStore",
    "IngestTransaction",
    "RecordStore",
    "StoreError",
    "StoreUrl",
    "TokenTable",
    "open_store",
    "parse_url",
    "redact",
    "sqlite_url",
    "store_for",
]

URL_HELP = (
    "use sqlite:///PATH (sqlite:////ABSOLUTE/PATH for an absolute path) "
    "or postgresql://USER@HOST:PORT/DBNAME"
)


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A parsed database URL: the backend and, for SQLite, the file."""

    backend: str  # "sqlite" | "postgresql"
    url: str
    path: Path | None = None  # SQLite only

    def __str__(self) -> str:
        return self.url


def sqlite_url(path: Path | str) -> str:
    """The URL of a SQLite file (an absolute path gives ``sqlite:////…``)."""
    return f"sqlite:///{path}"


def redact(url: str) -> str:
    """The URL without its password, for logs and status output."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def parse_url(url: str) -> StoreUrl:
    """Validate a database URL; ``StoreError`` names what is wrong and what to write."""
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"database URL is empty; {URL_HELP}")
    url = url.strip()
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise StoreError(f"database URL {url!r} has no file path; {URL_HELP}")
        return StoreUrl("sqlite", url, Path(url[len("sqlite:///") :]))
    if url.startswith(("postgresql://", "postgres://")):
        return StoreUrl("postgresql", url)
    scheme = url.split(":", 1)[0] if ":" in url else None
    what = f"scheme {scheme!r}" if scheme and "/" not in scheme else "no scheme"
    raise StoreError(f"database URL {url!r} has {what}; {URL_HELP}")


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other backends)."""
    return parse_url(url).path


def open_store(
    url: str | StoreUrl,
    *,
    quarantine_keep_bytes: int = 1024 * 1024,
    must_exist: bool = False,
) -> EvidenceStore:
    """Open (creating its tables if needed) the store at ``url``.

    ``must_exist``: refuse to create a new SQLite file (commands that only read).
    """
    parsed = url if isinstance(url, StoreUrl) else parse_url(url)
    if parsed.backend == "sqlite":
        from collector.store.sqlite import SqliteEvidenceStore

        assert parsed.path is not None
        if must_exist and not parsed.path.exists():
            raise StoreError(f"evidence store {parsed.path} does not exist")
        try:
            return SqliteEvidenceStore(parsed.path, quarantine_keep_bytes=quarantine_keep_bytes)
        except OSError as exc:
            raise StoreError(f"cannot open {parsed.path}: {exc.strerror or exc}") from None
        except Exception as exc:  # sqlite3.DatabaseError: not a database, locked, ...
            raise StoreError(f"cannot open {parsed.path}: {exc}") from None
    from collector.store.postgresql import PostgresEvidenceStore

    return PostgresEvidenceStore(parsed.url, quarantine_keep_bytes=quarantine_keep_bytes)


def store_for(cfg: CollectorConfig, *, must_exist: bool = False) -> EvidenceStore:
    """The store a collector config names (``database:``), with its limits."""
    return open_store(
        cfg.database_url,
        quarantine_keep_bytes=cfg.limits.quarantine_keep_bytes,
        must_exist=must_exist,
    )
