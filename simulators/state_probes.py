"""Read-only looks into the agent's outbox and the collector's evidence store.

The stack's waits poll real state: how far an agent's outbox has committed and been acked,
and what the collector holds per agent. Both read the components' SQLite files directly
(read-only, WAL-safe). This is the one place that knows their tables; it is meant to give
way to the store's and the outbox's own read APIs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AgentProgress", "OutboxHead", "collector_progress", "outbox_head"]


@dataclass(frozen=True)
class OutboxHead:
    """An agent's outbox: highest committed seq, highest acked seq, batches still held."""

    head_seq: int
    acked_through: int
    pending: int


@dataclass(frozen=True)
class AgentProgress:
    """What the collector holds of one agent (from its evidence store)."""

    site: str
    agent: str
    contiguous_through: int
    acked_through: int
    stored: int
    covered_ms: int | None  # last reading time of the contiguous head batch
    online: bool | None
    quarantined: int


def _ro_connect(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to a live WAL database, or None if it does not exist yet."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        return None
    db.execute("PRAGMA query_only = 1")
    return db


def outbox_head(path: Path) -> OutboxHead | None:
    """The outbox head in the agent's ``outbox.sqlite3`` (None before the agent created it)."""
    db = _ro_connect(path)
    if db is None:
        return None
    try:
        meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
        (pending,) = db.execute("SELECT count(*) FROM batches").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return OutboxHead(
        int(meta.get("head_seq") or 0), int(meta.get("acked_through") or 0), int(pending)
    )


def collector_progress(database: Path) -> dict[tuple[str, str], AgentProgress]:
    """Per agent what the collector's evidence SQLite holds (empty before it exists)."""
    db = _ro_connect(database)
    if db is None:
        return {}
    try:
        rows = db.execute(
            "SELECT a.site, a.agent, a.contiguous_through, a.acked_through, a.online,"
            " (SELECT count(*) FROM envelopes e WHERE e.agent_id = a.id),"
            " (SELECT e.last_ts FROM envelopes e"
            "   WHERE e.agent_id = a.id AND e.seq = a.contiguous_through),"
            " (SELECT count(*) FROM quarantine q WHERE q.site = a.site AND q.agent = a.agent)"
            " FROM agents a"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()
    return {
        (r[0], r[1]): AgentProgress(
            r[0], r[1], r[2], r[3], r[5], r[6], None if r[4] is None else bool(r[4]), r[7]
        )
        for r in rows
    }
