"""Run the record computation over a ``batches.jsonl`` file on several CPU cores.

The builder (after writing the file) and the verifier (reading a bundle) both call
:func:`scan_batches`: the file is cut at line boundaries into one chunk per worker; each
worker parses its envelopes, optionally checks their signatures, and accumulates its
payloads with ``protocols.record.accumulate``. Partials merge exactly (see that module), so
the record does not depend on the number of workers. Parameters are then finished in
parallel too (:func:`finish`).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.envelope import (
    MAX_ENVELOPE_BYTES,
    ParsedEnvelope,
    _sealed_parts,  # the signer's exact layout read without a JSON parse
    parse_envelope,
    verify_signature,
)
from protocols.errors import EnvelopeError, StrictJsonError
from protocols.keys import Ed25519PublicKey, public_key_from_jwk
from protocols.record import (
    BatchMeta,
    Partial,
    RecordComputation,
    RecordError,
    RecordSettings,
    accumulate,
    finish_record,
    merge_partials,
    strict_payload,
)
from protocols.record.json_load import load_payload

__all__ = [
    "ChunkScanner",
    "LineInfo",
    "ScanResult",
    "default_workers",
    "finish",
    "scan_batches",
    "worker_pool",
]


@dataclass(slots=True)
class LineInfo:
    """One line of batches.jsonl: its envelope's kid, the batch it carries, what failed."""

    line: int  # 1-based
    kid: str | None = None
    meta: BatchMeta | None = None
    error: str | None = None


@dataclass(slots=True)
class ScanResult:
    partial: Partial
    lines: list[LineInfo] = field(default_factory=list)


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def _chunks(data_len: int, path: Path, n: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) byte ranges cut after newlines."""
    if n <= 1 or data_len == 0:
        return [(0, data_len, 1)]
    bounds = [0]
    with path.open("rb") as fh:
        for i in range(1, n):
            fh.seek(max(bounds[-1], data_len * i // n))
            fh.readline()
            pos = fh.tell()
            if pos >= data_len:
                break
            if pos > bounds[-1]:
                bounds.append(pos)
    bounds.append(data_len)
    out = []
    line = 1
    with path.open("rb") as fh:
        for a, b in itertools.pairwise(bounds):
            out.append((a, b, line))
            fh.seek(a)
            line += fh.read(b - a).count(b"\n")
    return out


_Keys = dict[str, tuple[str, str, dict[str, Any]]]  # kid -> (site, agent, jwk)


def strict_load(payload: bytes) -> Any:
    """The wire contract's strict parse (``mrv-verify`` reads a bundle as ingest did):
    ``strict_json.loads``, proved clean in C for the common payload (``strict_payload``)."""
    try:
        return strict_payload.loads(payload)
    except StrictJsonError as exc:
        raise ValueError(f"{exc.reason}: {exc}") from None


def _kid_and_payload(
    raw: bytes, headers: dict[bytes, tuple[str, dict[str, Any]]], signed: bool = False
) -> ParsedEnvelope | None:
    """An envelope read without parsing its JSON, when it is laid out as the agent signs it
    (``{"protected":P,"payload":Q,"signature":S}``, plain strings) with a protected header
    ``P`` that :func:`parse_envelope` accepted on an earlier line (``headers``: the decoded
    P → kid and header) and base64url ``Q`` and ``S``: exactly what ``parse_envelope`` gives for such
    bytes (with ``signed`` the signing input too, which only verification needs). None for
    anything else, which ``parse_envelope`` then reads."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        return None
    parts = _sealed_parts(raw, signed)
    known = None if parts is None else headers.get(parts[0])
    if parts is None or known is None:
        return None
    _, payload, signature, signing_input = parts
    return ParsedEnvelope(known[0], known[1], signing_input, payload, signature)


def _check_signature(
    env: ParsedEnvelope, keys: _Keys, pubs: dict[str, Ed25519PublicKey]
) -> str | None:
    """What is wrong with ``env``'s signature under keys.json's key for its kid, or None."""
    bound = keys.get(env.kid)
    if bound is None:
        return f"kid {env.kid} is not in keys.json"
    pub = pubs.get(env.kid)
    if pub is None:
        try:
            pub = pubs[env.kid] = public_key_from_jwk(bound[2])
        except ValueError as exc:
            return f"key {env.kid} in keys.json is unusable: {exc}"
    try:
        verify_signature(env, pub)
    except EnvelopeError as exc:
        return str(exc)
    return None


def _work(
    args: tuple[dict[str, Any], str, int, int, int, _Keys | None],
) -> tuple[Partial, list[LineInfo]]:
    settings_d, path, start, end, first_line, keys = args
    settings = RecordSettings.from_dict(settings_d)
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    pubs: dict[str, Ed25519PublicKey] = {}
    # protected headers parse_envelope accepted → kid and header
    headers: dict[bytes, tuple[str, dict[str, Any]]] = {}
    signed = keys is not None
    lines: list[LineInfo] = []
    payloads: list[bytes] = []
    used: list[LineInfo] = []
    for i, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        info = LineInfo(first_line + i)
        lines.append(info)
        env = _kid_and_payload(raw, headers, signed)
        if env is None:
            try:
                env = parse_envelope(raw)
            except EnvelopeError as exc:
                info.error = f"not a valid envelope: {exc}"
                continue
            sealed = _sealed_parts(raw, False)  # once per header: remember it
            if sealed is not None:
                headers.setdefault(sealed[0], (env.kid, env.header))
        info.kid = env.kid
        if keys is not None:
            info.error = _check_signature(env, keys, pubs)
        payloads.append(env.payload)
        used.append(info)
    # Verifying (keys given): every payload is parsed as strictly as ingest parses it.
    loads = strict_load if keys is not None else load_payload
    try:
        part = accumulate(settings, payloads, packed=True, loads=loads)
        metas: list[BatchMeta | None] = list(part.batches)
    except RecordError:
        # Find the faulty payloads one by one so the others still count and each fault
        # is named by its line.
        parts = []
        metas = []
        for info, pl in zip(used, payloads, strict=True):
            try:
                p1 = accumulate(settings, [pl], packed=True, loads=loads)
            except RecordError as exc:
                info.error = f"{info.error}; {exc}" if info.error else str(exc)
                metas.append(None)
                continue
            parts.append(p1)
            metas.append(p1.batches[0])
        part = merge_partials(parts) if parts else accumulate(settings, [], packed=True)
    for info, meta in zip(used, metas, strict=True):
        info.meta = meta
    return part, lines


@contextmanager
def worker_pool(workers: int) -> Iterator[Any]:
    """A pool of ``workers`` processes (fork), or None for in-process work."""
    if workers <= 1:
        yield None
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield pool


def pool_map(pool: Any) -> Callable[..., Any]:
    """``map`` over the pool (results in order), or the builtin ``map``."""
    return map if pool is None else pool.imap


class ChunkScanner:
    """Scan byte ranges of a batches.jsonl file as they become available.

    The builder submits each range right after writing it, so parsing and accumulation
    overlap the selection of envelopes from the store.
    """

    def __init__(
        self,
        settings: RecordSettings,
        path: Path,
        *,
        keys: _Keys | None = None,
        pool: Any = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.path = path
        self.keys = keys
        self.pool = pool
        self.progress = progress
        self._sd = settings.to_dict()
        self._pending: list[tuple[int, Any]] = []

    def submit(self, start: int, end: int, first_line: int) -> None:
        if end <= start:
            return
        args = (self._sd, str(self.path), start, end, first_line, self.keys)
        if self.pool is None:
            self._pending.append((end - start, _work(args)))
        else:
            self._pending.append((end - start, self.pool.apply_async(_work, (args,))))

    def result(self) -> ScanResult:
        """Merge each chunk's (packed) partial as it arrives, while later chunks are still
        being computed; the merged partial has whole-month arrays."""
        merged: Partial | None = None
        lines: list[LineInfo] = []
        for size, job in self._pending:
            part, infos = job if isinstance(job, tuple) else job.get()
            merged = merge_partials([part] if merged is None else [merged, part])
            lines.extend(infos)
            if self.progress is not None:
                self.progress(size)
        if merged is None:
            merged = accumulate(self.settings, [])
        return ScanResult(merged, sorted(lines, key=lambda x: x.line))


def scan_batches(
    settings: RecordSettings,
    path: Path,
    *,
    keys: _Keys | None = None,
    pool: Any = None,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """Parse, optionally verify (``keys``: kid → (site, agent, jwk)) and accumulate every
    envelope in ``path``. ``progress`` is called with bytes done."""
    scanner = ChunkScanner(settings, path, keys=keys, pool=pool, progress=progress)
    for a, b, line in _chunks(path.stat().st_size, path, workers * 2 if pool else 1):
        scanner.submit(a, b, line)
    return scanner.result()


def finish(settings: RecordSettings, partial: Partial, *, pool: Any = None) -> RecordComputation:
    """``protocols.record.finish_record`` with parameters spread over the pool."""
    return finish_record(settings, partial, mapper=pool_map(pool))
