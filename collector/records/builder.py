"""``record build``: select a site-month's envelopes, compute, sign, version, write the bundle.

Selection (the boundary rule): for every agent of the site, every envelope holding a reading
with ``start − boundary_window_s ≤ ts < end + boundary_window_s`` (the store's
``envelopes_in_range``), plus every envelope between the first and the last of those, so
each agent's evidence is one contiguous, chain-checkable seq range (several ranges only if the
store itself has a hole, which the record flags as ``evidence_gap``). The window margin brings
in the counter readings just before and after the month (``start_bracketed`` /
``end_bracketed`` say whether they were found).

The computation runs on the written ``batches.jsonl`` through the same runner the verifier
uses, so the record is computed from exactly the bytes the verifier will read.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from collector.models import EnrolledKey, RecordVersion, StoredEnvelope
from collector.records import bundle as B
from collector.records.csv_writer import write_readings_csv
from collector.records.ledger import LEDGER, write_ledger
from collector.records.report import write_report
from collector.records.runner import ChunkScanner, default_workers, finish, worker_pool
from collector.store.interface import RecordStore
from protocols.keys import Ed25519PrivateKey, public_jwk
from protocols.record import RecordError, RecordSettings, canonical_bytes
from protocols.record.accumulate import Partial
from protocols.record.submissions import document_file

__all__ = ["BuildResult", "EnvelopeSource", "build_record"]

Progress = Callable[[str, float], None]


class EnvelopeSource(Protocol):
    """The part of ``collector.store.EvidenceStore`` the builder reads."""

    def envelopes(
        self, site: str, agent: str, first_seq: int = 1, last_seq: int | None = None
    ) -> Any: ...

    def envelopes_in_range(
        self, site: str, start: int, end: int, *, agent: str | None = None
    ) -> Any: ...

    def key(self, kid: str) -> EnrolledKey | None: ...


@dataclass
class BuildResult:
    bundle_dir: Path
    version: int
    record: dict[str, Any]
    record_sha256: str
    timings: dict[str, float] = field(default_factory=dict)


def _iso_utc(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


#: Envelopes per chunk handed to a worker while selection goes on (≈ 60 MB of big batches).
CHUNK_ENVELOPES = 96


def _write_batches(
    store: EnvelopeSource,
    settings: RecordSettings,
    path: Path,
    progress: Progress | None,
    on_chunk: Callable[[int, int, int], None],
    digest: Any = None,
) -> int:
    """Write the selected envelopes byte-exact, one per line, agents in order, seq ascending;
    call ``on_chunk(start, end, first_line)`` for every ``CHUNK_ENVELOPES`` written, and feed
    the bytes to ``digest`` (a hashlib object: the manifest's SHA-256 of the file)."""
    w = settings.window
    margin = settings.boundary_window_s * 1000
    lo, hi = w.start_ms - margin, w.end_ms + margin
    n = 0
    last: dict[str, int] = {}
    chunk = [0, 0, 1]  # start offset, bytes written, first line
    with path.open("wb") as fh:

        def put(e: StoredEnvelope) -> None:
            nonlocal n
            if b"\n" in e.envelope:  # flattened JWS from sign_envelope has none; be safe
                raise RecordError(f"envelope {e.agent} seq {e.seq} contains a newline")
            fh.write(e.envelope)
            fh.write(b"\n")
            if digest is not None:
                digest.update(e.envelope)
                digest.update(b"\n")
            chunk[1] += len(e.envelope) + 1
            last[e.agent] = e.seq
            n += 1
            if n % CHUNK_ENVELOPES == 0:
                fh.flush()
                on_chunk(chunk[0], chunk[0] + chunk[1], chunk[2])
                chunk[:] = [chunk[0] + chunk[1], 0, n + 1]
            if progress is not None and n % 16 == 0:
                progress("select", float(n))

        for e in store.envelopes_in_range(settings.site, lo, hi):
            prev = last.get(e.agent)
            if prev is not None and e.seq > prev + 1:
                for gap in store.envelopes(settings.site, e.agent, prev + 1, e.seq - 1):
                    put(gap)
            if prev is None or e.seq > prev:
                put(e)
    on_chunk(chunk[0], chunk[0] + chunk[1], chunk[2])
    return n


class DocumentSource(Protocol):
    """Where the collector keeps submitted documents (``store.documents``)."""

    def read(self, sha256: str) -> bytes | None: ...


def _write_documents(
    tmp: Path, partial: Partial, documents: DocumentSource | None
) -> frozenset[str]:
    """Copy every document the month's submissions reference into ``documents/SHA.EXT``;
    return the digests present (a missing one becomes the record flag document_missing)."""
    present: set[str] = set()
    for s in partial.submissions:
        ev = s["reading"].get("evidence") or {}
        for d in ev.get("documents") or ():
            sha = d.get("sha256")
            if not isinstance(sha, str) or sha in present:
                continue
            data = documents.read(sha) if documents is not None else None
            if data is None or hashlib.sha256(data).hexdigest() != sha:
                continue
            target = tmp / document_file(d)
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
            present.add(sha)
    return frozenset(present)


def build_record(
    store: EnvelopeSource,
    versions: RecordStore,
    settings: RecordSettings,
    *,
    signing_key: Ed25519PrivateKey,
    out_dir: Path,
    reason: str = "initial build",
    workers: int | None = None,
    progress: Progress | None = None,
    now_ms: int | None = None,
    documents: DocumentSource | None = None,
) -> BuildResult:
    """Build, sign and store the next version of a site-month; write ``OUT/SITE_MONTH_vN``."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    workers = workers or default_workers()
    prev = versions.latest(settings.site, settings.month)
    version = 1 if prev is None else prev.version + 1
    if prev is not None and not reason.strip():
        raise RecordError("a rebuilt month needs a reason (--reason)")
    final = out_dir / B.bundle_name(settings.site, settings.month, version)
    if final.exists():
        raise RecordError(f"{final} already exists; versions are never overwritten")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        batches_path = tmp / B.BATCHES
        with worker_pool(workers) as pool:
            scanner = ChunkScanner(settings, batches_path, pool=pool)
            batches_sha = hashlib.sha256()
            n = _write_batches(store, settings, batches_path, progress, scanner.submit, batches_sha)
            if n == 0:
                raise RecordError(
                    f"no batches for site {settings.site} in {settings.month} "
                    f"({settings.window.iso(settings.window.start_ms)} .. "
                    f"{settings.window.iso(settings.window.end_ms)})"
                )
            timings["select_s"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            size = batches_path.stat().st_size
            done = 0

            def scanned(nbytes: int) -> None:
                nonlocal done
                done += nbytes
                if progress is not None:
                    progress("compute", done / size)

            scanner.progress = scanned
            scan = scanner.result()
            bad = [li for li in scan.lines if li.error]
            if bad:
                raise RecordError(f"batches.jsonl line {bad[0].line}: {bad[0].error}")
            scan.partial.documents_present = _write_documents(tmp, scan.partial, documents)
            comp = finish(settings, scan.partial, pool=pool)
        timings["compute_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        agents: dict[str, EnrolledKey] = {}
        for li in scan.lines:
            if li.kid is None or li.meta is None:
                continue
            k = agents.get(li.kid)
            if k is None:
                k = store.key(li.kid)
                if k is None:
                    raise RecordError(
                        f"kid {li.kid} of {li.meta.agent} seq {li.meta.seq} is not enrolled"
                    )
                if (k.site, k.agent) != (li.meta.site, li.meta.agent):
                    raise RecordError(
                        f"kid {li.kid} is enrolled for {k.site}/{k.agent}, "
                        f"not {li.meta.site}/{li.meta.agent}"
                    )
                agents[li.kid] = k
            if not B.key_valid_at((k.valid_from, k.valid_to), li.meta.created):
                raise RecordError(
                    f"{li.meta.agent} seq {li.meta.seq} was created outside the validity of "
                    f"key {li.kid} (was the key's period changed after ingest?)"
                )
        created = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        record = dict(comp.body)
        record["version"] = version
        record["reason"] = reason
        record["created"] = _iso_utc(created)
        record["collector"] = {"kid": public_jwk(signing_key)["kid"]}
        record["previous"] = (
            None
            if prev is None
            else {
                "version": prev.version,
                "record_sha256": prev.record_sha256,
                "created": _iso_utc(prev.created or 0),  # stored versions always have it
                "reason": prev.reason,
            }
        )
        data = canonical_bytes(record)
        jws = B.sign_record(data, signing_key)
        (tmp / B.RECORD).write_bytes(data)
        (tmp / B.SIGNATURE).write_bytes(jws)
        B.write_json(tmp / B.KEYS, B.keys_document(list(agents.values()), signing_key))
        if progress is not None:
            progress("write", 0.0)
        # readings.csv (millions of numbers to format) is written by forked children, one
        # row range each, while this process renders the report: fork shares ``comp``
        # without pickling it; the parts are then concatenated (same bytes as one writer).
        nk = settings.n_intervals
        known: dict[str, str] = {}  # digests computed while writing, for the manifest
        n_parts = min(workers, nk) if workers > 1 else 1
        if n_parts > 1:
            ctx = multiprocessing.get_context("fork")
            cuts = [nk * i // n_parts for i in range(n_parts + 1)]
            parts = [tmp / f".{B.READINGS}.part{i}" for i in range(n_parts)]
            procs = [
                ctx.Process(
                    target=write_readings_csv,
                    args=(parts[i], settings, comp, (cuts[i], cuts[i + 1])),
                )
                for i in range(n_parts)
            ]
            for pr in procs:
                pr.start()
        else:
            write_readings_csv(tmp / B.READINGS, settings, comp)
        write_report(tmp / B.REPORT, record, comp)
        write_ledger(tmp / LEDGER, json.loads(data))  # exactly what record.json says
        if n_parts > 1:
            for pr in procs:
                pr.join()
            failed = [pr.exitcode for pr in procs if pr.exitcode != 0]
            if failed:
                raise RecordError(f"writing readings.csv failed (exit {failed[0]})")
            csv_sha = hashlib.sha256()
            with (tmp / B.READINGS).open("wb") as out:
                for part in parts:
                    with part.open("rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            csv_sha.update(block)
                            out.write(block)
                    part.unlink()
            known[B.READINGS] = csv_sha.hexdigest()
        known[B.BATCHES] = batches_sha.hexdigest()
        B.seal_bundle(tmp, signing_key, known)  # last: every file above is covered
        timings["write_s"] = time.perf_counter() - t2
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sha = hashlib.sha256(data).hexdigest()
    versions.add(
        RecordVersion(settings.site, settings.month, version, created, reason, sha, str(final)),
        data,
        jws,
    )
    timings["total_s"] = time.perf_counter() - t0
    return BuildResult(final, version, record, sha, timings)
