"""The hash chain reports deletion, insertion, reordering, edits and equivocation at the right seq."""

from __future__ import annotations

import pytest

from protocols.chain import BreakKind, ChainLink, ChainTracker, check_chain
from protocols.envelope import payload_hash
from protocols.payload import encode_payload


def _chain(n: int) -> list[tuple[int, str | None, bytes]]:
    """n linked batches as (seq, prev, payload bytes)."""
    out: list[tuple[int, str | None, bytes]] = []
    prev: str | None = None
    for seq in range(1, n + 1):
        payload = encode_payload({"seq": seq, "prev": prev, "readings": [seq * 1.5]})
        out.append((seq, prev, payload))
        prev = payload_hash(payload)
    return out


def _links(batches: list[tuple[int, str | None, bytes]]) -> list[ChainLink]:
    return [ChainLink.of(s, p, b) for s, p, b in batches]


def test_intact_chain_has_no_break() -> None:
    assert check_chain(_links(_chain(10))) is None


def test_deleted_batch_reported_as_missing_seq() -> None:
    batches = _chain(10)
    del batches[4]  # seq 5
    brk = check_chain(_links(batches))
    assert brk is not None and brk.kind is BreakKind.MISSING and brk.seq == 5


def test_deleted_last_batch_detected_against_expected_head() -> None:
    links = _links(_chain(5))
    assert check_chain(links[:4]) is None  # a chain alone cannot know its tail is gone;
    # the record's evidence range (last_seq, last_hash) is what catches it.


def test_inserted_batch_with_renumbering_reported_at_next_link() -> None:
    batches = _chain(6)
    forged = encode_payload({"seq": 4, "prev": payload_hash(batches[2][2]), "forged": True})
    renumbered = [*batches[:3], (4, payload_hash(batches[2][2]), forged)]
    # original 4.. shifted by one: their prev no longer matches
    for seq, prev, payload in batches[3:]:
        renumbered.append((seq + 1, prev, payload))
    brk = check_chain(_links(renumbered))
    assert brk is not None and brk.kind is BreakKind.WRONG_PREV and brk.seq == 5


def test_inserted_batch_with_duplicate_seq_is_equivocation() -> None:
    batches = _chain(6)
    forged = encode_payload({"seq": 3, "forged": True})
    tampered = [*batches[:3], (3, batches[2][1], forged), *batches[3:]]
    brk = check_chain(_links(tampered))
    assert brk is not None and brk.kind is BreakKind.EQUIVOCATION and brk.seq == 3


def test_reordered_batches_reported() -> None:
    batches = _chain(8)
    batches[5], batches[6] = batches[6], batches[5]
    brk = check_chain(_links(batches))
    assert brk is not None and brk.kind is BreakKind.MISSING and brk.seq == 6


def test_edited_batch_breaks_the_next_link() -> None:
    batches = _chain(8)
    seq, prev, _ = batches[3]  # seq 4 edited
    batches[3] = (seq, prev, encode_payload({"seq": 4, "prev": prev, "readings": [999]}))
    brk = check_chain(_links(batches))
    assert brk is not None and brk.kind is BreakKind.WRONG_PREV and brk.seq == 5
    assert "seq 4 was altered" in str(brk)


def test_duplicate_batch_reported() -> None:
    batches = _chain(4)
    brk = check_chain(_links([*batches, batches[1]]))
    assert brk is not None and brk.kind is BreakKind.DUPLICATE and brk.seq == 2


def test_seq_one_must_have_null_prev() -> None:
    brk = check_chain([ChainLink(1, "ab" * 32, "cd" * 32)])
    assert brk is not None and brk.kind is BreakKind.BAD_START


def test_slice_of_a_longer_chain_checks_from_given_start() -> None:
    batches = _chain(10)
    links = _links(batches)
    assert check_chain(links[5:], first_seq=6, first_prev=links[4].hash) is None
    brk = check_chain(links[5:], first_seq=6, first_prev="00" * 32)
    assert brk is not None and brk.kind is BreakKind.WRONG_PREV and brk.seq == 6


@pytest.mark.parametrize("order", [[1, 2, 3, 4, 5], [3, 1, 5, 2, 4], [5, 4, 3, 2, 1]])
def test_tracker_heals_when_missing_batches_arrive(order: list[int]) -> None:
    links = {link.seq: link for link in _links(_chain(5))}
    tracker = ChainTracker()
    for seq in order:
        assert tracker.add(links[seq]) == []
    assert tracker.contiguous_through == 5 and tracker.gaps() == []
    assert tracker.head_hash == links[5].hash


def test_tracker_reports_open_gaps_and_bad_links() -> None:
    links = _links(_chain(9))
    tracker = ChainTracker()
    for link in (links[0], links[1], links[4], links[8]):
        tracker.add(link)
    assert tracker.contiguous_through == 2
    assert tracker.gaps() == [(3, 4), (6, 8)]
    bad = ChainLink(3, "00" * 32, links[2].hash)
    breaks = tracker.add(bad)
    assert [b.seq for b in breaks] == [3]
