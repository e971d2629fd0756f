"""Read-only looks into the agent's outbox and the collector's evidence store.

The stack's waits poll real state: how far an agent's outbox has committed and been acked
(``agent.outbox.read_head``), and what the collector holds per agent, read through the
evidence store's own interface (``collector.store``), whichever backend it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.outbox import OutboxHead, read_head
from collector.store import EvidenceStore

__all__ = ["AgentProgress", "OutboxHead", "collector_progress", "outbox_head"]


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


def outbox_head(path: Path) -> OutboxHead | None:
    """The outbox head in the agent's ``outbox.sqlite3`` (None before the agent created it)."""
    return read_head(path)


def collector_progress(store: EvidenceStore | None) -> dict[tuple[str, str], AgentProgress]:
    """Per agent what the collector's store holds (empty before the store exists)."""
    if store is None:
        return {}
    out = {}
    for a in store.agents():
        c = a.contiguous_through
        head = next(iter(store.envelopes(a.site, a.agent, c, c)), None) if c else None
        out[(a.site, a.agent)] = AgentProgress(
            a.site,
            a.agent,
            c,
            a.acked_through,
            a.stored_batches,
            None if head is None else head.last_ts,
            a.online,
            a.quarantined,
        )
    return out
