"""A bundle whose batches carry v2 *tables* (parameters sharing timestamps: ids once, one
``t``) next to v1 batches and v2 series: the collector ingests it, the record is the one
the same readings give as v1, and ``mrv-verify`` accepts the bundle."""

from __future__ import annotations

import json
from pathlib import Path

from collector.pipeline import Accepted, VerificationPipeline
from collector.records.builder import build_record
from collector.store.sqlite import SqliteEvidenceStore
from collector.verify_bundle import verify_bundle
from collector.verify_cli import main as verify_main
from protocols.envelope import parse_envelope
from protocols.keys import generate_private_key
from protocols.record import RecordSettings
from tests.records.support import FakeAgent, reading

SITE, MONTH = "smelter1", "2026-02"
H = 3_600_000


def _readings(start: int) -> list[dict]:
    out = []
    for k in range(-2, 672 + 2):
        t = start + (k + 1) * H
        out += [
            reading("line_current_ka", t, 400.0 + k % 5, count=60, expected=60),
            reading("cell_voltage_avg_v", t, 4.05 + k % 3 / 100, count=60, expected=60),
            reading("operating_cells", t, 300.0),
            reading("al_production_t", t, 36.0),
            reading("ae_minutes", t, 0.1),
            reading("operating_cell_days", t, 12.5),
        ]
    return out


def _record(tmp: Path, mixed: bool) -> tuple[dict, Path, list[bytes]]:
    settings = RecordSettings(site=SITE, month=MONTH, interval_s=3600)
    rs = _readings(settings.window.start_ms)
    pot = FakeAgent(SITE, "pot1")
    envs = pot.publish(rs[:1200], 300)  # v1, as an agent before the upgrade
    pot.version = 2 if mixed else 1  # then the compact form, on the same chain
    envs += pot.publish(rs[1200:], 240)
    with SqliteEvidenceStore(tmp / "evidence.sqlite") as store:
        store.enroll_key(SITE, "pot1", pot.jwk)
        pipe = VerificationPipeline()
        with store.ingest() as tx:
            for e in envs:
                d = pipe.decide(f"mrv/v1/{SITE}/pot1/data", e, tx)
                assert isinstance(d, Accepted), d
                tx.store_batch(d, 0)
        res = build_record(
            store,
            store.records,
            settings,
            signing_key=generate_private_key(),
            out_dir=tmp / "out",
            workers=2,
            now_ms=0,
        )
    return json.loads((res.bundle_dir / "record.json").read_bytes()), res.bundle_dir, envs


def test_a_bundle_with_tables_builds_the_v1_record_and_verifies(tmp_path: Path) -> None:
    mixed, bundle, envs = _record(tmp_path / "mixed", mixed=True)
    plain, _, _ = _record(tmp_path / "v1", mixed=False)
    payloads = [json.loads(parse_envelope(e).payload) for e in envs]
    assert {p["v"] for p in payloads} == {1, 2}
    tables = [s for p in payloads if p["v"] == 2 for s in p["series"] if "ids" in s]
    assert tables and all(len(t["ids"]) >= 2 for t in tables)
    assert any(t.get("count") == 60 for t in tables)  # a count equal everywhere: once
    assert mixed["parameters"] == plain["parameters"]
    rep = verify_bundle(bundle, workers=1)
    assert rep.ok, rep.problems
    assert verify_main([str(bundle), "--json", "--workers", "2"]) == 0
