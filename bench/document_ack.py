"""Benchmark: what documents in the evidence store add to ingest. Not a test.

Every ingest group asks the store, for every agent it acks, how far the ack may go
(``tx.ack_limit``: the first batch whose referenced documents are not all stored), whether
the agent submits documents or not (measured per group: transactions with the check minus
empty ones); a batch that references documents also records them
(``reference_documents``) and looks for copies that beat it (``documents_from_quarantine``);
a document message checks its reference and stores its bytes. Measured inside one open
ingest transaction per backend, on a store holding AGENTS agents x BATCHES batches of which
every tenth references a document: microseconds per call (wall), and CPU microseconds per
call in this process and, for PostgreSQL, in the database server (from /proc).

    .venv/bin/python bench/document_ack.py --calls 2000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.store_ingest import server_cpu
from collector.documents import document_refs
from collector.pipeline import Accepted, VerificationPipeline
from collector.store import EvidenceStore, open_store, sqlite_url
from simulators.postgres_server import PostgresServer
from tests.collector.helpers import T0, Signer

SITE = "smelter-1"


def _fill(store: EvidenceStore, agents: int, batches: int) -> list[Signer]:
    pipe = VerificationPipeline(max_envelope_bytes=1 << 20)
    signers = [Signer(SITE, f"agent-{i}") for i in range(agents)]
    for s in signers:
        store.enroll_key(SITE, s.agent, s.jwk)
        with store.ingest() as tx:
            for k in range(1, batches + 1):
                if k % 10:
                    env = s.next(20)
                else:
                    doc = f"lab report {s.agent} {k}".encode()
                    ref = {"sha256": hashlib.sha256(doc).hexdigest(), "name": "r.pdf",
                           "size": len(doc), "media_type": "application/pdf"}  # fmt: skip
                    env = s.next(readings=[{
                        "id": "coal_ncv_gj_per_t", "ts": T0 + k, "value": 23.1,
                        "quality": "good", "origin": "lab",
                        "evidence": {"submission": f"s{k}", "documents": [ref]},
                    }])  # fmt: skip
                d = pipe.decide(s.topic, env, tx)
                assert isinstance(d, Accepted), d
                tx.store_batch(d, T0)
                refs = document_refs(d.site, d.agent, d.payload)
                if refs:
                    tx.reference_documents(refs)
                    assert not tx.documents_from_quarantine(refs, T0)
                    tx.store_document(refs[0].sha256, doc, T0)
    return signers


def _measure(
    store: EvidenceStore, calls: int, op: Callable[[object, int], object], pid: int | None
) -> dict[str, float]:
    with store.ingest() as tx:
        op(tx, 0)  # warm: statements prepared, caches filled
        srv0 = server_cpu(pid) if pid else 0.0
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i in range(calls):
            op(tx, i)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        srv = (server_cpu(pid) - srv0) if pid else 0.0
    return {
        "wall_us": round(wall / calls * 1e6, 1),
        "collector_cpu_us": round(cpu / calls * 1e6, 1),
        "database_cpu_us": round(srv / calls * 1e6, 1),
    }


def _per_group(
    store: EvidenceStore, groups: int, names: list[str], through: int, pid: int | None
) -> dict[str, float]:
    """The ack check of a group acking every agent, per group: ingest transactions with
    it minus the same number of empty ones."""

    def loop(check: bool) -> tuple[float, float, float]:
        srv0 = server_cpu(pid) if pid else 0.0
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(groups):
            with store.ingest() as tx:
                if check:
                    for a in names:
                        tx.ack_limit(SITE, a, through)
        srv = (server_cpu(pid) - srv0) if pid else 0.0
        return time.perf_counter() - t0, time.process_time() - cpu0, srv

    loop(True)  # warm
    base, with_check = loop(False), loop(True)
    return {
        k: round((w - b) / groups * 1e6, 1)
        for k, w, b in zip(
            ("wall_us", "collector_cpu_us", "database_cpu_us"), with_check, base, strict=True
        )
    }


def run(url: str, agents: int, batches: int, calls: int, pid: int | None) -> dict[str, object]:
    with open_store(url) as store:
        signers = _fill(store, agents, batches)
        names = [s.agent for s in signers]
        shas = [r.sha256 for r in store.documents.refs(SITE)]
        refs = store.documents.refs(SITE, agent=names[0])[:1]
        return {
            f"ack check of one group acking {agents} agents": _per_group(
                store, max(1, calls // 10), names, batches, pid
            ),
            "document_referenced (per document message)": _measure(
                store, calls, lambda tx, i: tx.document_referenced(SITE, names[0], shas[i % len(shas)]), pid  # type: ignore[attr-defined]
            ),
            "reference + from_quarantine (per batch naming one document)": _measure(
                store, calls, lambda tx, i: (tx.reference_documents(refs), tx.documents_from_quarantine(refs, 0)), pid  # type: ignore[attr-defined]
            ),
        }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(
            sqlite_url(Path(tmp) / "e.sqlite"), args.agents, args.batches, args.calls, None
        )
        with PostgresServer() as pg:
            assert pg.proc is not None
            results["postgresql"] = run(
                pg.create_database("docs"), args.agents, args.batches, args.calls, pg.proc.pid
            )
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(json.dumps({"results": results, "load_average_1m": float(load)}, indent=2))
    print("reproduce:", shlex.join([".venv/bin/python", "bench/document_ack.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
