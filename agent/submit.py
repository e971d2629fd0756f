"""``mrv-agent submit``: lab results, settlement slips and manual entries as signed batches.

Every row is checked first (``protocols.submission.validate_row``, documents read and
digested); one bad row fails the whole submission before anything is written. Then the
documents are copied into ``DATA_DIR/documents/SHA256`` (fsynced), and one transaction
appends the signed batch(es) and their document references to the outbox. A running
``mrv-agent run`` on the same data directory notices the new head and publishes it; without
one, submit publishes itself and waits (bounded) for the collector's ack — what is not acked
stays in the outbox for the next submit or run.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.batch import BatchSigner, resign
from agent.catalogue import catalogue_json
from agent.clock import AgentClock
from agent.config import AgentConfig
from agent.derived.base import ReadingTuple
from agent.lock import DataDirLock
from agent.outbox import BatchRow, DocumentRow, Outbox, outbox_path
from agent.publisher import Publisher
from protocols.keys import load_private_key, public_jwk
from protocols.submission import (
    DOCUMENT_TYPES,
    MAX_DOCUMENT_BYTES,
    SubmissionError,
    document_ext,
    validate_row,
)
from protocols.wire import encode_payload

__all__ = ["SubmitResult", "csv_rows", "prepare", "submit"]

#: CSV columns (one per option of ``mrv-agent submit``; ``document`` may list several files
#: separated by ``;``, relative to the CSV file's directory).
CSV_COLUMNS = (
    "param",
    "value",
    "unit",
    "period",
    "at",
    "origin",
    "lab",
    "accreditation",
    "report_no",
    "sampled_from",
    "sampled_to",
    "note",
    "document",
    "replaces",
    "reason",
)


@dataclass(frozen=True, slots=True)
class Document:
    sha256: str
    name: str
    size: int
    media_type: str
    path: Path

    def ref(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "name": self.name,
            "size": self.size,
            "media_type": self.media_type,
        }


@dataclass(slots=True)
class SubmitResult:
    submissions: list[dict[str, Any]] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0
    documents: int = 0
    mode: str = ""  # "published", "handed_to_running_agent", "kept_in_outbox"
    acked_through: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "submissions": self.submissions,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "documents": self.documents,
            "delivery": self.mode,
            "acked_through": self.acked_through,
        }


def read_document(path: Path, where: str) -> Document:
    """Digest one document; errors name the row/field and the limit."""
    try:
        ext = document_ext(path.name)
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise SubmissionError(
                f"document {path}: {size} bytes is over the 20 MB limit "
                f"({MAX_DOCUMENT_BYTES} bytes); split or compress it"
            )
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except SubmissionError as exc:
        raise SubmissionError(f"{where}document: {exc}") from None
    except OSError as exc:
        raise SubmissionError(
            f"{where}document: cannot read {path} ({exc.strerror or exc})"
        ) from None
    return Document(h.hexdigest(), path.name, size, DOCUMENT_TYPES[ext], path)


def csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a submission CSV (header: the option names, ``-`` or ``_``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"--csv {path}: cannot read ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().replace("-", "_") for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise SubmissionError(
            f"--csv {path}: unknown column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)})"
        )
    if "param" not in header or "value" not in header:
        raise SubmissionError(f"--csv {path}: needs at least the columns param and value")
    rows = []
    for raw in reader:
        row = {
            k.strip().replace("-", "_"): (v.strip() if isinstance(v, str) else v)
            for k, v in raw.items()
            if k is not None
        }
        if None in raw:
            raise SubmissionError(
                f"--csv {path} row {reader.line_num - 1}: more fields than columns"
            )
        docs = [d.strip() for d in (row.pop("document", "") or "").split(";") if d.strip()]
        row["document_paths"] = [(Path(d) if os.path.isabs(d) else path.parent / d) for d in docs]
        rows.append(row)
    if not rows:
        raise SubmissionError(f"--csv {path}: no rows")
    return rows


def prepare(
    cfg: AgentConfig, rows: Sequence[dict[str, Any]], *, label_rows: bool, now_ms: int
) -> tuple[list[dict[str, Any]], list[Document]]:
    """Validate every row and digest its documents; the first fault raises, naming the row."""
    readings: list[dict[str, Any]] = []
    docs: dict[str, Document] = {}
    for n, row in enumerate(rows, start=1):
        where = f"row {n}: " if label_rows else ""
        row_docs = [read_document(Path(p), where) for p in row.get("document_paths") or ()]
        try:
            reading = validate_row(
                {**row, "documents": [d.ref() for d in row_docs]},
                str(cfg.industry),
            )
        except SubmissionError as exc:
            raise SubmissionError(f"{where}{exc}") from None
        readings.append(reading)
        for d in row_docs:
            docs.setdefault(d.sha256, d)
    return readings, list(docs.values())


def _store_documents(outbox: Outbox, docs: Iterable[Document]) -> None:
    """Copy each document into the outbox's content-addressed store, durably."""
    target = outbox.documents_dir
    target.mkdir(parents=True, exist_ok=True)
    for d in docs:
        dest = target / d.sha256
        if dest.exists():
            continue
        tmp = target / f".{d.sha256}.tmp"
        h = hashlib.sha256()
        with d.path.open("rb") as src, tmp.open("wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != d.sha256:
            tmp.unlink()
            raise SubmissionError(f"document {d.path} changed while it was being submitted")
        os.replace(tmp, dest)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _birth(cfg: AgentConfig, kid: str, clock: AgentClock) -> bytes:
    head = encode_payload(
        {
            "online": True,
            "agent_version": "0.1.0",
            "config_hash": cfg.config_hash,
            "kid": kid,
            "industry": cfg.industry,
        }
    )
    tail = encode_payload({"clock": clock.state(), "ts": clock.now_ms()})
    return b"".join((head[:-1], b',"catalogue":', catalogue_json(cfg), b",", tail[1:]))


async def _publish(
    cfg: AgentConfig,
    outbox: Outbox,
    signer: BatchSigner,
    clock: AgentClock,
    through: int,
    wait_s: float,
) -> None:
    """Publish the outbox (every unacked batch and its documents) until the ack covers
    ``through`` or ``wait_s`` passes; what is not acked stays in the outbox."""

    async def db(fn: Any, *args: Any) -> Any:
        return fn(*args)

    def again(envelope: bytes, seq: int, prev: str) -> BatchRow:
        b = resign(signer, envelope, seq, prev)  # chain continued after lost commits
        return BatchRow(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)

    pub = Publisher(cfg, outbox, db, lambda: _birth(cfg, signer.kid, clock), again)
    task = asyncio.create_task(pub.run(), name="publisher")
    deadline = time.monotonic() + wait_s
    try:
        while outbox.acked_through < through and time.monotonic() < deadline:
            pub.wake.set()
            await asyncio.sleep(0.1)
    finally:
        pub.request_stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except (TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def submit(
    cfg: AgentConfig,
    rows: Sequence[dict[str, Any]],
    *,
    label_rows: bool = False,
    publish: bool = True,
    wait_s: float = 10.0,
) -> SubmitResult:
    """Validate, sign, commit (and publish) a submission; see the module docstring."""
    clock = AgentClock(cfg.clock)
    now = clock.now_ms()
    readings, docs = prepare(cfg, rows, label_rows=label_rows, now_ms=now)
    key = load_private_key(cfg.key_file)
    kid = public_jwk(key)["kid"]
    signer = BatchSigner(cfg.site, cfg.agent, key, kid)
    size = max(1, cfg.publish.max_readings_per_batch)
    lock = DataDirLock(Path(cfg.data_dir))
    alone = lock.try_acquire()
    result = SubmitResult()
    try:
        with Outbox(
            outbox_path(cfg.data_dir),
            site=cfg.site,
            agent=cfg.agent,
            synchronous=cfg.outbox.synchronous,
        ) as outbox:
            _store_documents(outbox, docs)
            chunks = [readings[i : i + size] for i in range(0, len(readings), size)]
            doc_rows: list[DocumentRow] = []
            ids: list[dict[str, Any]] = []

            def build(seq: int, prev: str | None) -> list[BatchRow]:
                doc_rows.clear()
                ids.clear()
                out = []
                for chunk in chunks:
                    seq += 1
                    tuples: list[ReadingTuple] = []
                    for i, r in enumerate(chunk, start=1):
                        sub_id = f"{cfg.agent}:{seq}:{i}"
                        extra: dict[str, Any] = {
                            k: r[k] for k in ("origin", "unit", "period") if k in r
                        }
                        extra["evidence"] = {"submission": sub_id, **r["evidence"]}
                        tuples.append((r["id"], r["ts"], r["value"], "good", None, extra))
                        for d in r["evidence"].get("documents", ()):
                            doc_rows.append(DocumentRow(d["sha256"], seq, d["name"], d["size"]))
                        ids.append(
                            {
                                "submission": sub_id,
                                "param": r["id"],
                                "value": r["value"],
                                "unit": r.get("unit"),
                                "seq": seq,
                            }
                        )
                    b = signer.build(seq, prev, now, clock.state(), tuples)
                    out.append(
                        BatchRow(b.seq, b.prev, b.hash, b.created_ms, b.readings, b.envelope)
                    )
                    prev = b.hash
                return out

            # doc_rows is filled by build, inside the same transaction as the batches
            rows_out = outbox.append(build, None, doc_rows)
            result.submissions = ids
            result.first_seq, result.last_seq = rows_out[0].seq, rows_out[-1].seq
            result.documents = len(docs)
            if not alone:
                result.mode = "handed_to_running_agent"
            elif publish:
                asyncio.run(_publish(cfg, outbox, signer, clock, result.last_seq, wait_s))
                result.mode = (
                    "published" if outbox.acked_through >= result.last_seq else "kept_in_outbox"
                )
            else:
                result.mode = "kept_in_outbox"
            result.acked_through = outbox.acked_through
    finally:
        lock.release()
    return result
