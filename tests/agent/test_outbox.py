"""Outbox unit tests: commit before publish, ack deletes, replay order, survives reopen."""

from __future__ import annotations

import random
import sqlite3
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.batch import BatchSigner
from agent.outbox import (
    PACK_BACKLOG,
    PAGE_SIZE,
    BatchRow,
    Outbox,
    OutboxError,
    read_head,
    read_held_hashes,
)
from protocols.chain import ChainLink, check_chain
from protocols.envelope import verify_envelope
from protocols.keys import generate_private_key, public_jwk
from protocols.payload import parse_payload


def _signer() -> tuple[BatchSigner, object]:
    key = generate_private_key()
    return BatchSigner("plant1", "agent1", key, public_jwk(key)["kid"]), key.public_key()


def _append(ob: Outbox, signer: BatchSigner, n: int, state: dict | None = None) -> None:
    for _ in range(n):
        b = signer.build(
            ob.head_seq + 1,
            ob.head_hash,
            1_700_000_000_000 + ob.head_seq,
            {"source": "system", "synced": True},
            [("line_current_ka", 1_700_000_000_000, 400.5, "good", None, None)],
        )
        ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope, state)


def test_commit_is_durable_and_replay_is_in_seq_order(tmp_path: Path) -> None:
    signer, pub = _signer()
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, site="plant1", agent="agent1") as ob:
        _append(ob, signer, 5, state={"energy_kwh": {"total": 12.5}})
        assert ob.head_seq == 5
    # A second connection (as after kill -9) sees everything committed.
    with Outbox(path, site="plant1", agent="agent1") as ob:
        assert ob.head_seq == 5 and ob.acked_through == 0
        batches = ob.unacked()
        assert [b.seq for b in batches] == [1, 2, 3, 4, 5]
        links = []
        for b in batches:
            parsed = verify_envelope(b.envelope, lambda kid: pub)  # type: ignore[arg-type,return-value]
            payload = parse_payload(parsed.payload)
            assert payload.seq == b.seq and payload.prev == b.prev
            links.append(ChainLink.of(payload.seq, payload.prev, parsed.payload))
        assert check_chain(links) is None
        assert ob.derived_state() == {"energy_kwh": {"total": 12.5}}
        assert [b.seq for b in ob.unacked(after=3)] == [4, 5]
        _append(ob, signer, 1)  # the chain continues from the persisted head
        assert ob.head_seq == 6


def test_ack_deletes_only_what_it_covers(tmp_path: Path) -> None:
    signer, _ = _signer()
    with Outbox(tmp_path / "o.sqlite3", site="plant1", agent="agent1") as ob:
        _append(ob, signer, 6)
        assert ob.ack(3) == 3
        assert [b.seq for b in ob.unacked()] == [4, 5, 6]
        assert ob.ack(2) == 0  # an older ack changes nothing
        assert ob.ack(100) == 3  # beyond the head: clamped to it
        assert ob.acked_through == 6 and ob.unacked() == []
        assert ob.stats().batches == 0
        _append(ob, signer, 1)  # seq keeps counting after everything was acked
        assert ob.head_seq == 7 and [b.seq for b in ob.unacked()] == [7]


def test_observers_read_a_live_outbox_without_writing(tmp_path: Path) -> None:
    """Another process (the demo stack, a fault test) reads the head and the held batches'
    hashes while the agent holds the outbox open; before the agent made it: nothing."""
    path = tmp_path / "outbox.sqlite3"
    assert read_held_hashes(path) == {} and read_head(path) is None
    signer, _ = _signer()
    with Outbox(path, site="plant1", agent="agent1") as ob:
        _append(ob, signer, 4)
        ob.ack(1)
        held = {b.seq: b.hash for b in ob.unacked()}
        assert read_held_hashes(path) == held and sorted(held) == [2, 3, 4]
        head = read_head(path)
        assert head is not None and (head.head_seq, head.acked_through, head.pending) == (4, 1, 3)
        _append(ob, signer, 1)  # the reader left no lock behind
    assert sorted(read_held_hashes(path)) == [2, 3, 4, 5]
    assert not path.with_name("outbox.sqlite3-journal").exists()


def test_refuses_to_break_or_fork_the_chain(tmp_path: Path) -> None:
    signer, _ = _signer()
    with Outbox(tmp_path / "o.sqlite3", site="plant1", agent="agent1") as ob:
        _append(ob, signer, 2)
        b = signer.build(2, None, 0, {}, [])
        with pytest.raises(OutboxError):
            ob.commit(b.seq, b.prev, b.hash, 0, 0, b.envelope)  # seq 2 again: equivocation
        rows = [BatchRow(3, ob.head_hash, "h3", 0, 0, b"x"), BatchRow(5, "h3", "h5", 0, 0, b"y")]
        with pytest.raises(OutboxError):
            ob.commit_many(rows)  # a gap inside one transaction
        assert ob.head_seq == 2 and len(ob.unacked()) == 2
    with pytest.raises(OutboxError, match="use another data_dir"):
        Outbox(tmp_path / "o.sqlite3", site="plant1", agent="other")


def test_failed_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    signer, _ = _signer()
    with Outbox(tmp_path / "o.sqlite3", site="plant1", agent="agent1") as ob:
        _append(ob, signer, 1)
        b = signer.build(2, ob.head_hash, 0, {}, [])
        with pytest.raises(ValueError):  # derived state that is not JSON (NaN)
            ob.commit(b.seq, b.prev, b.hash, 0, 0, b.envelope, {"x": float("nan")})
        assert ob.head_seq == 1 and [x.seq for x in ob.unacked()] == [1]


def test_wal_and_full_sync(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", site="plant1", agent="agent1"):
        db = sqlite3.connect(tmp_path / "o.sqlite3")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()


def test_fast_payload_bytes_equal_encode_payload() -> None:
    """The batch builder's fast path produces exactly the canonical payload bytes (v1; the
    v2 form is checked reading for reading in tests/protocols/test_compact.py)."""
    from protocols.payload import encode_payload

    v2, _ = _signer()
    signer = BatchSigner(v2.site, v2.agent, v2.key, v2.kid, version=1)
    readings = [
        ("line_current_ka", 1, 400.125, "good", None, None),
        ("cells", 2, 24, "good", None, None),
        ("tiny", 3, 1e-300, "good", None, None),
        ("big", 4, 18446744073709551615, "good", None, None),
        ("dead", 5, None, "bad", "timeout", None),
        ("hot", 6, 999.0, "uncertain", "out_of_range", None),
        ("agg", 7, 3.5, "good", None, {"count": 9, "expected": 10, "min": 1.0, "max": 6.0}),
        ("nan", 8, float("nan"), "good", None, None),
    ]
    events = [{"type": "anode_effect", "cell": "c1", "start": 1, "end": 2, "peak_v": 30.5}]
    clock = {"source": "system", "synced": True}
    with pytest.raises(ValueError):  # NaN never reaches the wire
        signer.build(1, None, 9, clock, readings, events)
    readings.pop()
    b = signer.build(1, None, 9, clock, readings, events)
    expected = encode_payload(
        {
            "v": 1, "site": "plant1", "agent": "agent1", "seq": 1, "prev": None, "created": 9,
            "clock": clock,
            "readings": [
                {"id": r[0], "ts": r[1], "value": r[2], "quality": r[3]}
                | ({"reason": r[4]} if r[4] else {})
                | (r[5] or {})
                for r in readings
            ],
            "events": events,
        }
    )  # fmt: skip
    assert b.payload == expected
    parse_payload(b.payload)


def test_collector_ahead_mark_survives_reopen(tmp_path: Path) -> None:
    """A collector holding seqs beyond the outbox head (lost commits) is remembered, so the
    publisher never reuses those seqs, even after a restart."""
    signer, _ = _signer()
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, site="plant1", agent="agent1") as ob:
        _append(ob, signer, 2)
        assert ob.collector_ahead is None
        ob.mark_collector_ahead(5)
        ob.mark_collector_ahead(4)  # never lowered
        assert ob.collector_ahead == 5
    with Outbox(path, site="plant1", agent="agent1") as ob:
        assert ob.collector_ahead == 5
        assert ob.head_seq == 2


def test_unacked_reads_within_the_byte_budget(tmp_path: Path) -> None:
    """At least one batch, then only whole batches within max_bytes, in seq order."""
    with Outbox(tmp_path / "o.sqlite3", site="plant1", agent="agent1") as ob:
        sizes = [1000, 3000, 500, 500, 4000, 0]
        prev = None
        for seq, n in enumerate(sizes, 1):
            env = bytes([seq]) * n
            ob.commit(seq, prev, f"h{seq}", 0, 1, env)
            prev = f"h{seq}"
        assert [len(b.envelope) for b in ob.unacked()] == sizes
        assert [b.envelope for b in ob.unacked()] == [
            bytes([i]) * n for i, n in enumerate(sizes, 1)
        ]
        assert [b.seq for b in ob.unacked(0, 64, 4000)] == [1, 2]
        assert [b.seq for b in ob.unacked(0, 64, 999)] == [1]  # always at least one
        assert [b.seq for b in ob.unacked(2, 64, 1000)] == [3, 4]
        assert [b.seq for b in ob.unacked(2, 1, 1000)] == [3]  # the count limit too
        assert [(b.seq, b.prev, b.hash) for b in ob.unacked(4, 64, 10)] == [(5, "h4", "h5")]
        assert [b.seq for b in ob.unacked(5, 64, 10)] == [6] and ob.unacked(6, 64, 10) == []


def test_encoded_pieces_equal_json_across_pieces_and_for_any_id() -> None:
    """Readings are encoded in pieces; joined they are exactly json.dumps of the dicts."""
    import json

    from agent.batch import _PIECE_READINGS, ReadingsEncoder, reading_dicts

    odd_ids = ['quote"d', "back\\slash", "tab\tid", "übergröße", "电流", "line\u2028sep", "x"]
    readings = []
    for i in range(3 * _PIECE_READINGS + 7):
        rid = odd_ids[i % len(odd_ids)] if i % 97 == 0 else f"p{i:05d}_value"
        value = [400.0 + i / 7, i, None, 1e-300, -0.0][i % 5]
        quality = "bad" if value is None else ("uncertain" if i % 11 == 0 else "good")
        reason = {"bad": "timeout", "uncertain": "frozen"}.get(quality)
        readings.append((rid, 1_700_000_000_000 + i, value, quality, reason, None))
    enc = ReadingsEncoder()
    for batch in (readings, readings[:1], readings[:_PIECE_READINGS], []):
        expected = json.dumps(
            reading_dicts(batch), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
        pieces = enc.encode_pieces(batch)
        assert b"[" + b"".join(pieces) + b"]" == expected
        assert b"[" + enc.encode(batch) + b"]" == expected
        assert len(pieces) == -(-len(batch) // _PIECE_READINGS)


def _batches(signer: BatchSigner, n: int, per: int = 100) -> list[Any]:
    out, prev = [], None
    for seq in range(1, n + 1):
        t = 1_700_000_000_000 + seq * 60_000
        rs = [
            (f"potline1.key_param_{i:02d}", t, 400.0 + i / 7 + seq, "good", None, None)
            for i in range(per)
        ]
        b = signer.build(seq, prev, t, {"source": "ntp", "synced": True}, rs)
        out.append(b)
        prev = b.hash
    return out


def test_envelopes_are_stored_packed_and_come_back_byte_for_byte(tmp_path: Path) -> None:
    """While batches pile up, payload bytes deflated against an earlier payload: a fraction
    of the envelope on disk, the published bytes exactly, also from a second connection
    (after kill -9). Batches committed while the collector keeps up are kept as they are."""
    signer, _ = _signer()
    path = tmp_path / "outbox.sqlite3"
    batches = _batches(signer, 8)
    with Outbox(path, site="plant1", agent="agent1") as ob:

        def forms() -> list[tuple[int, int | None]]:
            return list(ob._db.execute("SELECT form, zdict FROM batches ORDER BY seq"))

        for b in batches[:PACK_BACKLOG]:
            ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
        assert forms() == [(0, None)] * PACK_BACKLOG  # an ack is still expected
        for b in batches[PACK_BACKLOG:]:
            ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
        assert [x.envelope for x in ob.unacked()] == [b.envelope for b in batches]
    db = sqlite3.connect(path)
    rows = db.execute("SELECT form, zdict, length(envelope) FROM batches ORDER BY seq").fetchall()
    (dicts,) = db.execute("SELECT count(*) FROM zdicts").fetchone()
    db.close()
    # once the backlog begins, the batches before it are packed too; the first has no
    # dictionary (its payload is the dictionary)
    assert [r[:2] for r in rows] == [(1, None)] + [(1, 1)] * 7 and dicts == 1
    # with an earlier payload as dictionary a batch is a small part of its envelope
    assert all(r[2] * 5 < len(b.envelope) for r, b in zip(rows[3:], batches[3:], strict=True))
    with Outbox(path, site="plant1", agent="agent1") as ob:
        assert [x.envelope for x in ob.unacked()] == [b.envelope for b in batches]
        assert [x.envelope for x in ob.iter_all()] == [b.envelope for b in batches]
        two = len(batches[0].envelope) + len(batches[1].envelope)
        assert [x.seq for x in ob.unacked(0, 64, two)] == [1, 2]
        assert [x.seq for x in ob.unacked(0, 64, two - 1)] == [1]  # envelopes as published


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _aggregate_batches(signer: BatchSigner, n: int) -> list[Any]:
    """One-minute interval aggregates of 100 FLOAT32 sources, one batch a minute (the demo's
    key parameters): a packed batch is ≈ 2 KB, half a 4 KiB page."""
    rnd = random.Random(7)
    out, prev = [], None
    for seq in range(1, n + 1):
        t = 1_700_000_000_000 + seq * 60_000
        rs = []
        for i in range(100):
            lo = _f32(rnd.uniform(395, 405))
            hi = _f32(lo + rnd.random())
            extra = {"count": 6, "expected": 6, "min": lo, "max": hi}
            rs.append(
                (
                    f"potline1.key_param_{i:02d}",
                    t,
                    lo + (hi - lo) * rnd.random(),
                    "good",
                    None,
                    extra,
                )
            )
        b = signer.build(seq, prev, t, {"source": "ntp", "synced": True}, rs)
        out.append(b)
        prev = b.hash
    return out


def test_a_backlog_of_packed_batches_takes_little_more_file_than_its_rows(
    tmp_path: Path,
) -> None:
    """A new outbox has small pages, so packed one-minute batches share them: with 4 KiB
    pages each ≈ 2 KB row took a page of its own (file ≈ 2 × rows)."""
    signer, _ = _signer()
    path = tmp_path / "outbox.sqlite3"
    batches = _aggregate_batches(signer, 60)
    with Outbox(path, site="plant1", agent="agent1") as ob:
        for b in batches:
            ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
        assert [x.envelope for x in ob.unacked(limit=100)] == [b.envelope for b in batches]
        (page,) = ob._db.execute("PRAGMA page_size").fetchone()
        (rows, forms) = ob._db.execute(
            "SELECT SUM(LENGTH(envelope)), GROUP_CONCAT(DISTINCT form) FROM batches"
        ).fetchone()
        ob._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert page == PAGE_SIZE == 1024
    assert forms == "1"  # all packed, the first ones too once the backlog began
    assert 1500 * len(batches) < rows < 3000 * len(batches)  # ≈ 2 KB rows, as in the demo
    # the rows, the dictionary (a payload) and ≈ 10 pages of schema
    assert path.stat().st_size < 1.2 * rows + 8 * 1024 + 16 * PAGE_SIZE


def test_pages_a_drained_backlog_left_free_count_as_free_disk(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The file keeps the pages an acked backlog freed (SQLite reuses them for the next
    batches), so they are room for batches as much as the disk's own free bytes are."""
    import agent.outbox

    monkeypatch.setattr(agent.outbox.shutil, "disk_usage", lambda _p: SimpleNamespace(free=10**6))
    signer, _ = _signer()
    batches = _aggregate_batches(signer, 40)
    with Outbox(tmp_path / "outbox.sqlite3", site="plant1", agent="agent1") as ob:
        for b in batches:
            ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
        before = ob.free_disk_bytes()
        (held,) = ob._db.execute("SELECT SUM(LENGTH(envelope)) FROM batches").fetchone()
        ob.ack(len(batches))
        after = ob.free_disk_bytes()
        assert before < 10**6 + 8 * PAGE_SIZE  # nothing freed yet
        assert after - 10**6 > 0.9 * held  # what the acked rows took is room again
        more = _aggregate_batches(signer, 41)[-1]
        ob.commit(more.seq, ob.head_hash, more.hash, more.created_ms, 100, more.envelope)
        assert ob.free_disk_bytes() < after  # and is used first


def test_each_new_backlog_packs_the_batches_before_it(tmp_path: Path) -> None:
    """After a drained backlog batches are kept as published again while acks come; when
    the next backlog begins, the ones committed since the last ack are packed with it."""
    signer, _ = _signer()
    batches = _batches(signer, 10)
    with Outbox(tmp_path / "outbox.sqlite3", site="plant1", agent="agent1") as ob:

        def commit(bs: list[Any]) -> None:
            for b in bs:
                ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)

        def forms() -> list[int]:
            return [r[0] for r in ob._db.execute("SELECT form FROM batches ORDER BY seq")]

        commit(batches[:4])
        assert forms() == [1, 1, 1, 1]
        ob.ack(4)
        commit(batches[4:6])
        assert forms() == [0, 0]
        ob.ack(5)
        commit(batches[6:7])
        assert forms() == [0, 0]  # one unacked before seq 7: an ack is still expected
        commit(batches[7:8])
        assert forms() == [1, 1, 1]  # seq 8 begins a backlog: 6 and 7 packed with it
        commit(batches[8:])
        assert forms() == [1] * 5
        assert [x.envelope for x in ob.unacked()] == [b.envelope for b in batches[5:]]


def test_dictionaries_no_batch_needs_are_deleted(tmp_path: Path, monkeypatch: Any) -> None:
    import agent.outbox

    monkeypatch.setattr(agent.outbox, "ZDICT_BATCHES", 2)
    monkeypatch.setattr(agent.outbox, "PACK_BACKLOG", 0)
    signer, _ = _signer()
    path = tmp_path / "outbox.sqlite3"
    batches = _batches(signer, 7, per=20)
    with Outbox(path, site="plant1", agent="agent1") as ob:
        for b in batches:
            ob.commit(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)

        def dicts() -> list[int]:
            return [r[0] for r in ob._db.execute("SELECT id FROM zdicts ORDER BY id")]

        made = dicts()
        assert len(made) == 4  # seq 1 (none to pack with), then every second batch
        ob.ack(4)
        assert dicts() == made[1:] and [x.envelope for x in ob.unacked()] == [
            b.envelope for b in batches[4:]
        ]
        ob.ack(7)
        assert dicts() == made[-1:]  # the newest stays: the next batch packs with it
        more = signer.build(8, batches[-1].hash, 9, {}, [("x", 9, 1.5, "good", None, None)])
        ob.commit(more.seq, more.prev, more.hash, more.created_ms, more.readings, more.envelope)
        assert [x.envelope for x in ob.unacked()] == [more.envelope]


def test_an_outbox_of_the_earlier_schema_opens_and_reads_back(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """An agent upgraded in place with batches still unacked: they are published as they
    were stored (as published), new ones are packed beside them."""
    import agent.outbox

    monkeypatch.setattr(agent.outbox, "PACK_BACKLOG", 0)
    path = tmp_path / "outbox.sqlite3"
    signer, _ = _signer()
    b1, b2 = _batches(signer, 2)
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
        "CREATE TABLE batches (seq INTEGER PRIMARY KEY, prev TEXT, hash TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL, committed_wall REAL NOT NULL, readings INTEGER NOT NULL,"
        " envelope BLOB NOT NULL);"
        "INSERT INTO meta VALUES ('identity', 'plant1/agent1'), ('head_seq', '1');"
    )
    db.execute("INSERT INTO meta VALUES ('head_hash', ?)", (b1.hash,))
    db.execute("INSERT INTO batches VALUES (1, NULL, ?, 0, 0, 100, ?)", (b1.hash, b1.envelope))
    db.commit()
    db.close()
    with Outbox(path, site="plant1", agent="agent1") as ob:
        ob.commit(b2.seq, b2.prev, b2.hash, b2.created_ms, b2.readings, b2.envelope)
        assert [x.envelope for x in ob.unacked()] == [b1.envelope, b2.envelope]
        forms = [r[0] for r in ob._db.execute("SELECT form FROM batches ORDER BY seq")]
        assert forms == [0, 1]
        # its pages stay as they were made (a page size cannot change in WAL mode)
        assert ob._db.execute("PRAGMA page_size").fetchone() == (4096,)


def test_envelopes_in_another_form_are_kept_as_they_are(tmp_path: Path) -> None:
    signer, _ = _signer()
    (b,) = _batches(signer, 1)
    spaced = b.envelope.replace(b'","payload"', b'", "payload"')
    with Outbox(tmp_path / "o.sqlite3", site="plant1", agent="agent1") as ob:
        ob.commit(1, None, "h1", 0, 1, spaced)
        ob.commit(2, "h1", "h2", 0, 1, b"{}")
        assert [x.envelope for x in ob.unacked()] == [spaced, b"{}"]
        assert [r[0] for r in ob._db.execute("SELECT form FROM batches")] == [0, 0]
