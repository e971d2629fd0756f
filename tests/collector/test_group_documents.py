"""Documents in a collector group: two ``mrv-collector run`` processes in one MQTT 5
shared-subscription group on one PostgreSQL store, a lab agent submitting lab results and
a settlement slip through ``mrv-agent submit``, each with two documents (the report and its
sampling record). Mosquitto deals each shared subscription's messages round robin, data and
document topics separately, so of the two documents published right after a batch one
always goes to the collector that did not get the batch, and may arrive before that batch
is committed. Whichever collector gets what: every document ends up in the store, every
submission is acked without waiting for the agent's republish timer (set far beyond the
test), and the month's record built from the store carries each document with its origin;
``mrv-verify`` accepts the bundle."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.store import open_store
from protocols.keys import load_public_jwk, write_key_pair
from simulators.processes import command, free_port, run_cli
from tests.collector.helpers import group_collector
from tests.evidence.support import AGENT, SITE, lab_agent, pdf_bytes, submit
from tests.support.stores import fresh_url

MONTH = "2026-10"
#: (param, value, origin, report, document text)
SUBMISSIONS = [
    ("clinker_cao_fraction", "0.652", "lab", "K-10", "Clinker analysis K-10: CaO 65.2 %"),
    ("clinker_mgo_fraction", "0.021", "lab", "K-11", "Clinker analysis K-11: MgO 2.1 %"),
    ("coal_ncv_gj_per_t", "23.10", "lab", "C-10", "Coal analysis C-10: NCV 23.10 GJ/t"),
    ("coal_purchased_t", "5400", "invoice", "S-10", "Settlement slip S-10: 5,400 t"),
]


def _counters(port: int) -> dict[str, float]:
    """This collector's own ingest counters (its /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    names = ("batches_accepted_total", "documents_stored_total")
    return {
        n: float(line.split()[-1])
        for line in text.splitlines()
        for n in names
        if line.startswith(f"mrv_collector_{n} ")
    }


async def test_documents_reach_the_record_whichever_collector_gets_them(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Any
) -> None:
    url = fresh_url(request, tmp_path, "postgresql")
    # the group's one collector key, where the lab agent's config expects its public half
    key, _ = write_key_pair(tmp_path / "data", name="collector")
    # acks must come from the store's state, not from a republish after a timeout
    cfg = lab_agent(tmp_path, mosquitto.port, publish={"ack_timeout": 3600})
    with open_store(url) as store:
        store.enroll_key(SITE, AGENT, load_public_jwk(tmp_path / "keys/agent.pub.jwk"))
    docs: dict[str, bytes] = {}
    for _, _, _, report, text in SUBMISSIONS:
        docs[report] = pdf_bytes(text)
        docs[f"{report}-sampling"] = pdf_bytes(f"Sampling record for {report}")
    for name, data in docs.items():
        (tmp_path / f"{name}.pdf").write_bytes(data)
    ports = [free_port() for _ in range(2)]
    sites = {SITE: {"industry": "cement", "timezone": "Asia/Shanghai"}}
    cols = [
        group_collector(tmp_path, i, url, key, mosquitto.port, sites,
                        http={"enabled": True, "port": ports[i]})
        for i in range(2)
    ]  # fmt: skip
    try:
        for c in cols:
            c.start()
        for c in cols:
            c.wait_ready()
        for seq, (param, value, origin, report, _) in enumerate(SUBMISSIONS, 1):
            extra = ["--lab", "Plant lab", "--accreditation", "CMA"] if origin == "lab" else []
            rc, out, err = await submit(
                cfg, "--param", param, "--value", value, "--period", MONTH, "--origin", origin,
                "--report-no", report, "--document", f"{report}.pdf",
                "--document", f"{report}-sampling.pdf", *extra,
                "--wait", "120", "--json",
            )  # fmt: skip
            assert rc == 0, err
            res = json.loads(out)
            # acked: the collectors between them hold the batch and its document
            assert res["delivery"] == "published" and res["acked_through"] == seq, res
        counts = [_counters(p) for p in ports]
        logs = [c.log_text() for c in cols]
    finally:
        for c in cols:
            c.stop(30, check=False)
    assert all("Traceback" not in log for log in logs)
    # both collectors took part: batches and documents went to each
    assert all(c["batches_accepted_total"] >= 1 for c in counts), counts
    assert sum(c["batches_accepted_total"] for c in counts) == len(SUBMISSIONS)
    with open_store(url) as store:
        st = store.agent_state(SITE, AGENT)
        assert st is not None and st.contiguous_through == len(SUBMISSIONS)
        for report, data in docs.items():
            assert store.documents.read(hashlib.sha256(data).hexdigest()) == data, report
        assert len(store.documents.refs(SITE)) == len(docs)
        early = [q for q in store.quarantine_entries() if q.reason == "document_unreferenced"]
    # a record built from the store, as an operator would, on either collector's config
    out = run_cli(
        "mrv-collector", "record", "build", "--site", SITE, "--month", MONTH, "--json",
        "-c", str(tmp_path / "collector-1" / "collector.yaml"), timeout=300,
    )  # fmt: skip
    bundle = Path(json.loads(out.stdout)["bundle"])
    record = json.loads((bundle / "record.json").read_text())
    params = {p["id"]: p for p in record["parameters"]}
    for param, value, origin, report, _ in SUBMISSIONS:
        p = params[param]
        assert p["origin"] == "measured" and p["obtained"] == origin, p
        assert p["value"] == pytest.approx(float(value))
        got = {d["name"]: d for d in p["documents"]}
        assert sorted(got) == [f"{report}-sampling.pdf", f"{report}.pdf"], p["documents"]
        for d in got.values():
            data = docs[d["name"].removesuffix(".pdf")]
            assert d["sha256"] == hashlib.sha256(data).hexdigest() and d["present"], d
            assert (bundle / d["file"]).read_bytes() == data
    assert not [f for f in record["flags"] if f["code"] == "document_missing"]
    res = subprocess.run(
        [*command("mrv-verify"), str(bundle)], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout + res.stderr
    # how often a document beat its batch to the other collector (taken from the quarantine)
    print(f"per collector {counts}; documents that beat their batch: {len(early)}")
