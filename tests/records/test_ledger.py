"""ledger.xlsx: read back with openpyxl it says exactly what record.json says."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from collector.records.builder import build_record
from collector.records.ledger import LEDGER, check_ledger, ledger_bytes
from collector.store.sqlite import SqliteEvidenceStore
from collector.verify_bundle import verify_bundle
from protocols.keys import generate_private_key
from protocols.record import RecordSettings
from tests.records.test_bundle import MONTH, SITE, _fill


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("ledger")
    settings = RecordSettings(site=SITE, month=MONTH, interval_s=3600)
    with SqliteEvidenceStore(d / "evidence.sqlite") as store:
        _fill(store, settings)
        res = build_record(
            store,
            store.records,
            settings,
            signing_key=generate_private_key(),
            out_dir=d / "out",
            workers=1,
            now_ms=1_770_000_000_000,
        )
    yield res.bundle_dir


def _sheets(path: Path) -> dict[str, list[tuple]]:
    wb = load_workbook(path, read_only=True, data_only=True)
    return {n: list(wb[n].iter_rows(values_only=True)) for n in wb.sheetnames}


def test_ledger_values_equal_record_json(bundle: Path) -> None:
    rec = json.loads((bundle / "record.json").read_bytes())
    sheets = _sheets(bundle / LEDGER)
    assert list(sheets) == ["参数 Parameters", "排放 Emissions", "证据 Evidence", "说明 About"]
    head, *rows = sheets["参数 Parameters"]
    assert head[:5] == (
        "参数代码 Parameter id",
        "名称 Name",
        "数值 Value",
        "单位 Unit",
        "获取方式 Origin",
    )
    assert "数据来源 Data source" in head and "支撑材料 Supporting documents" in head
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {p["id"] for p in rec["parameters"]}
    for p in rec["parameters"]:
        r = by_id[p["id"]]
        assert r[2] == p["value"]  # the same double, not a rounded copy
        assert (r[3] or "") == (p["unit"] or "")
        assert r[7] == p["completeness"]
        assert r[8] == p.get("substituted_intervals")
    # the potline's 4-hour outage is substituted: the ledger names the rule
    lc = by_id["line_current_ka"]
    assert lc[8] and lc[8] > 0 and lc[10]
    em = sheets["排放 Emissions"]
    assert em[-1][0] == "合计 Total"
    assert em[-1][10] == rec["emissions"]["total_co2e_t"]
    for s in rec["emissions"]["sources"]:
        total = [r for r in em if r[0] == s["id"] and r[3] == "→ 排放量 emissions"]
        assert len(total) == 1 and total[0][10] == s["co2e_t"] and total[0][9] == s["t"]
        if s["kind"] != "carbon_balance":
            for name, inp in s["inputs"].items():
                row = next(r for r in em if r[0] == s["id"] and r[3] == name)
                assert row[4] == inp["value"]
                assert row[7].endswith(inp["origin"])
    ev = sheets["证据 Evidence"][1:]
    assert {(r[1], r[2], r[4], r[5]) for r in ev} == {
        (e["agent"], e["first_seq"], e["last_seq"], e["last_hash"]) for e in rec["evidence"]
    }
    assert check_ledger((bundle / LEDGER).read_bytes(), rec) == []


def test_ledger_bytes_are_reproducible(bundle: Path) -> None:
    rec = json.loads((bundle / "record.json").read_bytes())
    assert ledger_bytes(rec) == ledger_bytes(rec) == (bundle / LEDGER).read_bytes()


def test_ledger_properties_carry_the_record_time_not_the_wall_clock(bundle: Path) -> None:
    """openpyxl's save() stamps 'modified' with now; the ledger must carry the record's time
    (else two builds a second apart differ)."""
    rec = json.loads((bundle / "record.json").read_bytes())
    core = zipfile.ZipFile(io.BytesIO(ledger_bytes(rec))).read("docProps/core.xml").decode()
    created = rec["created"].replace("+00:00", "Z")[:19]
    assert f'<dcterms:modified xsi:type="dcterms:W3CDTF">{created}' in core, core
    assert f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}' in core, core


def test_bundle_without_ledger_fails_verification(bundle: Path, tmp_path: Path) -> None:
    """The ledger is in the collector's signed manifest; a missing one is named by the
    manifest check and by the ledger check."""
    import hashlib

    manifest = json.loads((bundle / "manifest.json").read_bytes())
    digest = hashlib.sha256((bundle / LEDGER).read_bytes()).hexdigest()
    assert manifest["files"][LEDGER]["sha256"] == digest
    dst = tmp_path / bundle.name
    shutil.copytree(bundle, dst)
    (dst / LEDGER).unlink()
    rep = verify_bundle(dst, workers=1)
    assert not rep.ok
    assert {p.check for p in rep.problems if p.where == LEDGER} == {"files", "ledger"}


def test_edited_ledger_cell_fails_verification(bundle: Path, tmp_path: Path) -> None:
    dst = tmp_path / bundle.name
    shutil.copytree(bundle, dst)
    wb = load_workbook(dst / LEDGER)
    ws = wb["参数 Parameters"]
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == "line_current_ka")
    row[2].value = row[2].value + 1.0
    buf = io.BytesIO()
    wb.save(buf)
    (dst / LEDGER).write_bytes(buf.getvalue())
    rep = verify_bundle(dst, workers=1)
    assert not rep.ok
    assert (rep.problems[0].check, rep.problems[0].where) == ("files", LEDGER)  # the cause first
    ledger = [p for p in rep.problems if p.where == LEDGER and p.check != "files"]
    assert ledger and "line_current_ka" not in ledger[0].message  # names the sheet, row, column
    assert "'参数 Parameters'" in ledger[0].message and "数值 Value" in ledger[0].message


def test_unreadable_ledger_is_a_finding_not_a_crash() -> None:
    assert check_ledger(b"not a zip", {"parameters": []})[0].startswith("ledger.xlsx is not")
