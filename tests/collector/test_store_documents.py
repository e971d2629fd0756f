"""Supporting documents behind the evidence store, on both backends: references recorded
with the batch, the bytes content-addressed and hash-checked, duplicates idempotent, the
ack held until every referenced document is stored, a document that beat its batch taken
from its quarantined copy, lists by site and month; ``store copy`` carries documents and
truncated quarantine entries faithfully; an old per-collector documents folder is imported
into the store once when a collector starts."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import Collector
from collector.documents import document_refs, import_folder
from collector.models import DocumentRef
from collector.pipeline import Accepted, Quarantined, VerificationPipeline
from collector.store import EvidenceStore, StoreError, open_store
from collector.store.copy import copy_store, fingerprint
from collector.store.documents import UNREFERENCED
from protocols.topics import document_topic
from tests.collector.helpers import T0, Signer, config_for
from tests.support.stores import BACKENDS, fresh_url

SITE, AGENT = "smelter-1", "lab"
OCT = (1_790_812_800_000, 1_793_491_200_000)  # 2026-10 in UTC, [start, end)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_url(request, tmp_path, request.param)


@pytest.fixture
def store(url: str) -> Iterator[EvidenceStore]:
    with open_store(url) as s:
        yield s


def pdf(text: str) -> bytes:
    return b"%PDF-1.4\n" + text.encode() + b"\n%%EOF\n"


def lab_batch(signer: Signer, docs: dict[str, bytes], ts: int = T0) -> bytes:
    """A signed batch with one lab reading naming ``docs`` (name -> bytes)."""
    refs = [
        {"sha256": hashlib.sha256(b).hexdigest(), "name": n, "size": len(b),
         "media_type": "application/pdf"}
        for n, b in docs.items()
    ]  # fmt: skip
    reading = {
        "id": "coal_ncv_gj_per_t", "ts": ts, "value": 23.1, "quality": "good", "origin": "lab",
        "evidence": {"submission": f"s-{signer.seq + 1}", "lab": "Coal lab", "documents": refs},
    }  # fmt: skip
    return signer.next(readings=[reading])


def ingest(store: EvidenceStore, signer: Signer, envs: list[bytes]) -> list[DocumentRef]:
    """Store batches as the collector does (references in the same transaction)."""
    pipe = VerificationPipeline(max_envelope_bytes=1 << 20)
    out: list[DocumentRef] = []
    with store.ingest() as tx:
        for env in envs:
            d = pipe.decide(signer.topic, env, tx)
            assert isinstance(d, Accepted), d
            tx.store_batch(d, T0)
            refs = document_refs(d.site, d.agent, d.payload)
            tx.reference_documents(refs)
            out += refs
    return out


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_references_bytes_duplicates_and_the_held_ack(store: EvidenceStore) -> None:
    s = Signer(SITE, AGENT)
    store.enroll_key(SITE, AGENT, s.jwk)
    a, b = pdf("report A"), pdf("report B")
    refs = ingest(store, s, [s.next(3), lab_batch(s, {"a.pdf": a, "b.pdf": b}), s.next(3)])
    assert [(r.seq, r.name, r.size, r.ts) for r in refs] == [(2, "a.pdf", len(a), T0),
                                                             (2, "b.pdf", len(b), T0)]  # fmt: skip
    with store.ingest() as tx:
        assert tx.document_referenced(SITE, AGENT, sha(a))
        assert not tx.document_referenced(SITE, AGENT, sha(b"never named"))
        assert not tx.document_referenced(SITE, "other-agent", sha(a))  # only its own agent's
        assert tx.ack_limit(SITE, AGENT, 3) == 1  # batch 2 waits for its documents
        assert tx.store_document(sha(a), a, 5)
        assert not tx.store_document(sha(a), a, 6)  # the same bytes again: stored once
        with pytest.raises(StoreError, match="do not hash"):
            tx.store_document(sha(b), a, 7)  # bytes that are not the digest's
        assert tx.ack_limit(SITE, AGENT, 3) == 1
    with store.ingest() as tx:
        assert tx.store_document(sha(b), b, 8)
        assert tx.ack_limit(SITE, AGENT, 3) == 3
        assert tx.ack_limit(SITE, AGENT, 2) == 2
    assert store.documents.read(sha(a)) == a and store.documents.read(sha(b"x")) is None
    info = store.documents.info(sha(a))
    assert info is not None and (info.size, info.stored_at) == (len(a), 5)
    assert [d.sha256 for d in store.documents.list()] == sorted([sha(a), sha(b)])
    assert not store.documents.add(sha(b), b, 9)  # outside ingest: idempotent too
    with pytest.raises(StoreError, match="do not hash"):
        store.documents.add(sha(b"y"), b"z", 9)
    assert len(store.documents.list()) == 2


def test_the_held_ack_survives_reopening_and_ends_with_the_bytes(url: str) -> None:
    """What holds an ack is stored state (the references still waiting for their bytes),
    not a collector's memory; bytes added outside ingest (``store copy``, the folder
    import) release it like bytes received."""
    s = Signer(SITE, AGENT)
    doc, other = pdf("waited for"), pdf("another agent's")
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, s.jwk)
        ingest(store, s, [s.next(2), lab_batch(s, {"w.pdf": doc}), s.next(2)])
        t = Signer(SITE, "other")
        store.enroll_key(SITE, "other", t.jwk)
        ingest(store, t, [lab_batch(t, {"o.pdf": other})])
    with open_store(url) as store:
        with store.ingest() as tx:
            assert tx.ack_limit(SITE, AGENT, 3) == 1 and tx.ack_limit(SITE, "other", 1) == 0
            assert tx.ack_limit(SITE, "nobody", 7) == 7
        assert store.documents.add(sha(doc), doc, 1)
        with store.ingest() as tx:
            assert tx.ack_limit(SITE, AGENT, 3) == 3 and tx.ack_limit(SITE, "other", 1) == 0
            assert tx.store_document(sha(other), other, 2)
            assert tx.ack_limit(SITE, "other", 1) == 1  # a write in the same transaction


def test_rolled_back_references_do_not_hold_the_ack(store: EvidenceStore) -> None:
    """References and documents commit or roll back with their ingest transaction."""
    s = Signer(SITE, AGENT)
    store.enroll_key(SITE, AGENT, s.jwk)
    doc = pdf("rolled back")
    env = lab_batch(s, {"r.pdf": doc})
    with pytest.raises(RuntimeError), store.ingest() as tx:
        d = VerificationPipeline().decide(s.topic, env, tx)
        assert isinstance(d, Accepted)
        tx.store_batch(d, T0)
        tx.reference_documents(document_refs(d.site, d.agent, d.payload))
        tx.store_document(sha(doc), doc, 1)
        raise RuntimeError("the group fails")
    assert store.documents.refs() == [] and store.documents.list() == []
    with store.ingest() as tx:
        assert not tx.document_referenced(SITE, AGENT, sha(doc))


def test_lists_by_site_agent_and_month(store: EvidenceStore) -> None:
    s, t = Signer(SITE, AGENT), Signer("smelter-2", AGENT)
    for signer in (s, t):
        store.enroll_key(signer.site, signer.agent, signer.jwk)
    sep, oct1, oct2 = pdf("september"), pdf("october 1"), pdf("october 2")
    ingest(store, s, [lab_batch(s, {"sep.pdf": sep}, OCT[0] - 1),
                      lab_batch(s, {"o1.pdf": oct1, "o2.pdf": oct2}, OCT[0]),
                      lab_batch(s, {"o1.pdf": oct1}, OCT[1] - 1)])  # fmt: skip
    ingest(store, t, [lab_batch(t, {"o1.pdf": oct1}, OCT[0] + 5)])
    month = store.documents.refs(SITE, start=OCT[0], end=OCT[1])
    assert [(r.seq, r.name) for r in month] == [(2, "o1.pdf"), (2, "o2.pdf"), (3, "o1.pdf")]
    assert [r.name for r in store.documents.refs(SITE, end=OCT[0])] == ["sep.pdf"]
    assert [r.site for r in store.documents.refs(agent=AGENT, start=OCT[0] + 1)] == [
        SITE,
        "smelter-2",
    ]
    assert len(store.documents.refs()) == 5 and store.documents.refs("nowhere") == []


def test_a_document_that_beat_its_batch_is_taken_from_the_quarantine(url: str) -> None:
    """In a collector group the document may reach one collector before another has
    stored its batch: quarantined as unreferenced, then stored from that whole copy when
    the batch comes; a copy cut to the quarantine's limit is not (the agent republishes)."""
    s = Signer(SITE, AGENT)
    small, big = pdf("fits"), pdf("x" * 200)
    with open_store(url, quarantine_keep_bytes=100) as store:
        store.enroll_key(SITE, AGENT, s.jwk)
        with store.ingest() as tx:
            for b in (small, big):
                assert not tx.document_referenced(SITE, AGENT, sha(b))
                q = Quarantined(UNREFERENCED, "early", document_topic(SITE, AGENT, sha(b)), b,
                                SITE, AGENT)  # fmt: skip
                tx.quarantine(q, T0)
        refs = ingest(store, s, [lab_batch(s, {"small.pdf": small, "big.pdf": big})])
        with store.ingest() as tx:
            assert tx.documents_from_quarantine(refs, T0 + 1) == [sha(small)]
            assert tx.documents_from_quarantine(refs, T0 + 2) == []  # already stored
            assert tx.ack_limit(SITE, AGENT, 1) == 0  # the big one is still missing
        assert store.documents.read(sha(small)) == small
        assert store.documents.read(sha(big)) is None


def test_copy_carries_documents_and_truncated_quarantine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SQLite into PostgreSQL and back: documents, references and a quarantine entry cut to
    the limit come out equal (the entry keeps the size and digest of what was received)."""
    s = Signer(SITE, AGENT)
    doc = pdf("settlement slip S-10")
    urls = [fresh_url(request, tmp_path / n, b) for n, b in
            (("a", "sqlite"), ("b", "postgresql"), ("c", "sqlite"))]  # fmt: skip
    stores = [open_store(u, quarantine_keep_bytes=64) for u in urls]
    try:
        src, mid, back = stores
        src.enroll_key(SITE, AGENT, s.jwk)
        ingest(src, s, [s.next(2), lab_batch(s, {"slip.pdf": doc})])
        src.documents.add(sha(doc), doc, 42)
        with src.ingest() as tx:
            tx.quarantine(Quarantined("schema", "too big", s.topic, b"{" * 1000, SITE, AGENT), 7)
        (entry,) = src.quarantine_entries()
        assert entry.truncated and entry.size == 1000 and len(entry.raw) == 64
        first = copy_store(src, mid)
        assert first.ok, first
        assert first.source.counts["documents"] == 1 and first.source.counts["document_refs"] == 1
        assert copy_store(mid, back).ok
        assert fingerprint(back) == fingerprint(src)
        (copied,) = back.quarantine_entries()
        assert (copied.size, copied.sha256, copied.raw) == (entry.size, entry.sha256, entry.raw)
        assert back.documents.read(sha(doc)) == doc
        assert back.documents.refs() == src.documents.refs()
        with back.ingest() as tx:
            assert tx.ack_limit(SITE, AGENT, 2) == 2
    finally:
        for st in stores:
            st.close()
    # a destination that keeps fewer bytes is not a faithful copy, and says so
    with (
        open_store(urls[0]) as src,
        open_store(fresh_url(request, tmp_path / "d", "sqlite"), quarantine_keep_bytes=10) as dst,
    ):
        assert not copy_store(src, dst).ok


# -- the old per-collector documents folder ----------------------------------------------

_OLD_SCHEMA = """
CREATE TABLE refs (
    site TEXT NOT NULL, agent TEXT NOT NULL, seq INTEGER NOT NULL, sha256 TEXT NOT NULL,
    name TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (site, agent, seq, sha256)
);
CREATE TABLE documents (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, stored_at INTEGER NOT NULL);
"""


def old_folder(folder: Path, refs: list[DocumentRef], docs: dict[str, bytes]) -> None:
    """``DATA_DIR/documents`` as collectors before the store kept documents wrote it."""
    folder.mkdir(parents=True)
    db = sqlite3.connect(folder / "documents.sqlite")
    db.executescript(_OLD_SCHEMA)
    db.executemany(
        "INSERT INTO refs VALUES (?,?,?,?,?,?,?)",
        [(r.site, r.agent, r.seq, r.sha256, r.name, r.media_type, r.size) for r in refs],
    )
    for digest, data in docs.items():
        (folder / digest).write_bytes(data)
        db.execute("INSERT INTO documents VALUES (?,?,?)", (digest, len(data), 1000))
    db.commit()
    db.close()


async def test_a_collector_imports_its_old_documents_folder_once(
    url: str, tmp_path: Path, mosquitto: Any, caplog: pytest.LogCaptureFixture
) -> None:
    s = Signer(SITE, AGENT)
    a, b = pdf("old report A"), pdf("old report B")
    cfg = config_for(tmp_path / "c", mosquitto.port, database=url)
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, s.jwk)
        envs = [lab_batch(s, {"a.pdf": a}), lab_batch(s, {"a.pdf": a, "b.pdf": b})]
        pipe = VerificationPipeline(max_envelope_bytes=1 << 20)
        refs = []
        with store.ingest() as tx:  # batches stored the old way: references in the folder
            for env in envs:
                d = pipe.decide(s.topic, env, tx)
                assert isinstance(d, Accepted)
                tx.store_batch(d, T0)
                refs += document_refs(d.site, d.agent, d.payload)
        # seq 3: referenced in the old index but its transaction never committed
        ghost = DocumentRef(SITE, AGENT, 3, sha(b"ghost"), "g.pdf", "application/pdf", 5, T0)
        folder = cfg.data_dir / "documents"
        old_folder(folder, [*refs, ghost], {sha(a): a, sha(b): b})
    with caplog.at_level(logging.WARNING, logger="collector.documents"):
        async with Collector(cfg) as c:
            assert c.store.documents.read(sha(a)) == a
            assert c.store.documents.read(sha(b)) == b
            assert c.store.documents.refs() == refs  # with the reading's ts, from the batches
            with c.store.ingest() as tx:
                assert tx.ack_limit(SITE, AGENT, 2) == 2
            before = fingerprint(c.store)
    imported = [r for r in caplog.records if "old documents folder imported" in r.getMessage()]
    assert len(imported) == 1
    fields = imported[0].fields  # type: ignore[attr-defined]
    assert (fields["documents"], fields["references"]) == (2, 3)
    assert fields["skipped"] == [f"{SITE}/{AGENT} seq 3: batch not in the store"]
    assert not (folder / "documents.sqlite").exists()
    assert (folder / "documents.sqlite.imported").is_file() and (folder / sha(a)).is_file()
    # started again: nothing to import; a crash before the rename imports again, harmlessly
    with open_store(url) as store:
        assert import_folder(folder, store) is None
        (folder / "documents.sqlite.imported").rename(folder / "documents.sqlite")
        again = import_folder(folder, store)
        assert again is not None and (again.documents, again.already) == (0, 2)
        assert fingerprint(store) == before


def test_a_damaged_old_folder_is_a_clear_error_and_stays(tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "documents.sqlite").write_bytes(b"not a database at all" * 100)
    with (
        open_store(f"sqlite:///{tmp_path / 'e.sqlite'}") as store,
        pytest.raises(StoreError, match="cannot read the old documents index"),
    ):
        import_folder(folder, store)
    assert (folder / "documents.sqlite").is_file()


async def test_a_document_before_its_batch_is_acked_without_a_republish(
    url: str, tmp_path: Path, mosquitto: Any
) -> None:
    """What a collector group does when the document wins the race, on one collector: the
    document first (quarantined: nothing references it yet), then its batch, which takes it
    from the quarantine; the ack covers the batch at once."""
    from tests.collector.helpers import Publisher

    s = Signer(SITE, AGENT)
    doc = pdf("lab report that came first")
    cfg = config_for(tmp_path / "c", mosquitto.port, database=url)
    async with Collector(cfg) as c, Publisher(mosquitto.port, AGENT) as pub:
        c.store.enroll_key(SITE, AGENT, s.jwk)
        await c.connected.wait()
        await pub.follow_acks(SITE, AGENT)
        await pub.publish(document_topic(SITE, AGENT, sha(doc)), doc)
        await c.wait_until(lambda: c.stats.quarantined[UNREFERENCED] == 1)
        await pub.publish(s.topic, lab_batch(s, {"first.pdf": doc}))
        await pub.wait_ack(SITE, AGENT, 1)
        assert c.store.documents.read(sha(doc)) == doc and c.stats.documents == 1
