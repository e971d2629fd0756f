"""``mrv-collector store copy --from URL --to URL``: move an evidence store to another
backend (typically a SQLite file into PostgreSQL), then prove nothing changed.

What is copied: enrolled keys (validity, revocation), every stored envelope byte-exact with
its original receipt time (re-checked by the same verification pipeline the collector runs,
so the destination's chain state is rebuilt rather than trusted), supporting documents
(bytes, re-hashed on the way in) and which batches reference them, the quarantine (each
entry as recorded: the size and digest of the message as received, the bytes the source
kept), agent status and ack marks, record versions (the exact signed bytes), month events
and web tokens (their hashes). Not copied: InfluxDB mirror cursors (envelope ids differ between stores; the
mirror re-sends, and its writes are idempotent).

The destination must be empty (no envelopes): copying into a live store would interleave
two histories. ``fingerprint`` hashes everything copied in a backend-independent order; the
copy succeeds only when source and destination give the same counts and the same hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from collector.pipeline import Accepted, Duplicate, VerificationPipeline
from collector.store.interface import EvidenceStore, StoreError
from protocols.envelope import MAX_ENVELOPE_BYTES

__all__ = ["CopyReport", "Fingerprint", "copy_store", "fingerprint"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    counts: dict[str, int]
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"counts": self.counts, "sha256": self.sha256}


@dataclass(slots=True)
class CopyReport:
    source: Fingerprint
    destination: Fingerprint
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.source == self.destination


def fingerprint(store: EvidenceStore) -> Fingerprint:
    """Counts and one SHA-256 over keys, envelopes, documents and their references,
    quarantine, records, month events and token hashes, each in an order every backend
    produces alike."""
    h = hashlib.sha256()
    counts = {
        "keys": 0, "envelopes": 0, "documents": 0, "document_refs": 0, "quarantine": 0,
        "records": 0, "month_events": 0, "tokens": 0,
    }  # fmt: skip

    def put(*parts: object) -> None:
        h.update(repr(parts).encode())
        h.update(b"\n")

    for k in store.keys():  # noqa: SIM118 (the store, not a dict)
        counts["keys"] += 1
        put("key", k.site, k.agent, k.kid, k.valid_from, k.valid_to, k.revoked_at, k.enrolled_at)
    for a in store.agents():
        put("agent", a.site, a.agent, a.contiguous_through, a.head_hash)
        for e in store.envelopes(a.site, a.agent):
            counts["envelopes"] += 1
            put("env", e.site, e.agent, e.seq, e.hash, hashlib.sha256(e.envelope).hexdigest())
    for d in store.documents.list():
        counts["documents"] += 1
        data = store.documents.read(d.sha256)
        digest = None if data is None else hashlib.sha256(data).hexdigest()
        put("doc", d.sha256, d.size, d.stored_at, digest)
    for ref in store.documents.refs():
        counts["document_refs"] += 1
        put("ref", ref.site, ref.agent, ref.seq, ref.sha256, ref.name, ref.media_type, ref.size,
            ref.ts)  # fmt: skip
    before: int | None = None
    entries = []
    while page := store.quarantine_entries(limit=1000, before_id=before):
        entries += page
        before = page[-1].id
    for q in sorted(entries, key=lambda q: (q.received_at, q.sha256, q.reason, q.topic, q.id)):
        counts["quarantine"] += 1
        kept = hashlib.sha256(q.raw).hexdigest()
        put("q", q.received_at, q.topic, q.site, q.agent, q.kid, q.seq, q.reason, q.message,
            q.sha256, q.size, kept)  # fmt: skip
    for r in store.records.list():
        counts["records"] += 1
        files = store.records.files(r.site, r.month, r.version)
        put("rec", r.site, r.month, r.version, r.record_sha256, files)
    for m in store.month_events.list():
        counts["month_events"] += 1
        put("month", m.site, m.month, m.kind, m.version, m.record_sha256, m.at, m.by)
    for t in sorted(store.tokens.list(), key=lambda t: (t.created_at, t.name, t.id)):
        counts["tokens"] += 1
        found = store.tokens.stored_hash(t.id)
        put("token", t.name, t.role, t.sites, t.hint, t.created_at, t.revoked_at, found)
    return Fingerprint(counts, h.hexdigest())


def copy_store(src: EvidenceStore, dst: EvidenceStore, *, batch: int = 200) -> CopyReport:
    """Copy ``src`` into the empty ``dst`` and compare their fingerprints."""
    if any(a.stored_batches for a in dst.agents()):
        raise StoreError("the destination store already holds evidence; copy into an empty one")
    problems: list[str] = []
    for k in src.keys():  # noqa: SIM118 (the store, not a dict)
        dst.enroll_key(
            k.site, k.agent, k.jwk, valid_from=k.valid_from, valid_to=k.valid_to,
            enrolled_at=k.enrolled_at,
        )  # fmt: skip
    pipeline = VerificationPipeline(max_envelope_bytes=MAX_ENVELOPE_BYTES)
    for a in src.agents():
        topic = f"mrv/v1/{a.site}/{a.agent}/data"
        envs = list(src.envelopes(a.site, a.agent))
        for i in range(0, len(envs), batch):
            with dst.ingest() as tx:
                for e in envs[i : i + batch]:
                    d = pipeline.decide(topic, e.envelope, tx)
                    if isinstance(d, Accepted):
                        tx.store_batch(d, e.received_at)
                    elif not isinstance(d, Duplicate):
                        problems.append(f"{a.site}/{a.agent} seq {e.seq}: {d.message}")
        if a.last_seen is not None:
            with dst.ingest() as tx:
                tx.seen(a.site, a.agent, a.last_seen)
        if a.acked_through:
            dst.mark_acked(a.site, a.agent, a.acked_through)
        if a.status_at is not None:
            dst.record_status(a.site, a.agent, bool(a.online), a.status, a.status_at)
    # documents before their references, so no reference ever waits for its bytes
    for doc in src.documents.list():
        data = src.documents.read(doc.sha256)
        if data is None:
            problems.append(f"document {doc.sha256}: listed but unreadable")
            continue
        try:
            dst.documents.add(doc.sha256, data, doc.stored_at)
        except StoreError as exc:
            problems.append(str(exc))
    dst.documents.add_refs(src.documents.refs())
    # revocations after the envelopes: a key revoked later still verified what it signed
    for k in src.keys():  # noqa: SIM118 (the store, not a dict)
        if k.revoked_at is not None:
            dst.revoke_key(k.kid, at=k.revoked_at)
    before: int | None = None
    entries = []
    while page := src.quarantine_entries(limit=1000, before_id=before):
        entries += page
        before = page[-1].id
    with dst.ingest() as tx:
        for q in reversed(entries):  # oldest first, as they arrived
            tx.restore_quarantine(q)
    for r in src.records.list():
        files = src.records.files(r.site, r.month, r.version)
        assert files is not None
        dst.records.add(r, *files)
    for m in src.month_events.list():
        dst.month_events.add(m)
    for t in src.tokens.list():
        found = src.tokens.stored_hash(t.id)
        if found is None:
            continue
        info = dst.tokens.add(t.name, t.role, t.sites, found, t.hint, t.created_at)
        if t.revoked_at is not None:
            dst.tokens.revoke(info.id, t.revoked_at)
    return CopyReport(fingerprint(src), fingerprint(dst), problems)
