"""The evidence store contract on both backends: records, tokens, month events, mirror
cursors, the web UI's series reads (same answers from SQLite and PostgreSQL), several
writers on one PostgreSQL database, ``store copy``, and the same bundle bytes from either.

The ingest decisions themselves (duplicates, equivocation, quarantine, out-of-order chains)
run on both backends in ``test_pipeline.py``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from collector.models import MonthEvent, RecordVersion
from collector.pipeline import Accepted, Duplicate, Quarantined, VerificationPipeline
from collector.store import EvidenceStore, StoreError, open_store
from collector.store.copy import copy_store, fingerprint
from collector.web.tokens import TokenStore
from tests.collector.helpers import T0, Signer
from tests.support.stores import BACKENDS, fresh_url

SITE, AGENT = "smelter-1", "agent-a"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EvidenceStore]:
    with open_store(fresh_url(request, tmp_path, request.param)) as s:
        yield s


def ingest_all(
    store: EvidenceStore,
    topic: str,
    envs: list[bytes],
    agents: list[tuple[str, str]] | None = None,
) -> list[object]:
    pipeline = VerificationPipeline(max_envelope_bytes=1 << 20)
    out: list[object] = []
    with store.ingest(agents) as tx:
        for raw in envs:
            d = pipeline.decide(topic, raw, tx)
            if isinstance(d, Accepted):
                tx.store_batch(d, 1)
            elif isinstance(d, Quarantined):
                tx.quarantine(d, 1)
            out.append(d)
    return out


def fill(store: EvidenceStore, signer: Signer, n: int = 6) -> None:
    store.enroll_key(SITE, AGENT, signer.jwk)
    envs = [signer.next(10) for _ in range(n)]
    ingest_all(store, signer.topic, envs)


def test_records_are_append_only(store: EvidenceStore) -> None:
    v1 = RecordVersion(SITE, "2026-01", 1, 1000, "initial build", "ab" * 32, "/b/v1")
    store.records.add(v1, b'{"v":1}', b"jws1")
    store.records.add(
        RecordVersion(SITE, "2026-01", 2, 2000, "late data", "cd" * 32, None), b"{}", b"j2"
    )
    with pytest.raises(StoreError, match="already exists"):
        store.records.add(v1, b"other", b"other")
    latest = store.records.latest(SITE, "2026-01")
    assert latest is not None and latest.version == 2 and latest.reason == "late data"
    assert [v.version for v in store.records.list(SITE)] == [1, 2]
    assert store.records.list(SITE, "2026-02") == []
    assert store.records.files(SITE, "2026-01", 1) == (b'{"v":1}', b"jws1")
    assert store.records.files(SITE, "2026-01", 3) is None
    assert store.records.list()[0] == v1


def test_tokens(store: EvidenceStore) -> None:
    tokens = TokenStore(store.tokens)
    secret, info = tokens.add("ops", "verifier", [SITE])
    assert tokens.authenticate(secret) == info or tokens.authenticate(secret).id == info.id  # type: ignore[union-attr]
    assert tokens.authenticate(secret + "x") is None
    assert [t.name for t in tokens.list()] == ["ops"]
    revoked = tokens.revoke("ops")
    assert revoked.revoked_at is not None and tokens.authenticate(secret) is None
    assert tokens.list(include_revoked=False) == []


def test_month_events(store: EvidenceStore) -> None:
    store.month_events.add(MonthEvent(SITE, "2026-01", "sealed", 1, "ab" * 32, 5, "Wang"))
    store.month_events.add(MonthEvent(SITE, "2026-01", "sealed", 2, "cd" * 32, 9, "Li"))
    latest = store.month_events.latest(SITE, "2026-01", "sealed")
    assert latest is not None and latest.version == 2 and latest.by == "Li"
    assert store.month_events.latest(SITE, "2026-01", "submitted") is None
    assert [e.version for e in store.month_events.list(SITE)] == [1, 2]


def test_mirror_cursor_only_moves_forward(store: EvidenceStore) -> None:
    assert store.mirror_cursor("influx") == 0
    store.set_mirror_cursor("influx", 7)
    store.set_mirror_cursor("influx", 3)
    assert store.mirror_cursor("influx") == 7


def test_series_reads_agree_between_backends(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    signer = Signer(SITE, AGENT)
    answers = []
    envs = [signer.next(10) for _ in range(6)]
    for backend in BACKENDS:
        with open_store(fresh_url(request, tmp_path / backend, backend)) as s:
            s.enroll_key(SITE, AGENT, signer.jwk)
            ingest_all(s, signer.topic, envs)
            p = "potline1.p0"
            end = T0 + 60 * 1000 + 1
            answers.append(
                (
                    s.series_names(SITE),
                    s.latest_ts(SITE),
                    s.recent_times(SITE, p, None, 5),
                    s.bucket_stats(SITE, p, None, T0, end, 20_000),
                    s.points(SITE, p, AGENT, T0, end),
                    list(s.reading_times(SITE, p, None, T0, end)),
                    s.flagged_readings(SITE, p, None, T0, end, 10),
                    s.completeness_counts(SITE, p, T0, end, 0.8),
                    [(r.ts, r.value, r.seq) for r in s.readings(SITE, param=p)],
                )
            )
    sqlite, pg = answers
    assert sqlite == pg
    names, latest, recent, buckets, points, times, _, counts, readings = sqlite
    assert len(names) == 5 and latest >= max(times) and recent == times[-5:]
    n = len(times)
    assert n > 5 and sum(b.count for b in buckets) == len(points) == len(readings) == n
    assert counts == (n, n, max(times))


def test_two_writers_on_one_postgres_store_each_batch_once(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two store instances (two collectors) get the same 40 batches, shuffled and partly
    duplicated: every batch stored once, the chain contiguous, nothing quarantined."""
    url = fresh_url(request, tmp_path, "postgresql")
    signer = Signer(SITE, AGENT)
    envs = [signer.next(5) for _ in range(40)]
    with open_store(url) as a, open_store(url) as b:
        a.enroll_key(SITE, AGENT, signer.jwk)
        rng = random.Random(7)
        results: list[object] = []
        lock = threading.Lock()

        def feed(store: EvidenceStore, order: list[bytes]) -> None:
            for i in range(0, len(order), 3):
                got = ingest_all(store, signer.topic, order[i : i + 3])
                with lock:
                    results.extend(got)

        orders = [rng.sample(envs, len(envs)) for _ in range(2)]
        threads = [
            threading.Thread(target=feed, args=(s, o)) for s, o in zip((a, b), orders, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = [d for d in results if isinstance(d, Accepted)]
        assert len(accepted) == 40
        assert sum(isinstance(d, Duplicate) for d in results) == 40
        st = b.agent_state(SITE, AGENT)
        assert st is not None and st.contiguous_through == 40 and st.stored_batches == 40
        assert st.quarantined == 0 and st.gaps == []
        assert [e.envelope for e in a.envelopes(SITE, AGENT)] == envs


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    """Poll a state (the deadline only keeps a broken build from hanging)."""
    deadline = time.monotonic() + 120
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        threading.Event().wait(0.01)


def test_ingest_transactions_lock_per_agent(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Two collectors: while one holds a transaction open for agent-a, the other commits one
    for agent-b; its transaction for agent-a waits on the advisory lock (seen in pg_locks)
    until the first commits, then finds the batch stored (a duplicate, not a second copy).
    A transaction touching an agent it did not name is refused."""
    url = fresh_url(request, tmp_path, "postgresql")
    one, two = Signer(SITE, "agent-a"), Signer(SITE, "agent-b")
    b1, b2 = one.next(5), two.next(5)
    a_only, b_only = [(SITE, "agent-a")], [(SITE, "agent-b")]
    with (
        open_store(url) as a,
        open_store(url) as b,
        psycopg.connect(url, autocommit=True) as watch,
    ):
        a.enroll_key(SITE, "agent-a", one.jwk)
        a.enroll_key(SITE, "agent-b", two.jwk)

        def waiting_locks() -> int:
            row = watch.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            assert row is not None
            return int(row[0])

        def in_thread(fn: Callable[[], list[object]]) -> tuple[threading.Thread, list[object]]:
            out: list[object] = []
            t = threading.Thread(target=lambda: out.extend(fn()))
            t.start()
            return t, out

        pipeline = VerificationPipeline(max_envelope_bytes=1 << 20)
        with a.ingest(a_only) as tx:
            first = pipeline.decide(one.topic, b1, tx)
            assert isinstance(first, Accepted)
            tx.store_batch(first, 1)
            with pytest.raises(StoreError, match="did not lock agent smelter-1/agent-b"):
                tx.stored_link(SITE, "agent-b", 1)

            other, other_out = in_thread(lambda: ingest_all(b, two.topic, [b2], b_only))
            wait_for(lambda: bool(other_out) or waiting_locks() > 0, "agent-b done or waiting")
            assert [type(d) for d in other_out] == [Accepted]  # committed beside agent-a's
            other.join()

            same, same_out = in_thread(lambda: ingest_all(b, one.topic, [b1], a_only))
            wait_for(lambda: waiting_locks() == 1, "agent-a's second transaction waiting")
            assert same.is_alive() and same_out == []
        same.join()  # the first committed: the second goes on and sees its batch
        assert [type(d) for d in same_out] == [Duplicate]
        for agent in ("agent-a", "agent-b"):
            st = b.agent_state(SITE, agent)
            assert st is not None and st.contiguous_through == 1 and st.stored_batches == 1


def test_copy_sqlite_into_postgres_and_verify(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    signer = Signer(SITE, AGENT)
    with (
        open_store(fresh_url(request, tmp_path, "sqlite")) as src,
        open_store(fresh_url(request, tmp_path, "postgresql")) as dst,
    ):
        fill(src, signer)
        ingest_all(src, signer.topic, [b"not a jws"])  # one quarantined message
        src.records.add(RecordVersion(SITE, "2026-01", 1, 1, "initial build", "ab" * 32, None),
                        b"{}", b"jws")  # fmt: skip
        TokenStore(src.tokens).add("ops", "admin")
        report = copy_store(src, dst)
        assert report.ok, report
        assert report.source.counts == {
            "keys": 1, "envelopes": 6, "documents": 0, "document_refs": 0, "quarantine": 1,
            "records": 1, "month_events": 0, "tokens": 1,
        }  # fmt: skip
        assert [t.name for t in dst.tokens.list()] == ["ops"]
        with pytest.raises(StoreError, match="already holds evidence"):
            copy_store(src, dst)
        # a change on one side shows in the fingerprint
        ingest_all(dst, signer.topic, [signer.next(3)])
        assert fingerprint(dst) != fingerprint(src)


def test_same_bundle_bytes_from_either_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A month built from a SQLite store and from its copy on PostgreSQL: every bundle file
    byte-identical, and mrv-verify accepts both."""
    from collector.records.builder import build_record
    from collector.verify_bundle import verify_bundle
    from protocols.keys import generate_private_key
    from protocols.record import RecordSettings
    from tests.records.test_bundle import MONTH, _fill
    from tests.records.test_bundle import SITE as RSITE

    settings = RecordSettings(site=RSITE, month=MONTH, interval_s=3600)
    key = generate_private_key()
    with (
        open_store(fresh_url(request, tmp_path, "sqlite")) as src,
        open_store(fresh_url(request, tmp_path, "postgresql")) as dst,
    ):
        _fill(src, settings)  # type: ignore[arg-type]
        assert copy_store(src, dst).ok
        dirs = [
            build_record(
                s, s.records, settings, signing_key=key, out_dir=tmp_path / name, workers=1,
                now_ms=0,
            ).bundle_dir
            for s, name in ((src, "from-sqlite"), (dst, "from-postgresql"))
        ]  # fmt: skip

    def files(d: Path) -> dict[str, bytes]:
        return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

    a, b = files(dirs[0]), files(dirs[1])
    assert sorted(a) == sorted(b) and "record.json" in a
    assert [n for n in a if a[n] != b[n]] == []
    assert all(verify_bundle(d, workers=1).ok for d in dirs)


def test_cli_store_copy(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    signer = Signer(SITE, AGENT)
    src_url = fresh_url(request, tmp_path, "sqlite")
    with open_store(src_url) as src:
        fill(src, signer)
    dst_url = fresh_url(request, tmp_path, "postgresql")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "collector.cli", "store", "copy", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    r = cli("--from", src_url, "--to", dst_url, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and out["source"] == out["destination"]
    assert out["source"]["counts"]["envelopes"] == 6
    r = cli("--from", src_url, "--to", dst_url)  # not empty any more
    assert r.returncode == 2 and "already holds evidence" in r.stderr
    r = cli("--from", str(tmp_path / "x.sqlite"), "--to", dst_url)  # a path, not a URL
    assert r.returncode == 2 and "sqlite:///PATH" in r.stderr
    assert "Traceback" not in r.stderr


def test_one_leader_per_role_and_takeover(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = fresh_url(request, tmp_path, "postgresql")
    a, b = open_store(url), open_store(url)
    try:
        assert a.try_lead("influx-mirror") and a.try_lead("influx-mirror")
        assert not b.try_lead("influx-mirror")
        assert b.try_lead("other-role")
        a.close()  # the leader goes away: its session, and the lock, end
        assert b.try_lead("influx-mirror")
    finally:
        a.close()
        b.close()
