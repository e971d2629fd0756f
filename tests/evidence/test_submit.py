"""``mrv-agent submit`` with a lab agent (no devices) against real Mosquitto and the collector."""

from __future__ import annotations

import json
from pathlib import Path

from collector import Collector
from protocols.envelope import parse_envelope
from protocols.keys import load_public_jwk
from protocols.payload import parse_payload
from tests.collector.helpers import config_for
from tests.evidence.support import AGENT, SITE, lab_agent, pdf_bytes, submit
from tests.support.servers import Mosquitto


def _payloads(c: Collector) -> list[dict]:
    envs = c.store.envelopes(SITE, AGENT)
    return [json.loads(parse_envelope(e.envelope).payload) for e in envs]


async def test_bad_input_is_one_line_exit_2_and_nothing_committed(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = lab_agent(tmp_path, mosquitto.port)
    (tmp_path / "big.pdf").write_bytes(b"%PDF" + b"0" * (20 * 1024 * 1024))
    (tmp_path / "bad.csv").write_text(
        "param,value,period\ncoal_ncv_gj_per_t,23.1,2026-10\nclinker_cao_fraction,abc,2026-10\n"
    )
    cases = [
        (
            ["--param", "coal_ncv", "--value", "1", "--period", "2026-10"],
            "did you mean coal_ncv_gj_per_t",
        ),
        (
            [
                "--param",
                "coal_ncv_gj_per_t",
                "--value",
                "23",
                "--unit",
                "MJ/kg",
                "--period",
                "2026-10",
            ],
            "unit:",
        ),
        (["--param", "clinker_cao_fraction", "--value", "1.5", "--period", "2026-10"], "outside"),
        (
            [
                "--param",
                "coal_ncv_gj_per_t",
                "--value",
                "23",
                "--period",
                "2026-10",
                "--document",
                "big.pdf",
            ],
            "20 MB",
        ),
        (
            [
                "--param",
                "coal_ncv_gj_per_t",
                "--value",
                "23",
                "--period",
                "2026-10",
                "--document",
                "none.pdf",
            ],
            "cannot read",
        ),
        (["--csv", "bad.csv"], "row 2: value"),
        (
            [
                "--param",
                "coal_ncv_gj_per_t",
                "--value",
                "23",
                "--period",
                "2026-10",
                "--replaces",
                "lab:1:1",
            ],
            "reason",
        ),
    ]
    for args, needle in cases:
        rc, out, err = await submit(cfg, *args)
        assert rc == 2, (args, out, err)
        assert needle in err and len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in err
    assert not (tmp_path / "lab-data/documents").exists() or not any(
        (tmp_path / "lab-data/documents").iterdir()
    )
    rc, out, err = await submit(cfg, "--csv", "bad.csv", "--no-publish")
    assert rc == 2


async def test_submit_while_collector_down_then_up_arrives_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = lab_agent(tmp_path, mosquitto.port)
    report = pdf_bytes("Coal analysis report R-1: NCV 23.41 GJ/t")
    (tmp_path / "R-1.pdf").write_bytes(report)
    rc, out, err = await submit(
        cfg,
        "--param",
        "coal_ncv_gj_per_t",
        "--value",
        "23.41",
        "--period",
        "2026-10",
        "--lab",
        "Tangshan coal lab",
        "--accreditation",
        "CMA",
        "--report-no",
        "R-1",
        "--sampled-from",
        "2026-10-01T00:00:00+08:00",
        "--sampled-to",
        "2026-10-31T23:59:00+08:00",
        "--document",
        "R-1.pdf",
        "--wait",
        "1",
        "--json",
    )
    assert rc == 0, err
    res = json.loads(out)
    assert res["delivery"] == "kept_in_outbox" and res["last_seq"] == 1
    assert (tmp_path / "lab-data/documents").is_dir()

    ccfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "cement"}})
    async with Collector(ccfg) as c:
        c.store.enroll_key(SITE, AGENT, load_public_jwk(tmp_path / "keys/agent.pub.jwk"))
        await c.connected.wait()
        rc, out, err = await submit(
            cfg,
            "--param",
            "coal_ncv_gj_per_t",
            "--value",
            "23.52",
            "--period",
            "2026-10",
            "--report-no",
            "R-1b",
            "--replaces",
            "lab:1:1",
            "--reason",
            "re-test",
            "--wait",
            "30",
            "--json",
        )
        assert rc == 0, err
        res = json.loads(out)
        assert res["delivery"] == "published" and res["acked_through"] == 2
        payloads = _payloads(c)
        assert [p["seq"] for p in payloads] == [1, 2]
        for p in payloads:
            parse_payload(json.dumps(p).encode())
        first = payloads[0]["readings"][0]
        assert first["origin"] == "lab" and first["period"] == "2026-10"
        assert first["evidence"]["documents"][0]["name"] == "R-1.pdf"
        assert payloads[1]["readings"][0]["evidence"]["replaces"] == "lab:1:1"
        sha = first["evidence"]["documents"][0]["sha256"]
        assert c.documents.read(sha) == report
        assert c.stats.documents == 1
        # the ack covered batch and document: the agent's copy is gone, nothing is pending
        assert not (tmp_path / "lab-data/documents" / sha).exists()


async def test_ack_waits_for_the_document(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A batch whose document never reaches the collector is never acked: the agent keeps
    it (and would republish the document once it can read it again)."""
    cfg = lab_agent(tmp_path, mosquitto.port)
    (tmp_path / "slip.pdf").write_bytes(pdf_bytes("Settlement slip S-7: 1,234.5 t"))
    rc, out, err = await submit(
        cfg,
        "--param",
        "coal_purchased_t",
        "--value",
        "1234.5",
        "--period",
        "2026-10",
        "--origin",
        "invoice",
        "--document",
        "slip.pdf",
        "--no-publish",
        "--json",
    )
    assert rc == 0, err
    stored = next((tmp_path / "lab-data/documents").iterdir())
    data = stored.read_bytes()
    stored.rename(stored.with_name("elsewhere"))  # the agent cannot read it for now
    ccfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "cement"}})
    async with Collector(ccfg) as c:
        c.store.enroll_key(SITE, AGENT, load_public_jwk(tmp_path / "keys/agent.pub.jwk"))
        await c.connected.wait()
        rc, out, err = await submit(
            cfg, "--csv", str(_one_row_csv(tmp_path)), "--wait", "3", "--json"
        )
        assert rc == 0, err
        res = json.loads(out)
        # both batches stored, neither acked: seq 1 lacks its document
        assert [p["seq"] for p in _payloads(c)] == [1, 2]
        assert res["delivery"] == "kept_in_outbox" and res["acked_through"] == 0
        stored.with_name("elsewhere").rename(stored)
        rc, out, err = await submit(cfg, "--csv", str(_one_row_csv(tmp_path)), "--json")
        assert rc == 0, err
        assert json.loads(out)["acked_through"] == 3
        assert c.documents.read(stored.name) == data


def _one_row_csv(tmp: Path) -> Path:
    p = tmp / "one.csv"
    p.write_text("param,value,period,origin\nclinker_cao_fraction,0.652,2026-10,lab\n")
    return p


async def test_csv_of_1000_rows_is_one_submission(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = lab_agent(tmp_path, mosquitto.port)
    lines = ["param,value,unit,at,origin,lab,report-no"]
    for i in range(1000):
        lines.append(
            f"clinker_cao_fraction,{0.6 + i * 1e-5:.5f},fraction,"
            f"2026-10-{1 + i % 28:02d}T08:00:00+08:00,lab,Kiln lab,Q-{i}"
        )
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")
    ccfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "cement"}})
    async with Collector(ccfg) as c:
        c.store.enroll_key(SITE, AGENT, load_public_jwk(tmp_path / "keys/agent.pub.jwk"))
        await c.connected.wait()
        rc, out, err = await submit(cfg, "--csv", "rows.csv", "--wait", "30", "--json")
        assert rc == 0, err
        res = json.loads(out)
        assert len(res["submissions"]) == 1000 and res["delivery"] == "published"
        readings = [r for p in _payloads(c) for r in p["readings"]]
        assert len(readings) == 1000
        assert readings[999]["evidence"]["report_no"] == "Q-999"


async def test_submit_next_to_a_running_agent_extends_its_chain(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """``mrv-agent run`` holds the data dir: submit commits to the same chain and the
    running agent publishes it (one writer at a time, nothing lost or reused)."""
    import asyncio
    import sys

    cfg = lab_agent(tmp_path, mosquitto.port)
    ccfg = config_for(tmp_path, mosquitto.port, sites={SITE: {"industry": "cement"}})
    async with Collector(ccfg) as c:
        c.store.enroll_key(SITE, AGENT, load_public_jwk(tmp_path / "keys/agent.pub.jwk"))
        await c.connected.wait()
        log = (tmp_path / "run.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.cli", "run", "-c", str(cfg), stdout=log, stderr=log
        )
        try:
            await c.wait_until(
                lambda: (st := c.store.agent_state(SITE, AGENT)) is not None and st.online,
                timeout=60,
            )
            rc, out, err = await submit(
                cfg,
                "--param",
                "clinker_mgo_fraction",
                "--value",
                "0.021",
                "--period",
                "2026-10",
                "--json",
            )
            assert rc == 0, err
            res = json.loads(out)
            assert res["delivery"] == "handed_to_running_agent"
            rc, out, err = await submit(cfg, "--csv", str(_one_row_csv(tmp_path)), "--json")
            assert rc == 0, err

            def through() -> int:
                st = c.store.agent_state(SITE, AGENT)
                return st.contiguous_through if st else 0

            await c.wait_until(lambda: through() >= 2, timeout=60)
            assert [p["seq"] for p in _payloads(c)] == [1, 2]
            assert [p["readings"][0]["id"] for p in _payloads(c)] == [
                "clinker_mgo_fraction",
                "clinker_cao_fraction",
            ]
        finally:
            proc.terminate()
            await proc.wait()
            log.close()
