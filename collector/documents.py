"""Supporting documents (lab reports, settlement slips): content-addressed, referenced by
signed batches, and holding back the ack until they are stored.

Transport (DESIGN.md "Evidence beyond meters"; README "Documents"): a batch's submission
readings name documents by SHA-256 (``evidence.documents``); the agent publishes each
document's raw bytes on ``mrv/v1/{site}/{agent}/document/{sha256}`` right after the batch,
and keeps both until the collector's ack covers the batch. The collector

* records, in the same ingest transaction as the batch, which documents it references;
* accepts a document only if its bytes hash to the topic's digest and a stored batch of
  that agent references it (anything else is quarantined with its reason); a document that
  beat its batch (in a collector group, to another collector) is taken from its whole
  quarantined copy when the batch is stored;
* acks an agent only up to the last seq before the first batch whose documents are not all
  stored — so an agent never deletes a batch (or a document) the collector lacks, and a
  document lost anywhere on the way is republished with its batch.

Documents and references live in the evidence store (``store.documents``, one
implementation for both backends in ``collector.store.documents``), so every collector of a
group and the record build see them. Collectors before that kept them in
``DATA_DIR/documents/`` (files named by digest plus ``documents.sqlite``);
``import_folder`` moves such a folder into the store once, at startup.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from pathlib import Path

from collector.models import DocumentRef
from collector.store import EvidenceStore, StoreError
from protocols.compact import BatchReadings
from protocols.envelope import parse_envelope
from protocols.errors import MrvError
from protocols.payload import BatchPayload, parse_payload

__all__ = ["DocumentRef", "FolderImport", "document_refs", "import_folder"]

log = logging.getLogger("collector.documents")

#: What is left of an imported folder's index (kept: the operator deletes the folder).
IMPORTED_SUFFIX = ".imported"


def document_refs(site: str, agent: str, payload: BatchPayload) -> list[DocumentRef]:
    """The documents a batch's submission readings reference (the first reading naming a
    digest gives its name and ts)."""
    out: dict[str, DocumentRef] = {}
    readings = payload.readings
    # a v2 series never carries evidence: only its v1 readings are looked at
    for r in readings.rest if isinstance(readings, BatchReadings) else readings:
        if r.evidence is None:
            continue
        for d in r.evidence.documents:
            if d.sha256 not in out:
                out[d.sha256] = DocumentRef(
                    site, agent, payload.seq, d.sha256, d.name, d.media_type, d.size, r.ts
                )
    return list(out.values())


class FolderImport:
    """What ``import_folder`` moved: documents stored, references recorded, and what it
    could not take (a file missing or not matching its digest, a batch not in the store)."""

    def __init__(self) -> None:
        self.documents = 0
        self.already = 0
        self.refs = 0
        self.skipped: list[str] = []


def import_folder(folder: Path, store: EvidenceStore) -> FolderImport | None:
    """Move an old per-collector documents folder (``documents.sqlite`` and files named by
    digest) into the store; None if there is none or it was imported before.

    Idempotent: every write is insert-if-absent, so a crash halfway just imports again.
    Afterwards the index is renamed ``documents.sqlite.imported``; the files stay until the
    operator deletes them. References are derived again from the stored batches (the same
    function ingest uses), so they carry the reading's ts the old index lacked.
    """
    index = folder / "documents.sqlite"
    if not index.is_file():
        return None
    try:
        db = sqlite3.connect(index)  # read-write: recovers a WAL the old collector left
        try:
            docs = db.execute("SELECT sha256, stored_at FROM documents ORDER BY sha256").fetchall()
            batches = db.execute(
                "SELECT DISTINCT site, agent, seq FROM refs ORDER BY site, agent, seq"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the old documents index {index}: {exc}") from None
    done = FolderImport()
    for sha, stored_at in docs:
        try:
            data = (folder / sha).read_bytes()
        except OSError as exc:
            done.skipped.append(f"{sha}: {exc.strerror or exc}")
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            done.skipped.append(f"{sha}: the file does not hash to its name")
            continue
        if store.documents.add(sha, data, int(stored_at)):
            done.documents += 1
        else:
            done.already += 1
    refs: list[DocumentRef] = []
    for site, agent, seq in batches:
        env = next(iter(store.envelopes(site, agent, seq, seq)), None)
        if env is None:
            # a batch whose references were written but whose transaction rolled back;
            # it is referenced again when the agent republishes it
            done.skipped.append(f"{site}/{agent} seq {seq}: batch not in the store")
            continue
        with contextlib.suppress(MrvError):
            refs += document_refs(site, agent, parse_payload(parse_envelope(env.envelope).payload))
    store.documents.add_refs(refs)
    done.refs = len(refs)
    index.rename(index.with_name(index.name + IMPORTED_SUFFIX))
    log.warning(
        "old documents folder imported into the evidence store",
        extra={
            "fields": {
                "folder": str(folder),
                "documents": done.documents,
                "already_stored": done.already,
                "references": done.refs,
                "skipped": done.skipped[:20],
                "index_renamed_to": index.name + IMPORTED_SUFFIX,
            }
        },
    )
    return done
