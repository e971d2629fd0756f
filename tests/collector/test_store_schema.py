"""The evidence store's schema: envelopes kept packed yet given back byte for byte (what
the record bundle carries), envelopes in another JSON form kept as received, and stores
made by an older collector migrated on open (a newer one refused, naming ``store copy``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from collector.pipeline import Accepted, VerificationPipeline
from collector.store import EvidenceStore, StoreError, open_store, rules, sqlite_url
from tests.collector.helpers import Signer
from tests.support.stores import BACKENDS, fresh_url

SITE, AGENT = "smelter-1", "agent-a"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield fresh_url(request, tmp_path, request.param)


def ingest(store: EvidenceStore, signer: Signer, envs: list[bytes]) -> None:
    pipeline = VerificationPipeline(max_envelope_bytes=1 << 20)
    with store.ingest([(SITE, AGENT)]) as tx:
        for env in envs:
            d = pipeline.decide(signer.topic, env, tx)
            assert isinstance(d, Accepted), d
            tx.store_batch(d, 1)


def reordered(env: bytes) -> bytes:
    """The same JWS with its members in another order and spaced: still valid, but not
    the form the parts are packed from."""
    obj = json.loads(env)
    return json.dumps({k: obj[k] for k in ("signature", "payload", "protected")}).encode()


def test_envelopes_come_back_byte_for_byte(url: str) -> None:
    signer = Signer(SITE, AGENT)
    envs = [signer.next(50) for _ in range(3)]
    envs.append(reordered(signer.next(50)))
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, signer.jwk)
        ingest(store, signer, envs)
        assert [e.envelope for e in store.envelopes(SITE, AGENT)] == envs
        assert [e.envelope for e in store.envelopes_after(0, 10)] == envs
        assert [e.envelope for e in store.envelopes_in_range(SITE, 0, 2**62)] == envs


def test_sqlite_envelope_is_stored_packed(tmp_path: Path) -> None:
    signer = Signer(SITE, AGENT)
    envs = [signer.next(200), reordered(signer.next(200))]
    path = tmp_path / "e.sqlite"
    with open_store(sqlite_url(path)) as store:
        store.enroll_key(SITE, AGENT, signer.jwk)
        ingest(store, signer, envs)
    db = sqlite3.connect(path)
    rows = db.execute("SELECT form, length(envelope) FROM envelopes ORDER BY seq").fetchall()
    db.close()
    assert rows[0][0] == 1 and rows[0][1] * 4 < len(envs[0])  # deflated payload, no base64
    assert rows[1] == (0, len(envs[1]))  # not the packed form: kept as received


def test_old_sqlite_store_is_migrated_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store as schema version 1 wrote it (no ``form`` column, envelopes as received)
    opens, reads back the same, and takes new batches packed beside the old ones."""
    signer = Signer(SITE, AGENT)
    old_envs = [signer.next(20) for _ in range(3)]
    path = tmp_path / "old.sqlite"
    with monkeypatch.context() as m, open_store(sqlite_url(path)) as store:
        store.enroll_key(SITE, AGENT, signer.jwk)
        m.setattr("collector.store.sqlite.stored_envelope", lambda env: (env, 0))
        ingest(store, signer, old_envs)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE envelopes DROP COLUMN form")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()

    new_envs = [signer.next(20) for _ in range(2)]
    with open_store(sqlite_url(path)) as store:
        assert [e.envelope for e in store.envelopes(SITE, AGENT)] == old_envs
        ingest(store, signer, new_envs)
        assert [e.envelope for e in store.envelopes(SITE, AGENT)] == old_envs + new_envs
        st = store.agent_state(SITE, AGENT)
        assert st is not None and st.contiguous_through == 5
        assert sum(1 for _ in store.readings(SITE)) == 100
    db = sqlite3.connect(path)
    (version,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    forms = [r[0] for r in db.execute("SELECT form FROM envelopes ORDER BY seq")]
    db.close()
    assert version == str(rules.SCHEMA_VERSION) and forms == [0, 0, 0, 1, 1]


def test_old_postgres_store_is_migrated_on_open(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_url(request, tmp_path, "postgresql")
    signer = Signer(SITE, AGENT)
    old_envs = [signer.next(20) for _ in range(2)]
    with monkeypatch.context() as m, open_store(url) as store:
        store.enroll_key(SITE, AGENT, signer.jwk)
        m.setattr("collector.store.postgresql.stored_envelope", lambda env: (env, 0))
        ingest(store, signer, old_envs)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE envelopes DROP COLUMN form")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    new_envs = [signer.next(20)]
    with open_store(url) as store:
        ingest(store, signer, new_envs)
        assert [e.envelope for e in store.envelopes(SITE, AGENT)] == old_envs + new_envs
    with psycopg.connect(url, autocommit=True) as db:
        forms = [r[0] for r in db.execute("SELECT form FROM envelopes ORDER BY seq")]
    assert forms == [0, 0, 1]


def test_store_of_a_newer_collector_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    open_store(sqlite_url(path)).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"schema version '99'.*mrv-collector store copy"):
        open_store(sqlite_url(path))


@pytest.mark.parametrize("second", ["plain", "aggregate"])
def test_same_series_and_ts_twice_in_a_batch_keeps_the_first(url: str, second: str) -> None:
    """Also when the repeat is a reading of the other row shape (one with aggregates is
    written with every column, a plain one with five)."""
    signer = Signer(SITE, AGENT)
    p = signer.payload(3)
    again = {**p["readings"][0], "value": -1.0}  # same id and ts, another value
    if second == "aggregate":
        again.update(count=5, expected=6, min=-2.0, max=0.0)
    p["readings"][1] = again
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, signer.jwk)
        env = signer.sign(p)
        ingest(store, signer, [env])
        got = [(r.param, r.ts, r.value) for r in store.readings(SITE)]
    first, third = p["readings"][0], p["readings"][2]
    assert sorted(got) == sorted(
        [(first["id"], first["ts"], first["value"]), (third["id"], third["ts"], third["value"])]
    )
