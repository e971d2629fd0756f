"""The record's column-at-a-time accumulation gives exactly what the reading loop gives.

``accumulate`` takes an agent's polls (v1 readings in poll order, v2 series) a parameter at a
time when they are the common case, and everything else one reading at a time; with
``columns=False`` every reading goes through the loop. Months mixing both kinds of readings
must give the same partials, the same record and the same bundle bytes either way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.records.builder import build_record
from collector.store.sqlite import SqliteEvidenceStore
from protocols import compact
from protocols.envelope import parse_envelope
from protocols.keys import b64url, b64url_decode
from protocols.record import RecordSettings, accumulate, finish_record, merge_partials
from tests.records.support import FakeAgent, reading
from tests.records.test_bundle import _ingest
from tests.records.test_compute import _series_state

runner_mod = importlib.import_module("collector.records.runner")

SITE, MONTH = "smelter1", "2026-02"
H = 3_600_000
IDS = ["line_current_ka", "al_production_t", "dc_energy_mwh", "cell_001_v", "meter_temp_c"]


def _settings() -> RecordSettings:
    return RecordSettings(site=SITE, month=MONTH, interval_s=3600, key_parameters=("cell_001_v",))


def _polls(seed: int) -> list[list[dict[str, Any]]]:
    """Hourly polls of every id (batches of ``per`` polls), with what the loop must handle:
    gaps, bad and uncertain readings, a missing value, partial coverage, integer values,
    a second reading in an interval, readings outside the month and an off-grid stamp."""
    rng = random.Random(seed)
    start = _settings().window.start_ms
    batches = []
    k = -5
    while k < 672 + 5:
        per = rng.choice([1, 6, 24, 50])
        batch = []
        for j in range(k, k + per):
            t = start + (j + 1) * H
            for i, pid in enumerate(IDS):
                if pid == "line_current_ka" and 300 <= j < 304:
                    continue  # an outage of one parameter breaks the poll layout
                v: Any = round(400.0 + rng.uniform(-5, 5), 3) if i != 2 else 1000.0 + 10 * j
                extra: dict[str, Any] = {}
                if pid in ("line_current_ka", "cell_001_v"):
                    extra = {"count": 60 if j % 97 else 45, "expected": 60}
                q = "good"
                if j == 200 and pid == "al_production_t":
                    q, v = "bad", None
                if j == 250 and pid == "cell_001_v":
                    q = "uncertain"
                if j == 260 and pid == "line_current_ka":
                    v = 401  # an integer value
                batch.append(reading(pid, t, v, q, **extra))
        if k == 400:  # a second reading in interval 400 of one parameter
            batch.append(reading("al_production_t", start + 401 * H - 1, 2.0))
        if k == 500:  # a sample between grid points
            batch.append(reading("meter_temp_c", start + 500 * H + 123, 31.0))
        batches.append(batch)
        k += per
    return batches


def _payloads(version: int, seed: int, unsynced_every: int = 7) -> list[bytes]:
    agent = FakeAgent(SITE, "pot1", version=version)
    envs = []
    for n, b in enumerate(_polls(seed)):
        clock = {"source": "ntp", "synced": n % unsynced_every != 3, "offset_ms": 1.0}
        envs.append(agent.batch(b, clock=clock))
    return [parse_envelope(e).payload for e in envs]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columns_and_the_reading_loop_accumulate_the_same(version: int, seed: int) -> None:
    s = _settings()
    pls = _payloads(version, seed)
    ref = accumulate(s, pls, columns=False)
    fast = accumulate(s, pls)
    assert set(fast.series) == set(ref.series) == set(IDS)
    for pid, acc in ref.series.items():
        assert _series_state(fast.series[pid]) == _series_state(acc), pid
    assert fast.batches == ref.batches
    assert fast.unsynced_batches == ref.unsynced_batches
    body = finish_record(s, ref).body
    assert finish_record(s, fast).body == body
    # split over workers as the runner does (packed partials), then merged
    parts = [accumulate(s, pls[i::3], packed=True) for i in range(3)]
    assert finish_record(s, merge_partials(parts)).body == body


def test_clean_series_skip_the_reading_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """v2 series of plain polls never become one tuple per reading; the others do."""
    calls: list[str] = []
    orig = compact.SeriesColumns.readings

    def spy(self: compact.SeriesColumns) -> list[compact.SeriesReading]:
        calls.append(str(self.id))
        return orig(self)

    monkeypatch.setattr(compact.SeriesColumns, "readings", spy)
    s = _settings()
    accumulate(s, _payloads(2, 1))
    # the signal always goes through the loop; key parameters only in their odd batches
    assert calls.count("meter_temp_c") > 0
    assert calls.count("cell_001_v") < 5
    assert calls.count("line_current_ka") < 5


def _sums(bundle: Path) -> dict[str, str]:
    return {
        p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }


def test_bundle_bytes_equal_the_reading_loops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole bundle (batches, record, signatures, CSV, report, ledger, manifest) is byte
    for byte the one the reading loop gives, for a month mixing v1 and v2 batches."""
    s = _settings()
    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    with SqliteEvidenceStore(tmp_path / "evidence.sqlite") as store:
        for version, agent in ((1, "pot1"), (2, "meter1")):
            a = FakeAgent(SITE, agent, version=version)
            store.enroll_key(SITE, agent, a.jwk)
            envs = [a.batch(b) for b in _polls(version)]
            _ingest(store, envs, agent)
        sums = []
        for columns in (True, False):
            if not columns:
                monkeypatch.setattr(
                    runner_mod, "accumulate", functools.partial(accumulate, columns=False)
                )
            with SqliteEvidenceStore(tmp_path / f"versions-{columns}.sqlite") as vs:
                res = build_record(
                    store,
                    vs.records,
                    s,
                    signing_key=key,
                    out_dir=tmp_path / f"out-{columns}",
                    workers=2,
                    now_ms=1_800_000_000_000,
                )
            sums.append(_sums(res.bundle_dir))
    assert sums[0] == sums[1]
    assert {"batches.jsonl", "readings.csv", "report.html", "ledger.xlsx"} <= set(sums[0])


@pytest.mark.parametrize("verifying", [False, True])
def test_envelopes_read_without_json_give_what_parse_envelope_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifying: bool
) -> None:
    """The builder and the verifier read an envelope laid out as agents sign it without
    parsing its JSON; every other line (another layout, an unknown header, bad base64url,
    not JSON) is read by ``parse_envelope`` and fails or passes exactly as before. Verifying,
    a signature that does not verify (payload or signature changed, another agent's key,
    a kid keys.json lacks) is named the same way on either path."""
    a, b = FakeAgent(SITE, "pot1"), FakeAgent(SITE, "meter1", version=2)
    c = FakeAgent(SITE, "pot9")  # its key is not in keys.json
    envs = [a.batch(p) for p in _polls(1)[:7]] + [b.batch(p) for p in _polls(2)[:4]]
    stranger = c.batch(_polls(3)[0])
    odd = [
        envs[1].replace(b'{"protected":', b'{ "protected":'),  # other spacing: still valid
        envs[2][:-1] + b',"x":1}',  # an extra member
        envs[3].replace(b'"payload":"', b'"payload":"*'),  # not base64url
        envs[4][:-2],  # not JSON
        envs[5].replace(b'","signature":"', b'","signature":"=', 1),
    ]
    sig_at = envs[6].index(b'","signature":"') + len(b'","signature":"')
    flip = b"B" if envs[6][sig_at : sig_at + 1] == b"A" else b"A"
    forged = [
        envs[6][:sig_at] + flip + envs[6][sig_at + 1 :],  # signature changed
        _tamper_payload(envs[10]),  # payload changed
        stranger,  # a kid keys.json does not name
        envs[7][:-2] + b'AAAA"}',  # a signature of 66 bytes
    ]
    path = tmp_path / "batches.jsonl"
    path.write_bytes(b"\n".join([*envs, *odd, *forged]) + b"\n")
    keys = {x.kid: (SITE, x.agent, x.jwk) for x in (a, b)} if verifying else None
    args = (_settings().to_dict(), str(path), 0, path.stat().st_size, 1, keys)
    parsed: list[bytes] = []

    def counted(raw: bytes) -> Any:
        parsed.append(raw)
        return parse_envelope(raw)

    monkeypatch.setattr(runner_mod, "parse_envelope", counted)
    quick = runner_mod._work(args)
    assert len(parsed) == 3 + len(odd)  # one envelope per header, and the odd ones
    monkeypatch.setattr(runner_mod, "_kid_and_payload", lambda *args: None)
    slow = runner_mod._work(args)
    assert quick[1] == slow[1]
    ok = [li.error is None for li in quick[1]]
    assert ok[:16] == [True] * 12 + [False] * 4
    assert ok[16:] == ([False] * 4 if verifying else [True] * 4)
    if verifying:
        errors = [li.error or "" for li in quick[1][16:]]
        assert errors[0] == f"signature does not verify with key {a.kid}"
        assert errors[1].startswith(f"signature does not verify with key {b.kid}")
        assert errors[2] == f"kid {c.kid} is not in keys.json"
        assert errors[3] == "Ed25519 signature must be 64 bytes"
    s = _settings()
    whole = [merge_partials([part]) for part in (quick[0], slow[0])]  # packed → month
    assert finish_record(s, whole[0]).body == finish_record(s, whole[1]).body


def _tamper_payload(env: bytes) -> bytes:
    """``env`` with its payload's ``created`` moved by 1 ms (still a valid batch), the
    signature kept."""
    doc = json.loads(env)
    payload = json.loads(b64url_decode(doc["payload"]))
    payload["created"] += 1
    doc["payload"] = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return json.dumps(doc, separators=(",", ":")).encode()
