"""Bundles built through the real evidence store, verified offline, and tampered with."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector.cli import app as collector_app
from collector.pipeline import Accepted, VerificationPipeline
from collector.records.builder import build_record
from collector.records.bundle import seal_bundle, sign_record
from collector.store.sqlite import SqliteEvidenceStore
from collector.verify_bundle import load_trust, verify_bundle
from collector.verify_cli import main as verify_main
from protocols.envelope import parse_envelope
from protocols.keys import generate_private_key, jwk_thumbprint, public_jwk, write_key_pair
from protocols.record import RecordError, RecordSettings
from tests.records.support import FakeAgent, reading

SITE, MONTH = "smelter1", "2026-02"
H = 3_600_000


def _ingest(store: SqliteEvidenceStore, envs: list[bytes], agent: str) -> None:
    pipe = VerificationPipeline()
    with store.ingest() as tx:
        for e in envs:
            d = pipe.decide(f"mrv/v1/{SITE}/{agent}/data", e, tx)
            assert isinstance(d, Accepted), d
            tx.store_batch(d, 0)


def _fill(store: SqliteEvidenceStore, settings: RecordSettings) -> list[FakeAgent]:
    """Two agents: a potline (hourly aggregates, one AE) and a meter (cumulative energy),
    the meter's batches in payload v2: one bundle mixes both versions."""
    start = settings.window.start_ms
    pot, meter = FakeAgent(SITE, "pot1"), FakeAgent(SITE, "meter1", version=2)
    for a in (pot, meter):
        store.enroll_key(SITE, a.agent, a.jwk)
    # a little before and after the month, to test selection and boundary readings
    rp, rm = [], []
    for k in range(-3, 672 + 3):
        t = start + (k + 1) * H
        if not 300 <= k < 304:
            rp += [
                reading("line_current_ka", t, 400.0 + k % 5, count=60, expected=60),
                reading("operating_cells", t, 300.0),
                reading("cell_voltage_avg_v", t, 4.05),
                reading("al_production_t", t, 36.0),
                reading("ae_minutes", t, 0.1),
                reading("operating_cell_days", t, 12.5),
            ]
        rm.append(reading("dc_energy_mwh", t, 100000.0 + 480.0 * (k + 3)))
        if k % 24 == 0:  # a raw signal outside the catalogue: listed, never aggregated
            rm.append(reading("meter_temp_c", t, 30.0 + k // 24 % 3))
    effect = {
        "type": "anode_effect",
        "cell": 42,
        "start": start + 5 * H,
        "end": start + 5 * H + 150_000,
        "peak_v": 35.0,
        "trigger_v": 8.0,
    }
    envs = [*pot.publish(rp[:600], 200), pot.batch(rp[600:606], [effect])]
    envs += pot.publish(rp[606:], 250)
    _ingest(store, envs, "pot1")
    _ingest(store, meter.publish(rm, 100), "meter1")
    return [pot, meter]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    d = tmp_path_factory.mktemp("records")
    settings = RecordSettings(site=SITE, month=MONTH, interval_s=3600)
    key = generate_private_key()
    with SqliteEvidenceStore(d / "evidence.sqlite") as store:
        agents = _fill(store, settings)
        versions = store.records
        res = build_record(
            store, versions, settings, signing_key=key, out_dir=d / "out", workers=2, now_ms=0
        )
        yield {
            "dir": d,
            "store": store,
            "versions": versions,
            "settings": settings,
            "key": key,
            "res": res,
            "agents": agents,
        }


def _copy(built: dict, tmp_path: Path) -> Path:
    dst = tmp_path / built["res"].bundle_dir.name
    shutil.copytree(built["res"].bundle_dir, dst)
    return dst


def _codes(rep: object) -> list[tuple[str, str]]:
    return [(p.check, p.where) for p in rep.problems]  # type: ignore[attr-defined]


def test_bundle_files_and_record_format(built: dict) -> None:
    b = built["res"].bundle_dir
    assert b.name == f"{SITE}_{MONTH}_v1"
    assert {p.name for p in b.iterdir()} == {
        "record.json",
        "record.jws",
        "batches.jsonl",
        "keys.json",
        "readings.csv",
        "report.html",
        "ledger.xlsx",
        "manifest.json",
        "manifest.jws",
    }
    rec = json.loads((b / "record.json").read_bytes())
    assert rec["site"] == SITE and rec["month"] == MONTH and rec["version"] == 1
    for p in rec["parameters"]:
        assert {"id", "value", "unit", "completeness"} <= set(p)
        assert 0.0 <= p["completeness"] <= 1.0
    ev = {e["agent"]: e for e in rec["evidence"]}
    assert set(ev) == {"pot1", "meter1"}
    assert set(ev["pot1"]) >= {"site", "agent", "first_seq", "first_prev", "last_seq", "last_hash"}
    # the meter's energy: boundary readings found, 480 MWh/h × 672 h
    dc = next(p for p in rec["parameters"] if p["id"] == "dc_energy_mwh")
    assert dc["value"] == pytest.approx(480.0 * 672) and dc["completeness"] == 1.0
    # batches.jsonl holds the stored envelopes byte-exact
    stored = {
        bytes(e.envelope) for a in ("pot1", "meter1") for e in built["store"].envelopes(SITE, a)
    }
    lines = (b / "batches.jsonl").read_bytes().splitlines()
    assert lines and set(lines) <= stored
    keys = json.loads((b / "keys.json").read_text())
    assert keys["collector"]["kid"] == public_jwk(built["key"])["kid"]
    assert {(k["agent"], k["kid"]) for k in keys["agents"]} == {
        (a.agent, a.kid) for a in built["agents"]
    }
    html = (b / "report.html").read_text(encoding="utf-8")
    assert "月度存证" in html and "Anode effects" in html and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html
    # key parameters nobody reported say so; raw signals sit in a collapsed section after them
    assert "power_import_mwh" in html and "未测量 not measured" in html
    assert html.index("关键参数 Key parameters") < html.index('<details id="signals">')
    assert "其他测量信号 Other measured signals (1)" in html
    assert html.index("meter_temp_c") > html.index('<details id="signals">')
    csv = (b / "readings.csv").read_text(encoding="utf-8-sig").splitlines()
    assert csv[0].startswith("interval_start,interval_end,line_current_ka")
    assert len(csv) == 1 + 672
    assert rec["anode_effects"][0]["cell"] == 42


def test_untouched_bundle_verifies(built: dict) -> None:
    lines = (built["res"].bundle_dir / "batches.jsonl").read_bytes().splitlines()
    versions = {json.loads(parse_envelope(ln).payload)["v"] for ln in lines if ln.strip()}
    assert versions == {1, 2}  # a bundle mixing payload versions verifies
    rep = verify_bundle(built["res"].bundle_dir, workers=1)
    assert rep.ok, rep.problems
    assert all(v.startswith("ok") for v in rep.checks.values())
    assert verify_main([str(built["res"].bundle_dir), "--json", "--workers", "2"]) == 0


def test_edited_reading_inside_a_signed_batch(built: dict, tmp_path: Path) -> None:
    b = _copy(built, tmp_path)
    lines = (b / "batches.jsonl").read_bytes().splitlines()
    i = next(
        n
        for n, ln in enumerate(lines)
        if b"line_current_ka" in base64.urlsafe_b64decode(json.loads(ln)["payload"] + "==")
        and n > 0
    )
    env = json.loads(lines[i])
    payload = base64.urlsafe_b64decode(env["payload"] + "=" * (-len(env["payload"]) % 4))
    edited = payload.replace(b'"value":401.0', b'"value":501.0', 1)
    assert edited != payload
    env["payload"] = base64.urlsafe_b64encode(edited).rstrip(b"=").decode()
    lines[i] = json.dumps(env, separators=(",", ":")).encode()
    (b / "batches.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rep = verify_bundle(b, workers=2)
    assert not rep.ok
    seq = json.loads(payload)["seq"]
    agent = json.loads(payload)["agent"]
    where = f"batches.jsonl line {i + 1} ({agent} seq {seq})"
    assert ("batch_signature", where) in _codes(rep)
    # the next batch no longer links to the edited one
    assert any(p.check == "chain" and f"seq {seq + 1}" in p.where for p in rep.problems)
    # and the recomputed mean current differs from the record
    assert any(p.where == "parameters[line_current_ka].value" for p in rep.problems)
    assert verify_main([str(b), "--json"]) == 1


def test_deleted_batch(built: dict, tmp_path: Path) -> None:
    b = _copy(built, tmp_path)
    lines = (b / "batches.jsonl").read_bytes().splitlines()
    gone = json.loads(base64.urlsafe_b64decode(json.loads(lines[3])["payload"] + "=="))
    del lines[3]
    (b / "batches.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rep = verify_bundle(b, workers=1)
    chain = [p for p in rep.problems if p.check == "chain"]
    assert chain and f"seq {gone['seq']}" in chain[0].message + chain[0].where
    assert "missing" in chain[0].message


def test_edited_value_in_record_json(
    built: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = _copy(built, tmp_path)
    rec = json.loads((b / "record.json").read_bytes())
    p = next(p for p in rec["parameters"] if p["id"] == "al_production_t")
    true = p["value"]
    p["value"] = true * 0.9
    (b / "record.json").write_text(json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False))
    rep = verify_bundle(b, workers=1)
    assert ("record_signature", "record.jws") in _codes(rep)
    (diff,) = [x for x in rep.problems if x.where == "parameters[al_production_t].value"]
    assert diff.expected == true and diff.found == true * 0.9
    capsys.readouterr()
    assert verify_main([str(b), "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "parameters[al_production_t].value" in out.replace("\n", "").replace("│", "")
    assert "FAILED" in out


def test_signals_are_in_the_record_and_verified(built: dict, tmp_path: Path) -> None:
    rec = json.loads((built["res"].bundle_dir / "record.json").read_bytes())
    assert "meter_temp_c" not in [p["id"] for p in rec["parameters"]]
    (sig,) = rec["signals"]
    # daily at k = 0, 24, …, 648 inside the month (28 samples; k = 672 is after it):
    # values cycle 30, 31, 32 by day, so 10 × 30 + 9 × 31 + 9 × 32 = 867 → mean 30.964…
    assert (sig["id"], sig["samples"], sig["min"], sig["max"]) == ("meter_temp_c", 28, 30.0, 32.0)
    assert sig["mean"] == 867.0 / 28 and sig["last_value"] == 30.0
    assert "flags" not in sig and "substitutions" not in sig
    b = _copy(built, tmp_path)
    rec["signals"][0]["max"] = 99.0
    (b / "record.json").write_text(json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False))
    rep = verify_bundle(b, workers=1)
    (diff,) = [x for x in rep.problems if x.where == "signals[meter_temp_c].max"]
    assert (diff.expected, diff.found) == (32.0, 99.0)


def test_swapped_agent_key(built: dict, tmp_path: Path) -> None:
    b = _copy(built, tmp_path)
    keys = json.loads((b / "keys.json").read_text())
    other = public_jwk(generate_private_key())
    # 1) the JWK swapped under the old kid
    keys["agents"][0]["jwk"] = other
    (b / "keys.json").write_text(json.dumps(keys))
    rep = verify_bundle(b, workers=1)
    assert any(p.check == "keys" and "thumbprint" in p.message for p in rep.problems)
    assert any(p.check == "batch_signature" for p in rep.problems)
    # 2) kid and JWK both swapped consistently: the batches name a kid no longer listed
    keys["agents"][0]["kid"] = other["kid"]
    (b / "keys.json").write_text(json.dumps(keys))
    rep = verify_bundle(b, workers=1)
    bad = [p for p in rep.problems if p.check == "batch_signature"]
    assert bad and "not in keys.json" in bad[0].message


def test_record_signed_by_another_key(built: dict, tmp_path: Path) -> None:
    b = _copy(built, tmp_path)
    intruder = generate_private_key()
    (b / "record.jws").write_bytes(sign_record((b / "record.json").read_bytes(), intruder))
    rep = verify_bundle(b, workers=1)
    assert [(p.check, p.where) for p in rep.problems] == [
        ("files", "record.jws"),  # the cause first: the file differs from the signed manifest
        ("record_signature", "record.jws"),
    ]
    assert "kid" in rep.problems[1].message
    # swapping the collector key in keys.json as well and re-sealing every file with it ...
    keys = json.loads((b / "keys.json").read_text())
    keys["collector"] = {"kid": jwk_thumbprint(public_jwk(intruder)), "jwk": public_jwk(intruder)}
    (b / "keys.json").write_text(json.dumps(keys))
    seal_bundle(b, intruder)
    assert verify_bundle(b, workers=1).ok  # ... a bundle can only vouch for its own keys,
    pinned = verify_bundle(b, workers=1, trusted_collector_kid=public_jwk(built["key"])["kid"])
    assert [p.check for p in pinned.problems] == ["keys"]  # ... unless the kid is pinned
    # or the keys are pinned with --trust (JWKs obtained out of band)
    genuine = {
        k["kid"]: k["jwk"]
        for k in json.loads((built["res"].bundle_dir / "keys.json").read_text())["agents"]
    }
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps([public_jwk(built["key"]), *genuine.values()]))
    assert verify_main([str(built["res"].bundle_dir), "--trust", str(trust)]) == 0
    assert verify_main([str(b), "--trust", str(trust)]) == 1
    rep = verify_bundle(b, workers=1, trusted_kids=load_trust(str(trust)))
    assert [(p.check, p.where) for p in rep.problems] == [("trust", "keys.json collector")]
    assert rep.relied_on["collector"] == jwk_thumbprint(public_jwk(intruder))
    assert set(rep.relied_on["agents"]) == set(genuine)


def test_unreadable_bundle_is_a_usage_error(tmp_path: Path, built: dict) -> None:
    assert verify_main([str(tmp_path / "nope")]) == 2
    b = _copy(built, tmp_path)
    (b / "keys.json").unlink()
    assert verify_main([str(b)]) == 2


def test_rebuild_makes_a_new_version_and_keeps_the_old(built: dict) -> None:
    store, versions, settings = built["store"], built["versions"], built["settings"]
    v1 = built["res"]
    v1_bytes = (v1.bundle_dir / "record.json").read_bytes()
    # late data arrives for the month: one more batch of the meter agent
    meter = built["agents"][1]
    late = meter.batch([reading("dc_energy_mwh", settings.window.end_ms + 7 * H, 2e6)])
    _ingest(store, [late], "meter1")
    with pytest.raises(RecordError, match="reason"):
        build_record(
            store,
            versions,
            settings,
            signing_key=built["key"],
            out_dir=v1.bundle_dir.parent,
            reason=" ",
            workers=1,
        )
    v2 = build_record(
        store,
        versions,
        settings,
        signing_key=built["key"],
        out_dir=v1.bundle_dir.parent,
        reason="late meter data",
        workers=1,
    )
    assert v2.version == 2 and v2.bundle_dir.name == f"{SITE}_{MONTH}_v2"
    assert (v1.bundle_dir / "record.json").read_bytes() == v1_bytes
    assert v2.record["previous"]["record_sha256"] == hashlib.sha256(v1_bytes).hexdigest()
    assert v2.record["reason"] == "late meter data"
    assert [v.version for v in versions.list(SITE, MONTH)] == [1, 2]
    assert versions.files(SITE, MONTH, 1)[0] == v1_bytes
    assert verify_bundle(v2.bundle_dir, workers=1).ok
    with pytest.raises(Exception, match="never changed"):
        store._write.execute("UPDATE records SET reason = 'x'")


def test_cli_record_build_and_list(tmp_path: Path) -> None:
    key_path, _ = write_key_pair(tmp_path / "keys", name="collector")
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path / 'data'}\nsigning_key: {key_path}\n"
        f"sites:\n  {SITE}:\n    industry: aluminium\n    timezone: Asia/Shanghai\n"
    )
    settings = RecordSettings(site=SITE, month=MONTH, interval_s=3600)
    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        _fill(store, settings)
    runner = CliRunner()
    args = [
        "record",
        "build",
        "--site",
        SITE,
        "--month",
        MONTH,
        "-c",
        str(cfg),
        "--json",
        "--workers",
        "1",
    ]
    r = runner.invoke(collector_app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["version"] == 1 and Path(out["bundle"]).is_dir()
    assert verify_main([out["bundle"], "--json"]) == 0
    r = runner.invoke(collector_app, args)
    assert r.exit_code == 2 and "--reason" in r.output
    r = runner.invoke(collector_app, [*args, "--reason", "correction"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(collector_app, ["record", "list", "-c", str(cfg), "--json"])
    assert [x["version"] for x in json.loads(r.stdout)] == [1, 2]
    r = runner.invoke(
        collector_app, ["record", "build", "--site", SITE, "--month", "2026-2", "-c", str(cfg)]
    )
    assert r.exit_code == 2 and "YYYY-MM" in r.output


def test_keys_json_carries_each_key_validity_period(built: dict) -> None:
    keys = json.loads((built["res"].bundle_dir / "keys.json").read_text())
    for k in keys["agents"]:
        assert {"site", "agent", "kid", "jwk", "valid_from", "valid_to", "revoked_at"} <= set(k)
        assert (k["valid_from"], k["valid_to"], k["revoked_at"]) == (None, None, None)


def test_batch_created_outside_its_key_validity(built: dict, tmp_path: Path) -> None:
    """A batch the collector would have refused at ingest (created after the key's period)
    does not pass offline either; the verifier names the line."""
    b = _copy(built, tmp_path)
    lines = (b / "batches.jsonl").read_bytes().splitlines()
    first = json.loads(parse_envelope(lines[0]).payload)
    keys = json.loads((b / "keys.json").read_text())
    for k in keys["agents"]:
        if k["agent"] == first["agent"]:
            k["valid_to"] = first["created"] + 1  # only the first batch is inside
    (b / "keys.json").write_text(json.dumps(keys))
    rep = verify_bundle(b, workers=1)
    bad = [p for p in rep.problems if "outside the validity" in p.message]
    assert bad and not rep.ok
    assert all(p.check == "batch_signature" for p in bad)
    assert "line 1 " not in bad[0].where and f"({first['agent']} seq 2)" in bad[0].where
    assert rep.checks["batch_signatures"].startswith("FAILED")
    # a non-numeric bound is a keys.json problem, not a crash
    keys["agents"][0]["valid_from"] = "yesterday"
    (b / "keys.json").write_text(json.dumps(keys))
    rep = verify_bundle(b, workers=1)
    assert any(p.check == "keys" and "valid_from" in p.message for p in rep.problems)


@pytest.mark.parametrize(
    ("bounds", "created", "ok"),
    [
        ((None, None), None, True),
        ((None, None), 5, True),
        ((10, None), 9, False),
        ((10, None), 10, True),
        ((None, 20), 19, True),
        ((None, 20), 20, False),
        ((10, 20), None, False),
    ],
)
def test_key_validity_rule_is_the_collectors(
    bounds: tuple[int | None, int | None], created: int | None, ok: bool
) -> None:
    from collector.models import EnrolledKey
    from collector.records.bundle import key_valid_at

    assert key_valid_at(bounds, created) is ok
    if created is not None:
        k = EnrolledKey("s", "a", "kid", {}, valid_from=bounds[0], valid_to=bounds[1])
        assert k.valid_at(created) is ok


def test_build_refuses_batches_outside_a_narrowed_key_period(tmp_path: Path) -> None:
    """An operator who shortened a key's period after ingest (e.g. the key leaked) gets a
    clear error instead of a bundle that fails verification."""
    settings = RecordSettings(site=SITE, month=MONTH, interval_s=3600)
    start = settings.window.start_ms
    pot = FakeAgent(SITE, "pot1")
    with SqliteEvidenceStore(tmp_path / "evidence.sqlite") as store:
        store.enroll_key(SITE, pot.agent, pot.jwk)
        rs = [reading("line_current_ka", start + k * H, 400.0) for k in range(1, 48)]
        envs = [pot.batch(rs[i : i + 8], created=start + i * H) for i in range(0, 47, 8)]
        _ingest(store, envs, "pot1")
        store.enroll_key(SITE, pot.agent, pot.jwk, valid_to=start + 10 * H)
        with pytest.raises(RecordError, match="pot1 seq 3 was created outside the validity"):
            build_record(
                store, store.records, settings, signing_key=generate_private_key(),
                out_dir=tmp_path / "out", workers=1,
            )  # fmt: skip
        assert not (tmp_path / "out" / f"{SITE}_{MONTH}_v1").exists()


def test_one_byte_changed_in_any_file_is_named_first(built: dict, tmp_path: Path) -> None:
    """Every file is covered by the collector's signed manifest (DESIGN.md "Bundle
    integrity and trust"), whatever wrote it; the changed file is the first problem."""
    src = built["res"].bundle_dir
    names = sorted(p.name for p in src.iterdir() if p.name not in ("manifest.json",))
    assert {"readings.csv", "report.html", "keys.json", "ledger.xlsx"} <= set(names)
    for name in names:
        b = tmp_path / name / src.name
        shutil.copytree(src, b)
        data = bytearray((b / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (b / name).write_bytes(bytes(data))
        try:
            rep = verify_bundle(b, workers=1)
        except Exception:  # a bundle that no longer parses is a usage error (exit 2), named
            assert verify_main([str(b)]) == 2, name
            continue
        assert not rep.ok, name
        first = rep.problems[0]
        assert first.where == name and first.check == "files", (name, first)
    b = tmp_path / "added" / src.name
    shutil.copytree(src, b)
    (b / "notes.txt").write_text("added later")
    assert [(p.check, p.where) for p in verify_bundle(b, workers=1).problems] == [
        ("files", "notes.txt")
    ]


def test_revoked_at_is_enforced_like_a_validity_period(built: dict, tmp_path: Path) -> None:
    b = _copy(built, tmp_path)
    keys = json.loads((b / "keys.json").read_text())
    keys["agents"][0]["revoked_at"] = 0  # revoked before any batch was created
    (b / "keys.json").write_text(json.dumps(keys))
    seal_bundle(b, built["key"])  # as if the collector itself had signed it so
    rep = verify_bundle(b, workers=1)
    bad = [p for p in rep.problems if p.check == "batch_signature"]
    assert bad and all("outside the validity" in p.message for p in bad)
    assert rep.problems[0].check == "batch_signature"
