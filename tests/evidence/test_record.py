"""Submitted lab values, settlement slips and their documents in the monthly record and the
bundle: origin measured with documents, corrections supersede, the data quality control plan
decides meter vs submission, a missing document is flagged, a tampered one fails mrv-verify."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.outbox import Outbox, outbox_path
from collector.documents import document_refs
from collector.pipeline import Accepted, VerificationPipeline
from collector.records.builder import build_record
from collector.store.sqlite import SqliteEvidenceStore
from collector.verify_bundle import verify_bundle
from protocols.keys import generate_private_key, load_public_jwk
from protocols.record import RecordSettings
from tests.evidence.support import AGENT, SITE, lab_agent, pdf_bytes, submit
from tests.records.support import FakeAgent, reading

MONTH = "2026-10"
H = 3_600_000


def _ingest(store: SqliteEvidenceStore, agent: str, envs: list[bytes]) -> None:
    pipe = VerificationPipeline()
    with store.ingest() as tx:
        for e in envs:
            d = pipe.decide(f"mrv/v1/{SITE}/{agent}/data", e, tx)
            assert isinstance(d, Accepted), d
            tx.store_batch(d, 0)
            tx.reference_documents(document_refs(d.site, d.agent, d.payload))


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A cement site: a meter agent (clinker and kiln coal counters) and a lab agent that
    submits CaO, MgO, coal NCV (corrected once) and the settlement slip, with documents."""
    import asyncio

    tmp = tmp_path_factory.mktemp("evidence-record")
    cfg_path = lab_agent(tmp, 1)  # port 1: nothing listens, submit keeps it in the outbox
    (tmp / "cao.pdf").write_bytes(pdf_bytes("Clinker analysis K-10: CaO 65.2 %, MgO 2.1 %"))
    (tmp / "coal.pdf").write_bytes(pdf_bytes("Coal analysis C-10: NCV 23.10 GJ/t"))
    (tmp / "coal2.pdf").write_bytes(pdf_bytes("Coal analysis C-10b: NCV 23.62 GJ/t"))
    (tmp / "slip.pdf").write_bytes(pdf_bytes("Settlement slip S-10: 5,400 t"))
    (tmp / "m.csv").write_text(
        "param,value,period,origin,lab,accreditation,report-no,document\n"
        f"clinker_cao_fraction,0.652,{MONTH},lab,Plant lab,CMA,K-10,cao.pdf\n"
        f"clinker_mgo_fraction,0.021,{MONTH},lab,Plant lab,CMA,K-10,cao.pdf\n"
        f"coal_ncv_gj_per_t,23.10,{MONTH},lab,Coal lab,CNAS,C-10,coal.pdf\n"
        f"coal_purchased_t,5400,{MONTH},invoice,,,S-10,slip.pdf\n"
    )

    async def go() -> None:
        rc, _, err = await submit(cfg_path, "--csv", "m.csv", "--no-publish")
        assert rc == 0, err
        rc, _, err = await submit(
            cfg_path,
            "--param",
            "coal_ncv_gj_per_t",
            "--value",
            "23.62",
            "--period",
            MONTH,
            "--lab",
            "Coal lab",
            "--report-no",
            "C-10b",
            "--document",
            "coal2.pdf",
            "--replaces",
            "C-10",
            "--reason",
            "re-test after calibration",
            "--no-publish",
        )
        assert rc == 0, err

    asyncio.run(go())
    cfg = load_config(cfg_path)
    settings = RecordSettings(site=SITE, month=MONTH, industry="cement", interval_s=3600)
    start = settings.window.start_ms
    store = SqliteEvidenceStore(tmp / "evidence.sqlite")
    docs = store.documents
    meter = FakeAgent(SITE, "kiln")
    store.enroll_key(SITE, "kiln", meter.jwk)
    store.enroll_key(SITE, AGENT, load_public_jwk(tmp / "keys/agent.pub.jwk"))
    rs = []
    for k in range(-1, 31 * 24 + 2):
        t = start + k * H
        rs.append(reading("clinker_t", t, 1000.0 + 200.0 * (k + 1)))
        rs.append(reading("kiln_coal_t", t, 50.0 + 7.0 * (k + 1)))
        rs.append(reading("clinker_cao_fraction", t, 0.64))  # an online analyser
    _ingest(store, "kiln", meter.publish(rs, 500))
    with Outbox(outbox_path(cfg.data_dir), site=SITE, agent=AGENT) as ob:
        envs = [b.envelope for b in ob.iter_all()]
        agent_docs = ob.documents_dir
    _ingest(store, AGENT, envs)
    for f in agent_docs.iterdir():
        docs.add(f.name, f.read_bytes(), 0)
    key = generate_private_key()
    versions = store.records
    res = build_record(
        store,
        versions,
        settings,
        signing_key=key,
        out_dir=tmp / "out",
        workers=1,
        now_ms=0,
        documents=docs,
    )
    return {
        "tmp": tmp,
        "res": res,
        "store": store,
        "versions": versions,
        "key": key,
        "docs": docs,
        "settings": settings,
    }


def _param(rec: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in rec["parameters"] if p["id"] == pid)


def test_lab_values_are_measured_with_documents_and_the_correction_supersedes(
    month: dict[str, Any],
) -> None:
    rec = month["res"].record
    cao = _param(rec, "clinker_cao_fraction")
    # no plan entry: the submitted lab value is primary, the analyser the backup
    assert cao["value"] == 0.652 and cao["origin"] == "measured" and cao["obtained"] == "lab"
    assert cao["meter_value"] == pytest.approx(0.64)
    assert "K-10" in cao["source"] and cao["documents"][0]["name"] == "cao.pdf"
    ncv = _param(rec, "coal_ncv_gj_per_t")
    assert ncv["value"] == 23.62 and ncv["documents"][0]["name"] == "coal2.pdf"
    subs = {s["report_no"]: s for s in rec["submissions"] if s["parameter"] == "coal_ncv_gj_per_t"}
    assert subs["C-10"]["status"] == "superseded"
    assert subs["C-10"]["superseded_by"] == subs["C-10b"]["submission"] == ncv["submission"]
    assert subs["C-10b"]["reason"] == "re-test after calibration"
    slip = _param(rec, "coal_purchased_t")
    assert slip["obtained"] == "invoice" and slip["documents"][0]["name"] == "slip.pdf"
    # the emission inputs use them (origin measured, the lab report as source, documents)
    sources = {s["id"]: s for s in rec["emissions"]["sources"]}
    clinker = next(s for s in sources.values() if s["kind"] == "clinker_co2")
    assert clinker["inputs"]["cao"]["origin"] == "measured"
    assert clinker["inputs"]["cao"]["documents"][0]["name"] == "cao.pdf"
    fuel = next(s for s in sources.values() if s["kind"] == "fuel_co2")
    assert fuel["inputs"]["ncv"]["value"] == 23.62 and fuel["inputs"]["ncv"]["origin"] == "measured"
    assert fuel["inputs"]["carbon_content"]["origin"] == "default"  # not submitted
    plan = {p["parameter"]: p for p in rec["data_quality_plan"]}
    assert plan["clinker_cao_fraction"]["used"] == "submitted"
    # and the bundle carries the documents
    bundle = month["res"].bundle_dir
    for p in ("clinker_cao_fraction", "coal_ncv_gj_per_t", "coal_purchased_t"):
        f = bundle / _param(rec, p)["documents"][0]["file"]
        assert f.is_file()
    assert not any(f["code"] == "document_missing" for f in rec["flags"])
    assert verify_bundle(bundle, workers=1).ok


def test_tampered_document_fails_naming_it(month: dict[str, Any], tmp_path: Path) -> None:
    b = tmp_path / "b"
    shutil.copytree(month["res"].bundle_dir, b)
    f = b / _param(month["res"].record, "coal_purchased_t")["documents"][0]["file"]
    f.write_bytes(f.read_bytes().replace(b"5,400", b"4,400"))
    rep = verify_bundle(b, workers=1)
    assert not rep.ok
    where = [p.where for p in rep.problems if p.check == "documents"]
    assert where == [f"documents/{f.name}"], rep.problems


def test_missing_document_is_flagged_and_plan_can_prefer_the_meter(
    month: dict[str, Any], tmp_path: Path
) -> None:
    """A document the collector never received: document_missing (and the bundle still
    verifies: the record says so). A plan with primary meter keeps a metered value."""
    only_one = SqliteEvidenceStore(tmp_path / "one-document.sqlite")  # a store missing the rest
    docs = only_one.documents
    rec0 = month["res"].record
    keep = _param(rec0, "clinker_cao_fraction")["documents"][0]["sha256"]
    docs.add(keep, month["docs"].read(keep), 0)
    settings = RecordSettings(
        site=SITE,
        month=MONTH,
        industry="cement",
        interval_s=3600,
        data_quality_plan={
            "coal_purchased_t": {"primary": "meter", "backup": "submitted"},
            "clinker_cao_fraction": {"primary": "meter", "backup": "submitted"},
        },
    )
    res = build_record(
        month["store"],
        month["store"].records,
        settings,
        signing_key=month["key"],
        out_dir=tmp_path / "out",
        workers=1,
        now_ms=0,
        documents=docs,
        reason="without documents",
    )
    rec = res.record
    missing = {f["sha256"] for f in rec["flags"] if f["code"] == "document_missing"}
    assert missing and keep not in missing
    ncv = _param(rec, "coal_ncv_gj_per_t")
    assert any(f["code"] == "document_missing" for f in ncv["flags"])
    assert ncv["documents"][0]["present"] is False
    # no meter reads coal_purchased_t: the plan's backup (the slip) is used
    plan = {p["parameter"]: p for p in rec["data_quality_plan"]}
    assert plan["coal_purchased_t"]["primary"] == "meter"
    assert plan["coal_purchased_t"]["used"] == "submitted"
    assert rec["settings"]["data_quality_plan"]["coal_purchased_t"]["primary"] == "meter"
    # the analyser has a value: the plan keeps it, the lab value stays in the evidence
    cao = _param(rec, "clinker_cao_fraction")
    assert cao["value"] == pytest.approx(0.64) and "submission" not in cao
    assert plan["clinker_cao_fraction"]["used"] == "meter"
    assert verify_bundle(res.bundle_dir, workers=1).ok


async def test_record_page_lists_submissions_and_downloads_documents(
    month: dict[str, Any],
) -> None:
    """The web UI's record page lists each submitted value with its documents; a verifier
    downloads a document from the bundle; a viewer (no download right) gets no link."""
    import httpx

    from collector.web.app import create_app

    app = create_app(
        month["store"],
        sites={SITE: {"industry": "cement"}},
        records_dir=month["res"].bundle_dir.parent,
    )
    verifier = app.state.tokens.add("verifier A", "verifier", [SITE])[0]
    viewer = app.state.tokens.add("viewer A", "viewer", [SITE])[0]
    rec = month["res"].record
    doc = _param(rec, "coal_purchased_t")["documents"][0]
    link = f"/sites/{SITE}/records/{MONTH}/{doc['file']}"
    page_url = f"/sites/{SITE}/records/{MONTH}?version=1"  # (a later test builds v2)

    def client() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    async def login(c: httpx.AsyncClient, token: str) -> None:
        await c.post(
            "/login",
            content=f"token={token}&next=/".encode(),
            # a browser sends its page's Origin; cross-origin logins are refused
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://t"},
        )

    async with client() as c:
        await login(c, verifier)
        page = await c.get(page_url)
        assert page.status_code == 200, page.text[:500]
        html = page.text
        assert 'id="record-submissions"' in html and "C-10b" in html and "slip.pdf" in html
        assert link in html
        got = await c.get(link + "?version=1")
        assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
        assert got.content == month["docs"].read(doc["sha256"])
        missing = f"/sites/{SITE}/records/{MONTH}/documents/{'0' * 64}.pdf"
        assert (await c.get(missing)).status_code == 404
    async with client() as c:
        await login(c, viewer)
        assert link not in (await c.get(page_url)).text
        assert (await c.get(link + "?version=1")).status_code == 403
