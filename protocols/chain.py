"""The hash chain over an agent's batches: seq 1, 2, 3 … each naming its predecessor's hash.

``ChainTracker`` is the incremental form the collector uses while batches arrive in any order;
``check_chain`` walks a finished sequence (a bundle, an outbox) and reports the first break:
a missing seq, a wrong ``prev`` (an edited, inserted or substituted batch), a duplicate, an
equivocation (same seq, different bytes) or batches out of order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from protocols.envelope import payload_hash


class BreakKind(StrEnum):
    MISSING = "missing"  # a seq is absent
    WRONG_PREV = "wrong_prev"  # prev does not match the hash of seq - 1
    DUPLICATE = "duplicate"  # the same seq with the same bytes again
    EQUIVOCATION = "equivocation"  # the same seq with different bytes
    OUT_OF_ORDER = "out_of_order"  # seq lower than one already seen
    BAD_START = "bad_start"  # seq 1 with a prev, or a first seq ≠ expected


@dataclass(frozen=True, slots=True)
class ChainLink:
    """What the chain needs to know of one batch."""

    seq: int
    prev: str | None
    hash: str

    @classmethod
    def of(cls, seq: int, prev: str | None, payload: bytes) -> ChainLink:
        return cls(seq, prev, payload_hash(payload))


@dataclass(frozen=True, slots=True)
class ChainBreak:
    kind: BreakKind
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind.value}: {self.detail}"


def check_chain(
    links: Iterable[ChainLink], *, first_seq: int = 1, first_prev: str | None = None
) -> ChainBreak | None:
    """Return the first break in ``links`` (in the given order), or None if the chain holds.

    ``first_seq``/``first_prev`` let a verifier check a slice of a longer chain (a month's
    evidence range starts where the previous month ended).
    """
    expected_seq = first_seq
    expected_prev = first_prev
    seen: dict[int, str] = {}
    for link in links:
        if link.seq in seen:
            if seen[link.seq] == link.hash:
                return ChainBreak(BreakKind.DUPLICATE, link.seq, "the same batch appears twice")
            return ChainBreak(
                BreakKind.EQUIVOCATION, link.seq, "two different batches carry this seq"
            )
        if link.seq < expected_seq:
            return ChainBreak(
                BreakKind.OUT_OF_ORDER, link.seq, f"came after seq {expected_seq - 1}"
            )
        if link.seq > expected_seq:
            missing = (
                f"seq {expected_seq}"
                if link.seq == expected_seq + 1
                else f"seq {expected_seq}..{link.seq - 1}"
            )
            return ChainBreak(
                BreakKind.MISSING, expected_seq, f"{missing} missing before {link.seq}"
            )
        if expected_seq == 1 and link.prev is not None:
            return ChainBreak(BreakKind.BAD_START, link.seq, "seq 1 must have prev null")
        if link.prev != expected_prev:
            return ChainBreak(
                BreakKind.WRONG_PREV,
                link.seq,
                f"prev {link.prev} does not match the hash of seq {link.seq - 1} "
                f"({expected_prev}); seq {link.seq - 1} was altered or replaced",
            )
        seen[link.seq] = link.hash
        expected_seq = link.seq + 1
        expected_prev = link.hash
    return None


@dataclass(slots=True)
class ChainTracker:
    """Incremental chain state of one agent as the collector stores batches out of order.

    ``contiguous_through`` is the highest seq up to which every batch is present and linked;
    batches above it wait in ``pending`` until the gap closes ("the chain heals").
    """

    contiguous_through: int = 0
    head_hash: str | None = None
    pending: dict[int, ChainLink] | None = None

    def add(self, link: ChainLink) -> list[ChainBreak]:
        """Record a stored batch; return link faults discovered (wrong prev) as the chain grows."""
        if self.pending is None:
            self.pending = {}
        if link.seq <= self.contiguous_through:
            return []
        self.pending[link.seq] = link
        breaks: list[ChainBreak] = []
        while (nxt := self.pending.get(self.contiguous_through + 1)) is not None:
            expected_prev = self.head_hash if self.contiguous_through else None
            if nxt.prev != expected_prev:
                breaks.append(
                    ChainBreak(
                        BreakKind.WRONG_PREV,
                        nxt.seq,
                        f"prev does not match the hash of seq {nxt.seq - 1}",
                    )
                )
            del self.pending[nxt.seq]
            self.contiguous_through = nxt.seq
            self.head_hash = nxt.hash
        return breaks

    def gaps(self) -> list[tuple[int, int]]:
        """Open gaps as inclusive (first_missing, last_missing) ranges below the highest seq."""
        if not self.pending:
            return []
        out: list[tuple[int, int]] = []
        cursor = self.contiguous_through + 1
        for seq in sorted(self.pending):
            if seq > cursor:
                out.append((cursor, seq - 1))
            cursor = seq + 1
        return out
