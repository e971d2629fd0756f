"""ledger.xlsx: the month's key parameters in the form a reporting person uploads (月度存证台账).

One workbook per bundle, written from ``record.json`` alone so that its values are the
record's values exactly (the same Python floats, stored as numbers), with bilingual column
headings:

* ``参数 Parameters`` — per key parameter: value, unit, 获取方式 (实测值/缺省值/计算值/估算值),
  数据来源, 支撑材料 (document names and SHA-256), completeness and substitution;
* ``排放 Emissions`` — per emission source and input: value (the guideline's rounding where
  the record applied it, with the unrounded value beside it), unit, 获取方式, 数据来源; each
  source's emissions and the month's total;
* ``证据 Evidence`` — per agent the seq range and hashes the record rests on;
* ``说明 About`` — site, month, version, record computation version, collector kid.

The bytes are deterministic: document properties carry the record's own ``created`` time and
every zip member a fixed timestamp, so the same record gives the same ledger.xlsx (and the
bundle signature covers it like every other file). :func:`check_ledger` reads a ledger back
and lists every cell that differs from the record: ``mrv-verify`` runs it.
"""

from __future__ import annotations

import io
import math
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.records.explain import KIND_NAMES, ORIGINS
from collector.records.explain import source_text as _text

__all__ = [
    "LEDGER",
    "check_ledger",
    "ledger_bytes",
    "ledger_rows",
    "workbook_bytes",
    "write_ledger",
]

LEDGER = "ledger.xlsx"

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

PARAMETER_HEADINGS: tuple[str, ...] = (
    "参数代码 Parameter id",
    "名称 Name",
    "数值 Value",
    "单位 Unit",
    "获取方式 Origin",
    "数据来源 Data source",
    "支撑材料 Supporting documents",
    "完整率 Completeness",
    "替代区间 Substituted intervals",
    "替代贡献 Substituted contribution",
    "替代规则 Substitution rules",
)
EMISSION_HEADINGS: tuple[str, ...] = (
    "排放源 Source",
    "类别 Kind",
    "气体 Gas",
    "输入 Input",
    "数值 Value",
    "未修约值 Unrounded",
    "单位 Unit",
    "获取方式 Origin",
    "数据来源 Data source",
    "排放量 t",
    "排放量 t CO2e",
)
EVIDENCE_HEADINGS: tuple[str, ...] = (
    "站点 Site",
    "采集端 Agent",
    "起始序号 First seq",
    "起始前哈希 First prev",
    "结束序号 Last seq",
    "结束哈希 Last hash (SHA-256)",
)


def _origin(code: Any) -> str:
    """``实测值 measured``; an unknown or missing origin stays visible as such."""
    if not isinstance(code, str) or not code:
        return ""
    zh, _ = ORIGINS.get(code, ("", ""))
    return f"{zh} {code}".strip()


def _documents(docs: Any) -> str:
    """``name (sha256)`` per supporting document."""
    if not isinstance(docs, list):
        return ""
    out = []
    for d in docs:
        if isinstance(d, dict):
            name = d.get("name") or d.get("filename") or ""
            sha = d.get("sha256") or d.get("digest") or ""
            out.append(f"{name} ({sha})" if name else str(sha))
        else:
            out.append(str(d))
    return "; ".join(out)


def _number(x: Any) -> float | int | None:
    return x if isinstance(x, int | float) and not isinstance(x, bool) else None


def ledger_rows(record: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The ledger's sheets as rows of cell values (headings first), from record.json."""
    params: list[list[Any]] = [list(PARAMETER_HEADINGS)]
    for p in record.get("parameters") or []:
        name = " / ".join(x for x in (p.get("name_zh"), p.get("name_en")) if x)
        rules = sorted({s.get("rule", "") for s in p.get("substitutions") or [] if s})
        params.append(
            [
                p.get("id"),
                name,
                _number(p.get("value")),
                p.get("unit") or "",
                _origin(p.get("origin")),
                _text(p.get("source")),
                _documents(p.get("documents")),
                _number(p.get("completeness")),
                _number(p.get("substituted_intervals")),
                _number(p.get("substituted_contribution")),
                ", ".join(r for r in rules if r),
            ]
        )
    em: list[list[Any]] = [list(EMISSION_HEADINGS)]
    emissions = record.get("emissions") or {}
    for s in emissions.get("sources") or []:
        kind = s.get("kind", "")
        zh, en = KIND_NAMES.get(kind, ("", ""))
        head = [s.get("id"), f"{zh} {en}".strip() or kind, s.get("gas")]
        inputs = s.get("inputs") or {}
        if kind == "carbon_balance" and isinstance(inputs, dict) and "in" in inputs:
            for side in ("in", "out"):
                for f in inputs.get(side) or []:
                    em.append(
                        [
                            *head,
                            f"{side}:{f.get('name')} quantity",
                            _number(f.get("quantity")),
                            None,
                            f.get("unit") or "",
                            _origin(f.get("origin")),
                            _text(f.get("source")),
                            None,
                            None,
                        ]
                    )
                    em.append(
                        [
                            *head,
                            f"{side}:{f.get('name')} carbon_fraction",
                            _number(f.get("carbon_fraction")),
                            None,
                            "t C/t",
                            _origin(f.get("carbon_origin") or f.get("origin")),
                            _text(f.get("source")),
                            None,
                            None,
                        ]
                    )
        else:
            for name, inp in sorted(inputs.items()):
                inp = inp if isinstance(inp, dict) else {"value": inp}
                value = inp.get("value")
                em.append(
                    [
                        *head,
                        name,
                        _number(value) if _number(value) is not None else _text(value),
                        _number(inp.get("unrounded")),
                        inp.get("unit") or "",
                        _origin(inp.get("origin")),
                        _text(inp.get("source")),
                        None,
                        None,
                    ]
                )
        em.append([*head, "→ 排放量 emissions", None, None, "t", "", _text(s.get("method")),
                   _number(s.get("t")), _number(s.get("co2e_t"))])  # fmt: skip
    em.append(["合计 Total", "", "CO2e", "", None, None, "", "", "", None,
               _number(emissions.get("total_co2e_t"))])  # fmt: skip
    ev: list[list[Any]] = [list(EVIDENCE_HEADINGS)]
    for e in record.get("evidence") or []:
        ev.append(
            [
                e.get("site"),
                e.get("agent"),
                _number(e.get("first_seq")),
                e.get("first_prev") or "",
                _number(e.get("last_seq")),
                e.get("last_hash") or "",
            ]
        )
    collector = record.get("collector") or {}
    about: list[list[Any]] = [
        ["项目 Item", "值 Value"],
        ["站点 Site", record.get("site")],
        ["月份 Month", record.get("month")],
        ["版本 Version", _number(record.get("version"))],
        ["生成时间 Created (UTC)", record.get("created") or ""],
        ["修订原因 Reason", record.get("reason") or ""],
        ["计算版本 Computation version", _number(record.get("computation_version"))],
        ["存证签名密钥 Collector kid", collector.get("kid") or ""],
        ["说明 Note", "数值与 record.json 一致 / values are exactly those of record.json"],
    ]
    return {
        "参数 Parameters": params,
        "排放 Emissions": em,
        "证据 Evidence": ev,
        "说明 About": about,
    }


def _created(record: dict[str, Any]) -> datetime:
    raw = record.get("created")
    if isinstance(raw, str):
        try:
            return (
                datetime.fromisoformat(raw.replace("Z", "+00:00"))
                .astimezone(UTC)
                .replace(tzinfo=None)
            )
        except ValueError:
            pass
    return datetime(2000, 1, 1)


def _normalise_zip(data: bytes) -> bytes:
    """The same workbook with every member's timestamp fixed (byte-reproducible)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


def ledger_bytes(record: dict[str, Any]) -> bytes:
    """ledger.xlsx for ``record`` (deterministic bytes)."""
    title = f"{record.get('site')} {record.get('month')} 月度存证台账"
    return workbook_bytes(ledger_rows(record), title, _created(record))


def workbook_bytes(
    sheets: dict[str, list[list[Any]]], title: str, created: datetime | None = None
) -> bytes:
    """A workbook of ``sheets`` (first row bold headings), numbers exact, bytes reproducible."""
    from openpyxl import Workbook  # imported here: only record builds and verifies need it
    from openpyxl.cell import _writer
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name[:31])
        for row in rows:
            ws.append(row)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for col in ws.columns:
            width = max(len(str(c.value)) if c.value is not None else 0 for c in col)
            ws.column_dimensions[col[0].column_letter].width = min(60, max(10, width + 2))
    when = created or datetime(2000, 1, 1)
    wb.properties.created = when
    wb.properties.modified = when
    wb.properties.creator = "Plant MRV"
    wb.properties.title = title
    buf = io.BytesIO()
    # Workbook.save() stamps properties.modified with the wall clock; ExcelWriter writes the
    # properties as set here, so the bytes do not depend on the second the bundle is built.
    # openpyxl prints floats with "%.16g", which does not round-trip every double; the
    # ledger must hold record.json's values exactly, so numbers are written with repr()
    # (shortest round-trip form, which Excel and openpyxl read back as the same double).
    printed = _writer.safe_string
    _writer.safe_string = _exact_string
    try:
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(wb, archive).save()
    finally:
        _writer.safe_string = printed
    return _normalise_zip(buf.getvalue())


def _exact_string(value: Any) -> str:
    from openpyxl.compat import safe_string

    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(safe_string(value))


def write_ledger(path: Path, record: dict[str, Any]) -> None:
    path.write_bytes(ledger_bytes(record))


def _same(a: Any, b: Any) -> bool:
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def check_ledger(data: bytes, record: dict[str, Any]) -> list[str]:
    """Every difference between a ledger.xlsx and ``record`` (``[]`` when they agree)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # any unreadable workbook is a finding, not a crash
        return [f"{LEDGER} is not a readable workbook: {type(exc).__name__}"]
    problems: list[str] = []
    for title, rows in ledger_rows(record).items():
        name = title[:31]
        if name not in wb.sheetnames:
            problems.append(f"{LEDGER}: sheet {name!r} missing")
            continue
        got = [list(r) for r in wb[name].iter_rows(values_only=True)]
        if len(got) != len(rows):
            problems.append(f"{LEDGER} sheet {name!r}: {len(got)} rows, record gives {len(rows)}")
        for i, (want, have) in enumerate(zip(rows, got, strict=False), start=1):
            have = have + [None] * (len(want) - len(have))
            for j, (w, h) in enumerate(zip(want, have, strict=False)):
                if not _same(w, h):
                    col = rows[0][j] if j < len(rows[0]) else str(j + 1)
                    problems.append(
                        f"{LEDGER} sheet {name!r} row {i} {col!r}: {h!r}, record.json gives {w!r}"
                    )
                    if len(problems) >= 20:
                        return problems
    wb.close()
    return problems
