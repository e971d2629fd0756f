"""The verification pipeline, one test per decision, against a real evidence store: each
test runs on SQLite and on PostgreSQL (the store contract is the same)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.pipeline import (
    REASONS,
    Accepted,
    Decision,
    Duplicate,
    Quarantined,
    VerificationPipeline,
)
from collector.store import EvidenceStore, StoreError, open_store
from protocols.envelope import payload_hash
from protocols.keys import b64url
from protocols.payload import encode_payload
from tests.collector.helpers import T0, Signer
from tests.support.stores import BACKENDS, fresh_url

SITE, AGENT = "smelter-1", "agent-a"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EvidenceStore]:
    with open_store(fresh_url(request, tmp_path, request.param)) as s:
        yield s


@pytest.fixture
def signer(store: EvidenceStore) -> Signer:
    s = Signer(SITE, AGENT)
    store.enroll_key(SITE, AGENT, s.jwk)
    return s


def ingest(store: EvidenceStore, topic: str, raw: bytes, *, max_bytes: int = 1 << 20) -> Decision:
    pipeline = VerificationPipeline(max_envelope_bytes=max_bytes)
    with store.ingest() as tx:
        d = pipeline.decide(topic, raw, tx)
        if isinstance(d, Accepted):
            tx.store_batch(d, 1)
        elif isinstance(d, Quarantined):
            tx.quarantine(d, 1)
    return d


def reason(d: Decision) -> str:
    assert isinstance(d, Quarantined), d
    return d.reason


def test_valid_batch_accepted_and_stored_byte_exact(store: EvidenceStore, signer: Signer) -> None:
    env = signer.next(5)
    d = ingest(store, signer.topic, env)
    assert isinstance(d, Accepted) and d.seq == 1 and d.prev is None
    (stored,) = store.envelopes(SITE, AGENT)
    assert stored.envelope == env and stored.hash == signer.prev
    assert [r.value for r in store.readings(SITE)] == sorted(
        r["value"] for r in signer.payloads[1]["readings"]
    )


def test_bad_topic(store: EvidenceStore, signer: Signer) -> None:
    assert reason(ingest(store, "mrv/v1/bad site/x/data", signer.next())) == "topic"
    assert reason(ingest(store, f"mrv/v1/{SITE}/{AGENT}/status", signer.next())) == "topic"


def test_too_large(store: EvidenceStore, signer: Signer) -> None:
    assert reason(ingest(store, signer.topic, signer.next(200), max_bytes=2000)) == "too_large"


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff garbage",
        b'{"hello": "world"}',
        b"[1,2,3]",
        b'{"protected":"!!","payload":"","signature":""}',
    ],
)
def test_malformed(store: EvidenceStore, signer: Signer, raw: bytes) -> None:
    assert reason(ingest(store, signer.topic, raw)) == "malformed"


def test_bad_alg(store: EvidenceStore, signer: Signer) -> None:
    header = b64url(json.dumps({"alg": "HS256", "kid": signer.kid}).encode())
    raw = json.dumps(
        {"protected": header, "payload": b64url(b"{}"), "signature": b64url(b"x" * 32)}
    ).encode()
    assert reason(ingest(store, signer.topic, raw)) == "bad_alg"


def test_unknown_kid(store: EvidenceStore) -> None:
    stranger = Signer(SITE, AGENT)  # never enrolled
    assert reason(ingest(store, stranger.topic, stranger.next())) == "unknown_kid"


def test_enrolled_key_on_another_agents_topic(store: EvidenceStore, signer: Signer) -> None:
    other = Signer(SITE, "agent-b")
    store.enroll_key(SITE, "agent-b", other.jwk)
    # agent-a's key, agent-a's payload, published on agent-b's topic
    assert reason(ingest(store, other.topic, signer.next())) == "kid_mismatch"
    # agent-a's key on its own topic, but the payload claims to be agent-b
    forged = signer.sign(signer.payload(agent="agent-b"))
    assert reason(ingest(store, signer.topic, forged)) == "kid_mismatch"


def test_revoked_key(store: EvidenceStore, signer: Signer) -> None:
    assert isinstance(ingest(store, signer.topic, signer.next()), Accepted)
    store.revoke_key(signer.kid)
    assert reason(ingest(store, signer.topic, signer.next())) == "key_revoked"
    with pytest.raises(StoreError):
        store.enroll_key(SITE, AGENT, signer.jwk)


def test_key_validity_period(store: EvidenceStore) -> None:
    s = Signer(SITE, "agent-v")
    store.enroll_key(SITE, "agent-v", s.jwk, valid_from=T0, valid_to=T0 + 60_000)
    assert isinstance(ingest(store, s.topic, s.next(10)), Accepted)  # created T0+10 s
    late = s.payload(10, created=T0 + 60_000)
    assert reason(ingest(store, s.topic, s.sign(late))) == "key_expired"


def test_bad_signature(store: EvidenceStore, signer: Signer) -> None:
    env = json.loads(signer.next())
    env["payload"] = b64url(encode_payload(signer.payload(3)))  # payload swapped after signing
    assert reason(ingest(store, signer.topic, json.dumps(env).encode())) == "bad_signature"


def test_schema(store: EvidenceStore, signer: Signer) -> None:
    bad = signer.payload(2)
    bad["readings"][0]["quality"] = "excellent"
    d = ingest(store, signer.topic, signer.sign(bad))
    assert reason(d) == "schema"
    assert isinstance(d, Quarantined) and "quality" in d.message
    assert reason(ingest(store, signer.topic, signer.sign(b"not json"))) == "malformed"


def test_duplicate_is_acknowledged_not_stored_twice(store: EvidenceStore, signer: Signer) -> None:
    env = signer.next()
    ingest(store, signer.topic, env)
    assert isinstance(ingest(store, signer.topic, env), Duplicate)
    assert len(list(store.envelopes(SITE, AGENT))) == 1
    assert store.quarantine_entries() == []


def test_equivocation(store: EvidenceStore, signer: Signer) -> None:
    ingest(store, signer.topic, signer.next())
    ingest(store, signer.topic, signer.next())
    other = signer.payload(4, seq=2, prev=signer.payloads[2]["prev"])
    d = ingest(store, signer.topic, signer.sign(other))
    assert reason(d) == "equivocation" and isinstance(d, Quarantined) and d.alarm
    st = store.agent_state(SITE, AGENT)
    assert st is not None and st.equivocations == 1 and st.contiguous_through == 2


def test_chain_wrong_prev(store: EvidenceStore, signer: Signer) -> None:
    ingest(store, signer.topic, signer.next())
    broken = signer.payload(seq=2, prev="0" * 64)
    assert reason(ingest(store, signer.topic, signer.sign(broken))) == "chain"
    # A batch whose successor is stored but does not name it.
    s2 = Signer(SITE, "agent-c")
    store.enroll_key(SITE, "agent-c", s2.jwk)
    b1, b2, b3 = s2.next(), s2.next(), s2.next()
    ingest(store, s2.topic, b1)
    ingest(store, s2.topic, b3)
    impostor = s2.payload(seq=2, prev=s2.payloads[2]["prev"], created=T0 + 999)
    assert reason(ingest(store, s2.topic, s2.sign(impostor))) == "chain"
    assert isinstance(ingest(store, s2.topic, b2), Accepted)


def test_out_of_order_heals_and_gaps_are_reported(store: EvidenceStore, signer: Signer) -> None:
    envs = [signer.next() for _ in range(6)]
    for i in (0, 2, 5):
        assert isinstance(ingest(store, signer.topic, envs[i]), Accepted)
    st = store.agent_state(SITE, AGENT)
    assert st is not None and st.contiguous_through == 1 and st.gaps == [(2, 2), (4, 5)]
    for i in (4, 1, 3):
        ingest(store, signer.topic, envs[i])
    st = store.agent_state(SITE, AGENT)
    assert st is not None and st.contiguous_through == 6 and st.gaps == []
    assert st.head_hash == payload_hash(encode_payload(signer.payloads[6]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_chain_state_survives_reopen(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    s = Signer(SITE, AGENT)
    url = fresh_url(request, tmp_path, backend)
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, s.jwk)
        envs = [s.next() for _ in range(4)]
        ingest(store, s.topic, envs[0])
        ingest(store, s.topic, envs[2])
    with open_store(url) as store:
        ingest(store, s.topic, envs[1])
        ingest(store, s.topic, envs[3])
        st = store.agent_state(SITE, AGENT)
        assert st is not None and st.contiguous_through == 4


def test_every_reason_is_documented() -> None:
    assert set(REASONS) >= {
        "too_large",
        "malformed",
        "bad_alg",
        "unknown_kid",
        "kid_mismatch",
        "bad_signature",
        "schema",
        "equivocation",
        "chain",
    }


def test_events_and_time_queries(store: EvidenceStore, signer: Signer) -> None:
    ae = {"type": "anode_effect", "cell": 17, "start": T0 + 2000, "end": T0 + 62000, "peak_v": 31.5}
    ingest(store, signer.topic, signer.next(10, events=[ae]))
    ingest(store, signer.topic, signer.next(10))
    (ev,) = store.events(SITE, T0, T0 + 10_000, type="anode_effect")
    assert ev.cell == "17" and ev.peak_v == 31.5 and ev.seq == 1
    rs = list(store.readings(SITE, T0 + 5000, T0 + 15000, param="potline1.p0"))
    assert [r.ts for r in rs] == [T0 + 5000, T0 + 10000] and [r.seq for r in rs] == [1, 2]
    assert [e.seq for e in store.envelopes_in_range(SITE, T0 + 9000, T0 + 10001)] == [1, 2]
    assert [e.seq for e in store.envelopes_in_range(SITE, T0 + 10000, T0 + 10001)] == [2]
    assert {s.param for s in store.series(SITE)} == {f"potline1.p{i}" for i in range(5)}
    assert store.sites() == [SITE]
