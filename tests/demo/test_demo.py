"""``mrv-sim demo --exit --json`` on two simulated days: real processes end to end.

The bundles must verify (the demo says so, and ``mrv-verify`` run here agrees), and the
records must show what the demo injected: gaps and substitutions where devices were silent,
the AC meter's rollover, the cement meter's replacement, and anode effects in AEM and PFC.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from protocols.record.settings import month_window
from simulators.demo import DAY_MS, demo_faults
from simulators.stack import command
from tests.demo.conftest import DAYS, MONTH, SPEED  # noqa: F401  (demo_run: conftest)


def _params(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in record["parameters"]}


def _inner_gaps(p: dict[str, Any], n_intervals: int) -> list[dict[str, Any]]:
    """Gaps that start and end inside the simulated days (not the unsimulated rest)."""
    return [g for g in p["gaps"] if g["start_index"] + g["intervals"] < n_intervals]


def test_json_output_and_bundles_verify(demo_run: dict[str, Any]) -> None:
    out = demo_run["out"]
    assert set(out) == {"bundles", "verified"} and out["verified"] is True
    assert len(out["bundles"]) == 3  # smelter, cement plant, steelworks
    for bundle in out["bundles"]:
        b = Path(bundle)
        for name in (
            "record.json",
            "record.jws",
            "batches.jsonl",
            "keys.json",
            "report.html",
            "ledger.xlsx",
        ):
            assert (b / name).is_file(), name
        res = subprocess.run(
            [*command("mrv-verify"), bundle, "--json"], capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert json.loads(res.stdout)["ok"] is True


def test_progress_and_summary_go_to_stderr(demo_run: dict[str, Any]) -> None:
    err = demo_run["stderr"]
    assert "all evidence stored" in err and "mrv-verify: OK" in err
    assert "log in with token: mrv_" in err and "web UI: http://127.0.0.1:" in err


def _record(demo_run: dict[str, Any], site: str) -> dict[str, Any]:
    (bundle,) = [b for b in demo_run["out"]["bundles"] if Path(b).name.startswith(site)]
    return json.loads((Path(bundle) / "record.json").read_text(encoding="utf-8"))


def test_smelter_record_shows_faults_and_anode_effects(demo_run: dict[str, Any]) -> None:
    rec = _record(demo_run, "smelter_1")
    params = _params(rec)
    n = DAYS * 24  # hourly record intervals simulated
    # the rectifier's 2 h of Modbus exceptions: a short gap, substituted (SUB1 tier)
    current = params["line_current_ka"]
    short = _inner_gaps(current, n)
    assert any(g["intervals"] <= 4 for g in short), current["gaps"]
    # substituted (with only two days of the month simulated, completeness is low, so
    # the conservative look-back tier applies; a full month uses SUB1 for short gaps)
    substituted = {s["start_index"] for s in current["substitutions"]}
    assert all(g["start_index"] in substituted for g in short), current["substitutions"]
    # the silent pot controller: cells 13-24 are raw signals (not key parameters), so they
    # sit in record.signals with bad readings and fewer samples; cells 1-12 have none bad
    signals = {g["id"]: g for g in rec["signals"]}
    silent, fine = signals["cell_013_voltage_v"], signals["cell_001_voltage_v"]
    assert silent["quality"]["bad"] > 0 and fine["quality"]["bad"] == 0
    assert silent["samples"] < fine["samples"]
    assert "flags" not in silent and "substitutions" not in silent
    # the AC meter was preset near its top (a rebaseline: the jump is never counted) and
    # then wrapped (a rollover: the wrapped difference is counted)
    kinds = set(params["ac_energy_mwh"]["counter"]["kinds"])
    assert {"rebaseline", "rollover"} <= kinds, params["ac_energy_mwh"]["counter"]
    # anode effects: AE minutes measured, AEM and PFC computed from them
    assert params["ae_minutes"]["valid_intervals"] > 0 and params["ae_minutes"]["value"] > 0
    assert rec["derived"]["aem"]["aem"] > 0
    pfc = rec["derived"]["pfc"]
    assert pfc["co2e_t"] > 0 and pfc["gwp_set"] == "AR5" and pfc["method"] == "china"
    assert rec["derived"]["pfc_cross_checks"]["slope"]["co2e_t"] > 0
    assert [e["agent"] for e in rec["evidence"]] == ["lab_smelter_1", "potline_1"]


def test_records_list_key_parameters_only(demo_run: dict[str, Any]) -> None:
    """Parameters are the site catalogue; raw registers are signals; what nobody measures is
    not_measured (no value, nothing substituted), what was measured has completeness > 0."""
    from protocols.catalogue import catalogue

    for site, industry in (
        ("smelter_1", "aluminium"),
        ("cement_1", "cement"),
        ("steelworks_1", "steel"),
    ):
        rec = _record(demo_run, site)
        cat = {p.id for p in catalogue(industry)}
        # plus the values the site's lab agent submitted (no register carries them)
        submitted = {s["parameter"] for s in rec["submissions"]}
        assert {p["id"] for p in rec["parameters"]} == cat | submitted
        sig = {g["id"] for g in rec["signals"]}
        assert sig and not sig & cat
        for p in rec["parameters"]:
            codes = {f["code"] for f in p["flags"]}
            if "not_measured" in codes:
                assert p["value"] is None and p["completeness"] == 0.0, p["id"]
                assert p["substitutions"] == [] and p["substituted_intervals"] == 0
            elif p["aggregation"] != "derived":
                assert 0 < p["completeness"] <= 1 and p["value"] is not None, p["id"]
    smelter = _params(_record(demo_run, "smelter_1"))
    assert [f["code"] for f in smelter["power_import_mwh"]["flags"]] == ["not_measured"]
    for pid in (
        "al_production_t",
        "line_current_ka",
        "dc_energy_mwh",
        "ae_minutes",
        "anode_consumption_t",
    ):
        assert smelter[pid]["valid_intervals"] > 0
    assert "aluminium_output_kg" in {g["id"] for g in _record(demo_run, "smelter_1")["signals"]}
    # the kiln temperature the simulator serves is the catalogue's key parameter (one id)
    assert _params(_record(demo_run, "cement_1"))["kiln_head_temp_c"]["valid_intervals"] > 0


def test_cement_record_shows_the_meter_replacement(demo_run: dict[str, Any]) -> None:
    rec = _record(demo_run, "cement_1")
    params = _params(rec)
    counter = params["power_import_mwh"]["counter"]
    assert "reset" in counter["kinds"], counter
    assert any(f["code"] == "counter_reset" for f in params["power_import_mwh"]["flags"])
    # the weigh feeder's 4 h silence: a gap, but the clinker counter total stays exact
    clinker = params["clinker_t"]
    assert _inner_gaps(clinker, DAYS * 24)
    assert any(s["rule"] == "COUNTER_SPAN" for s in clinker["substitutions"])
    # emissions: clinker process CO2 from the lab's CaO/MgO (submitted with a PDF report)
    # and coal CO2 of kiln and calciner with the coal lab's NCV (corrected once) and carbon
    src = {x["id"]: x for x in rec["emissions"]["sources"]}
    assert set(src) == {"clinker_co2", "fuel_co2:kiln_coal", "fuel_co2:calciner_coal"}
    ck = src["clinker_co2"]
    assert ck["inputs"]["cao"]["origin"] == ck["inputs"]["mgo"]["origin"] == "measured"
    assert ck["inputs"]["cao"]["value"] == 0.652 and ck["inputs"]["cao"]["documents"]
    assert ck["inputs"]["clinker_t"]["value"] == clinker["value"]
    assert src["fuel_co2:kiln_coal"]["inputs"]["quantity"]["origin"] in ("measured", "estimated")
    ncv = src["fuel_co2:kiln_coal"]["inputs"]["ncv"]
    assert ncv["origin"] == "measured" and ncv["value"] == 23.62  # the correction
    assert src["fuel_co2:kiln_coal"]["inputs"]["carbon_content"]["origin"] == "measured"
    total = rec["emissions"]["total_co2e_t"]
    assert total == pytest.approx(sum(x["co2e_t"] for x in src.values()))


def test_faults_fall_inside_the_simulated_days() -> None:
    w = month_window(MONTH)
    faults = demo_faults(w.start_ms, DAYS * DAY_MS)
    assert {f.site for f in faults} == {"smelter_1", "cement_1"}
    for f in faults:
        end = f.at_ms + (f.for_ms or 0)
        assert w.start_ms < f.at_ms and end < w.start_ms + DAYS * DAY_MS, f


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "40"], "--days must be in"),
        (["--month", "2026-13"], "YYYY-MM"),
        (["--broker", "nope"], "HOST:PORT"),
        (["--speed", "0"], "--speed"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    res = subprocess.run(
        [*command("mrv-sim"), "demo", "--exit", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "d").exists()


def test_each_site_has_its_emissions_table(demo_run: dict[str, Any]) -> None:
    """Smelter: anode CO2 and PFC (China form); steelworks: the enterprise carbon balance,
    with the per-process balances beside it; inputs no register carries are defaults."""
    smelter = _record(demo_run, "smelter_1")
    src = {x["id"]: x for x in smelter["emissions"]["sources"]}
    assert set(src) == {"anode_co2", "pfc"}
    anode = src["anode_co2"]["inputs"]
    assert anode["sulphur"]["origin"] == anode["ash"]["origin"] == "measured"  # the lab's
    assert anode["sulphur"]["documents"][0]["name"].endswith(".pdf")
    assert anode["net_anode_t_per_t"]["value"] == pytest.approx(0.41, rel=0.02)
    assert src["pfc"]["inputs"]["method"]["value"] == "china"
    steel = _record(demo_run, "steelworks_1")
    (ent,) = steel["emissions"]["sources"]
    assert ent["id"] == "carbon_balance:enterprise" and ent["co2e_t"] > 0
    names_in = {f["name"] for f in ent["inputs"]["in"]}
    assert {"coking_coal", "pci_coal", "limestone", "dolomite", "scrap"} <= names_in
    assert {f["name"] for f in ent["inputs"]["out"]} >= {"crude_steel", "tar", "bf_gas_exported"}
    lab = {"coke_purchased", "pci_coal"}  # carbon contents from the lab's reports
    assert all(f["carbon_origin"] == "measured" for f in ent["inputs"]["in"] if f["name"] in lab)
    assert all(f["carbon_origin"] == "default" for f in ent["inputs"]["in"] if f["name"] not in lab)
    assert all(f["documents"] for f in ent["inputs"]["in"] if f["name"] in lab)  # the reports
    procs = steel["derived"]["carbon_balance_by_process"]
    assert set(procs) == {"coking", "sintering", "ironmaking", "steelmaking"}
    crude = _params(steel)["crude_steel_t"]["value"]
    assert 1.0 < ent["co2e_t"] / crude < 2.5  # t CO2 per t crude steel, a BF-BOF works


def test_bundles_carry_the_lab_reports_and_the_correction(demo_run: dict[str, Any]) -> None:
    """Every site's lab agent submitted its month with PDF reports: the records show the
    values as measured (lab / invoice) with their documents, each document is in the bundle
    as documents/SHA256.EXT, and the cement plant's NCV correction supersedes the first."""
    for bundle in demo_run["out"]["bundles"]:
        rec = json.loads((Path(bundle) / "record.json").read_text(encoding="utf-8"))
        subs = rec["submissions"]
        assert subs, rec["site"]
        for s in subs:
            for d in s["documents"]:
                data = (Path(bundle) / d["file"]).read_bytes()
                assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() == d["sha256"]
        used = {s["parameter"]: s for s in subs if s["status"] == "used"}
        params = _params(rec)
        for pid, s in used.items():
            p = params[pid]
            assert p["origin"] == "measured" and p["obtained"] in ("lab", "invoice")
            assert p["documents"] and p["submission"] == s["submission"]
        assert not any(f["code"] == "document_missing" for f in rec["flags"])
    cement = _record(demo_run, "cement_1")
    ncv = [s for s in cement["submissions"] if s["parameter"] == "coal_ncv_gj_per_t"]
    assert [s["status"] for s in ncv] == ["superseded", "used"]
    assert ncv[1]["replaces"] == ncv[0]["submission"] and ncv[1]["reason"]
    assert _params(cement)["coal_purchased_t"]["obtained"] == "invoice"
