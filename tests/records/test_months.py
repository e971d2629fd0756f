"""The monthly submission: states, deadlines at Asia/Shanghai dates, seal/submit, the year."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from collector.cli import app as collector_app
from collector.months import MonthFacts, alarms_due, deadlines, month_state
from collector.store.sqlite import SqliteEvidenceStore
from collector.verify_cli import main as verify_main
from protocols.keys import write_key_pair
from protocols.record.settings import month_window
from tests.records.support import FakeAgent, reading
from tests.records.test_bundle import _ingest

SITE = "smelter1"
SH = ZoneInfo("Asia/Shanghai")
H = 3_600_000


def _ms(*a: int) -> int:
    return int(datetime(*a, tzinfo=SH).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("month", "internal", "platform"),
    [
        ("2026-11", "2026-12-20", "2027-01-09"),
        ("2026-12", "2027-01-20", "2027-02-09"),
        ("2028-02", "2028-03-20", "2028-04-09"),  # leap February: 29 days
        ("2025-06", "2025-07-20", "2025-08-09"),
    ],
)
def test_deadlines_are_local_calendar_days(month: str, internal: str, platform: str) -> None:
    dl = deadlines(month, "Asia/Shanghai")
    assert (dl.internal_date, dl.platform_date) == (internal, platform)
    y, m, d = (int(x) for x in platform.split("-"))
    # due to the end of that day in Shanghai: 24:00 +08:00 is 16:00 UTC the same day
    assert dl.platform_ms == _ms(y, m, d) + 24 * H
    assert datetime.fromtimestamp(dl.platform_ms / 1000, SH).strftime("%H:%M") == "00:00"
    assert dl.month_end_ms == month_window(month, "Asia/Shanghai").end_ms


def test_deadline_alarms_fall_due_on_the_right_local_day() -> None:
    dl = deadlines("2026-11", "Asia/Shanghai", internal_days=20)
    warn = 5.0
    # 5 days before the internal date's end (2026-12-20 24:00 +08) is 2026-12-16 00:00 +08
    start = _ms(2026, 12, 16)
    assert alarms_due("record_built", dl, start - 1, warn_days=warn) == []
    assert alarms_due("record_built", dl, start, warn_days=warn) == [("internal", dl.internal_ms)]
    assert alarms_due("sealed", dl, start, warn_days=warn) == []  # met for the internal date
    late = _ms(2027, 1, 5)
    assert alarms_due("open", dl, late, warn_days=warn) == [
        ("internal", dl.internal_ms),  # overdue stays due
        ("platform", dl.platform_ms),
    ]
    assert alarms_due("sealed", dl, late, warn_days=warn) == [("platform", dl.platform_ms)]
    assert alarms_due("submitted", dl, late, warn_days=warn) == []
    assert alarms_due("open", dl, _ms(2026, 11, 15), warn_days=40.0) == []  # month not over


def test_state_follows_the_latest_version() -> None:
    f = MonthFacts(SITE, "2026-01")
    assert month_state(f) == "open"
    built = MonthFacts(SITE, "2026-01", latest_version=2, sealed={"version": 1})
    assert month_state(built) == "record_built"  # v2 after a sealed v1 needs sealing anew
    sealed = MonthFacts(SITE, "2026-01", latest_version=2, sealed={"version": 2})
    assert month_state(sealed) == "sealed"


def _fill_months(store: SqliteEvidenceStore, months: list[str]) -> tuple[FakeAgent, FakeAgent]:
    pot, lab = FakeAgent(SITE, "pot1"), FakeAgent(SITE, "lab1")
    for a in (pot, lab):
        store.enroll_key(SITE, a.agent, a.jwk)
    for i, month in enumerate(months):
        w = month_window(month, "Asia/Shanghai")
        rs = []
        t = w.start_ms + H
        while t <= w.end_ms + 2 * H:  # reach past the month end
            rs += [
                reading("line_current_ka", t, 400.0 + i, count=60, expected=60),
                reading("al_production_t", t, 36.0),
                reading("operating_cells", t, 300.0),
                reading("operating_cell_days", t, 75.0 * (1 + i)),  # AEMs differ by month
                reading("ae_minutes", t, 0.5 + i),
            ]
            t += 6 * H
        _ingest(store, pot.publish(rs, 200), "pot1")
        ev = {"submission": f"S-{month}", "lab": "Test lab", "report_no": f"R-{month}"}
        lab_r = [
            reading(
                "anode_sulphur_fraction",
                w.start_ms + 10 * H,
                0.02 + 0.001 * i,
                origin="lab",
                evidence=ev,
            )
        ]
        _ingest(store, [lab.batch(lab_r)], "lab1")
    return pot, lab


def _config(tmp: Path, required: list[str]) -> Path:
    key_path = tmp / "keys" / "collector.key"
    if not key_path.exists():
        write_key_pair(tmp / "keys", name="collector")
    cfg = tmp / "collector.yaml"
    cfg.write_text(
        f"data_dir: {tmp / 'data'}\nsigning_key: {key_path}\n"
        f"sites:\n  {SITE}:\n    industry: aluminium\n    timezone: Asia/Shanghai\n"
        f"    submission:\n      internal_days: 20\n"
        f"      required_submissions: {json.dumps(required)}\n"
    )
    return cfg


def _status(runner: CliRunner, cfg: Path, month: str) -> dict:
    r = runner.invoke(collector_app, ["month", "status", "--site", SITE, "-c", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    return next(m for m in json.loads(r.stdout) if m["month"] == month)


def test_a_month_moves_through_every_state(tmp_path: Path) -> None:
    month = "2026-01"
    cfg = _config(tmp_path, ["anode_sulphur_fraction", "coal_ncv_gj_per_t"])
    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        _fill_months(store, [month])
    runner = CliRunner()
    st = _status(runner, cfg, month)
    assert st["state"] == "open"
    why = " ".join(st["why_not_complete"])
    assert "acknowledged only to seq 0" in why and "coal_ncv_gj_per_t" in why
    assert "anode_sulphur_fraction" not in why  # the lab result is in
    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        for a in store.agents(SITE):
            store.mark_acked(SITE, a.agent, a.contiguous_through)
    assert "coal_ncv_gj_per_t" in " ".join(_status(runner, cfg, month)["why_not_complete"])
    cfg = _config(tmp_path, ["anode_sulphur_fraction"])  # the plan asks only for the sulphur result
    assert _status(runner, cfg, month)["state"] == "complete"
    # a seal before any record is refused with what to do
    seal = ["month", "seal", "--site", SITE, "--month", month, "--by", "Wang", "-c", str(cfg)]
    r = runner.invoke(collector_app, seal)
    assert r.exit_code == 2 and "record build" in r.output
    build = ["record", "build", "--site", SITE, "--month", month, "-c", str(cfg)]
    r = runner.invoke(collector_app, [*build, "--workers", "1", "--json"])
    assert r.exit_code == 0, r.output
    st = _status(runner, cfg, month)
    assert st["state"] == "record_built" and st["latest_version"] == 1
    submit = ["month", "submit", "--site", SITE, "--month", month, "--by", "Li", "-c", str(cfg)]
    r = runner.invoke(collector_app, submit)
    assert r.exit_code == 2 and "seal" in r.output  # nothing is submitted unsealed
    r = runner.invoke(collector_app, [*seal, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["record_sha256"] == st["record_sha256"]
    assert _status(runner, cfg, month)["state"] == "sealed"
    r = runner.invoke(collector_app, [*submit, "--receipt", "MEE-2026-0001"])
    assert r.exit_code == 0, r.output
    st = _status(runner, cfg, month)
    assert st["state"] == "submitted"
    assert st["submitted"]["receipt"] == "MEE-2026-0001" and st["submitted"]["by"] == "Li"
    # a later change is a new version with a reason; the month needs sealing again
    r = runner.invoke(collector_app, [*build, "--workers", "1", "--reason", "lab correction"])
    assert r.exit_code == 0, r.output
    st = _status(runner, cfg, month)
    assert st["state"] == "record_built" and st["latest_version"] == 2
    assert st["sealed"]["version"] == 1
    r = runner.invoke(collector_app, seal)
    assert r.exit_code == 2 and "--reason" in r.output
    r = runner.invoke(collector_app, [*seal, "--reason", "corrected sulphur"])
    assert r.exit_code == 0, r.output
    assert _status(runner, cfg, month)["state"] == "sealed"
    # the table form names each state in both languages
    r = runner.invoke(collector_app, ["month", "status", "-c", str(cfg)])
    assert r.exit_code == 0 and "已封存 sealed" in r.output


def test_year_summary_verified_against_three_month_bundles(tmp_path: Path) -> None:
    months = ["2026-01", "2026-02", "2026-03"]
    cfg = _config(tmp_path, [])
    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        _fill_months(store, months)
    runner = CliRunner()
    bundles = []
    for m in months:
        r = runner.invoke(
            collector_app,
            ["record", "build", "--site", SITE, "--month", m, "-c", str(cfg), "--json",
             "--workers", "1"],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        bundles.append(Path(json.loads(r.stdout)["bundle"]))
        r = runner.invoke(
            collector_app,
            ["month", "seal", "--site", SITE, "--month", m, "--by", "Wang", "-c", str(cfg)],
        )
        assert r.exit_code == 0, r.output
    out = tmp_path / "years"
    r = runner.invoke(
        collector_app,
        ["year", "--site", SITE, "--year", "2026", "--out", str(out), "-c", str(cfg), "--json"],
    )
    assert r.exit_code == 0, r.output
    paths = json.loads(r.stdout)
    summary = json.loads(Path(paths["json"]).read_text())
    recs = [json.loads((b / "record.json").read_bytes()) for b in bundles]
    assert [m["month"] for m in summary["months"]] == months
    assert summary["emissions"]["total_co2e_t"] == pytest.approx(
        sum(r["emissions"]["total_co2e_t"] for r in recs), rel=1e-12
    )
    prod = [next(p["value"] for p in r["parameters"] if p["id"] == "al_production_t") for r in recs]
    assert summary["parameters"]["al_production_t"]["value"] == pytest.approx(sum(prod), rel=1e-12)
    assert "line_current_ka" in summary["not_summed"]  # a mean is not added up
    # the year's AEM from the year's totals, not the mean of the monthly AEMs
    val = {k: [next(p["value"] for p in r["parameters"] if p["id"] == k) for r in recs]
           for k in ("ae_minutes", "operating_cell_days", "aem")}  # fmt: skip
    year_aem = summary["annual_ratios"]["aem"]["value"]
    assert year_aem == pytest.approx(sum(val["ae_minutes"]) / sum(val["operating_cell_days"]))
    assert year_aem != pytest.approx(sum(val["aem"]) / 3, rel=1e-9)  # months differ in length
    from openpyxl import load_workbook

    wb = load_workbook(paths["xlsx"], read_only=True)
    assert wb.sheetnames == ["月份 Months", "排放 Emissions", "参数 Parameters", "年度比值 Ratios"]
    ratios = list(wb["年度比值 Ratios"].values)
    assert ratios[1][:2] == ("aem", year_aem)
    args = ["year", paths["json"], *map(str, bundles)]
    assert verify_main(args) == 0
    # who sealed a month is the collector's word: only its signature over the summary binds it
    forged = tmp_path / "forged"
    forged.mkdir()
    doc = json.loads(Path(paths["json"]).read_bytes())
    doc["months"][0]["sealed"]["by"] = "Mallory"
    (forged / "s.json").write_text(json.dumps(doc))
    shutil.copy(paths["jws"], forged / "s.jws")
    assert verify_main(["year", str(forged / "s.json"), *map(str, bundles)]) == 1
    (forged / "s.json").write_bytes(Path(paths["json"]).read_bytes())
    assert verify_main(["year", str(forged / "s.json"), *map(str, bundles)]) == 0  # same bytes
    (forged / "s.jws").unlink()
    assert verify_main(["year", str(forged / "s.json"), *map(str, bundles)]) == 1  # unsigned
    # one month's bundle changed: its record no longer matches the named hash
    changed = tmp_path / "changed"
    shutil.copytree(bundles[1], changed)
    rec = json.loads((changed / "record.json").read_bytes())
    rec["parameters"][0]["value"] = 1.0
    (changed / "record.json").write_text(json.dumps(rec))
    assert verify_main(["year", paths["json"], str(bundles[0]), str(changed), str(bundles[2])]) == 1
    # a summary whose sums were edited is rejected too
    summary["emissions"]["total_co2e_t"] += 1.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(summary))
    assert verify_main(["year", str(edited), *map(str, bundles)]) == 1
    summary = json.loads(Path(paths["json"]).read_text())
    summary["annual_ratios"]["aem"]["value"] *= 0.5  # an edited annual AEM as well
    edited.write_text(json.dumps(summary))
    assert verify_main(["year", str(edited), *map(str, bundles)]) == 1
    # a bundle that no longer verifies (a batch edited) is named
    broken = tmp_path / "broken"
    shutil.copytree(bundles[2], broken)
    lines = (broken / "batches.jsonl").read_bytes().splitlines()
    (broken / "batches.jsonl").write_bytes(b"\n".join(lines[1:]) + b"\n")
    assert verify_main(["year", paths["json"], str(bundles[0]), str(bundles[1]), str(broken)]) == 1


def test_backfilled_month_is_built_from_submitted_values_alone(tmp_path: Path) -> None:
    """January–June 2025 predate the agents: submitted values build the month, which says so."""
    month = "2025-03"
    cfg = _config(tmp_path, ["al_production_t"])
    w = month_window(month, "Asia/Shanghai")
    lab = FakeAgent(SITE, "lab1")

    def ev(n: str) -> dict:
        return {"submission": n, "report_no": n, "lab": "Provincial lab"}

    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        store.enroll_key(SITE, "lab1", lab.jwk)
        rs = [
            reading("al_production_t", w.start_ms, 24_100.0, origin="manual", evidence=ev("P-03")),
            reading("anode_sulphur_fraction", w.start_ms, 0.021, origin="lab", evidence=ev("L-03")),
        ]
        _ingest(store, [lab.batch(rs)], "lab1")
        store.mark_acked(SITE, "lab1", 1)
    runner = CliRunner()
    assert _status(runner, cfg, month)["state"] == "complete"
    r = runner.invoke(
        collector_app,
        ["record", "build", "--site", SITE, "--month", month, "-c", str(cfg), "--json",
         "--workers", "1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    bundle = Path(json.loads(r.stdout)["bundle"])
    rec = json.loads((bundle / "record.json").read_bytes())
    assert "backfill_submitted_only" in {f["code"] for f in rec["flags"]}
    prod = next(p for p in rec["parameters"] if p["id"] == "al_production_t")
    assert prod["value"] == 24_100.0 and prod["origin"] == "measured"
    assert verify_main([str(bundle)]) == 0
    from openpyxl import load_workbook

    rows = list(load_workbook(bundle / "ledger.xlsx", read_only=True)["参数 Parameters"].values)
    row = next(x for x in rows if x[0] == "al_production_t")
    assert row[2] == 24_100.0 and row[4] == "实测值 measured" and "P-03" in row[5]


def test_a_required_submission_nobody_can_submit_is_refused_at_load(tmp_path: Path) -> None:
    """A typo in the control plan's ids would keep every month open: one line, exit 2."""
    cfg = _config(tmp_path, ["anode_sulphur"])
    r = CliRunner().invoke(collector_app, ["month", "status", "-c", str(cfg)])
    assert r.exit_code == 2, r.output
    assert "required_submissions" in r.output and "'anode_sulphur_fraction'" in r.output
    assert "Traceback" not in r.output


def test_month_events_live_in_the_store_append_only(tmp_path: Path) -> None:
    """Seals and submissions go through the store's interface; the table refuses edits."""
    import sqlite3

    from collector.models import MonthEvent
    from collector.store import open_store, sqlite_url

    db = tmp_path / "evidence.sqlite"
    with open_store(sqlite_url(db)) as store:
        log = store.month_events
        log.add(MonthEvent(SITE, "2026-01", "sealed", 1, "ab" * 32, 10, "Wang"))
        log.add(MonthEvent(SITE, "2026-01", "sealed", 2, "cd" * 32, 20, "Wang", "rebuilt"))
        log.add(MonthEvent(SITE, "2026-01", "submitted", 2, "cd" * 32, 30, "Li", "", "R-1"))
        log.add(MonthEvent(SITE, "2026-02", "sealed", 1, "ef" * 32, 40, "Wang"))
        assert log.latest(SITE, "2026-01", "sealed") == MonthEvent(
            SITE, "2026-01", "sealed", 2, "cd" * 32, 20, "Wang", "rebuilt"
        )
        assert log.latest(SITE, "2026-01", "submitted").receipt == "R-1"  # type: ignore[union-attr]
        assert log.latest(SITE, "2026-02", "submitted") is None
        assert [e.at for e in log.list(SITE)] == [10, 20, 30, 40]
        assert [e.at for e in log.list(SITE, "2026-02")] == [40]
    raw = sqlite3.connect(db)
    for sql in ("UPDATE month_events SET by = 'X'", "DELETE FROM month_events"):
        with pytest.raises(sqlite3.DatabaseError, match="never"):
            raw.execute(sql)
    raw.close()


def test_a_meter_agent_on_v2_payloads_is_not_taken_for_a_lab_agent() -> None:
    """A lab agent is complete without a batch past the month end; a v2 meter batch (series,
    no origin) must not pass for one, or a silent meter would make its month complete."""
    from types import SimpleNamespace

    from collector.records.month_status import _submissions_only
    from protocols.keys import b64url

    def env(payload: dict) -> SimpleNamespace:
        body = b64url(json.dumps(payload).encode())
        return SimpleNamespace(envelope=json.dumps({"payload": body}).encode())

    head = {"site": SITE, "agent": "pot1", "seq": 1, "prev": None, "created": 0, "clock": {}}
    v2 = {**head, "v": 2, "events": [],
          "series": [{"id": "line_current_ka", "t": 0, "step": 60_000, "v": [400.0, 401.0]}]}  # fmt: skip
    lab = {**head, "v": 1, "events": [],
           "readings": [reading("anode_sulphur_fraction", 0, 0.02, origin="lab")]}  # fmt: skip
    assert _submissions_only([env(lab)]) is True
    assert _submissions_only([env(v2)]) is False
    assert _submissions_only([env(lab), env(v2)]) is False
