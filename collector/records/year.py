"""The year so far: a site's sealed months summed the way the annual report sums them.

Each month is named by its record's SHA-256 (the latest sealed version), so the summary can
be checked against the month bundles themselves (``mrv-verify year SUMMARY BUNDLE...``).
The collector signs the summary's bytes (``SITE_YEAR.jws``, the same detached JWS as
record.jws): who sealed each month is the collector's statement, not recomputable from the
bundles, so only the signature binds it.
What is summed: every emission source's ``t`` and ``co2e_t`` and the total (the annual
emissions are the sum of the months' — CETS-AG-0x guidelines, annual report = Σ months);
key parameters whose monthly aggregation is a total (``sum``, ``counter_delta``: production,
consumption, energy). Ratios and means (AEM, specific energy, line current) are not summed:
they are listed per month, and the ratios whose parts are both summed are formed again for the
year from the year's totals (``ANNUAL_RATIOS``): an annual AEM is Σ AE minutes / Σ cell-days,
not the mean of twelve monthly AEMs.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

__all__ = [
    "ADDITIVE",
    "ANNUAL_RATIOS",
    "YearError",
    "check_year",
    "check_year_signature",
    "summarise",
    "write_year",
]

FORMAT = "plant-mrv-year/2"
#: Monthly aggregations whose values add up over a year.
ADDITIVE = frozenset({"sum", "counter_delta"})
#: Derived ratios formed again for the year: id → (numerator, denominator, factor, unit).
#: The same quotients the monthly record forms (protocols/emissions/aluminium.py: AEM =
#: ae_minutes / operating_cell_days, IPCC 2006 Vol 3 Ch 4.4 slope method: anode-effect
#: minutes per cell-day; specific DC energy = dc_energy_mwh / al_production_t; AC kWh/t =
#: ac_energy_mwh × 1000 / al_production_t), applied to the year's totals. That the annual
#: report forms them from totals rather than averaging months is this project's reading,
#: unconfirmed against the guideline's own text (said in the summary).
ANNUAL_RATIOS: dict[str, tuple[str, str, float, str]] = {
    "aem": ("ae_minutes", "operating_cell_days", 1.0, "min/(cell·d)"),
    "specific_dc_energy_kwh_per_kg": ("dc_energy_mwh", "al_production_t", 1.0, "kWh/kg"),
    "ac_kwh_per_t": ("ac_energy_mwh", "al_production_t", 1000.0, "kWh/t"),
}


class YearError(Exception):
    """The year cannot be summarised (no sealed month, a record missing)."""


def summarise(
    site: str, year: int, months: list[tuple[dict[str, Any], str, dict[str, Any]]]
) -> dict[str, Any]:
    """The summary from ``(record, record_sha256, seal event)`` per month, oldest first."""
    sources: dict[str, dict[str, Any]] = {}
    params: dict[str, dict[str, Any]] = {}
    not_summed: dict[str, dict[str, Any]] = {}
    listed = []
    totals = []
    for rec, sha, seal in months:
        em = rec.get("emissions") or {}
        listed.append(
            {
                "month": rec["month"],
                "version": rec.get("version"),
                "record_sha256": sha,
                "sealed": {k: seal.get(k) for k in ("by", "at", "reason")},
                "total_co2e_t": em.get("total_co2e_t"),
            }
        )
        if isinstance(em.get("total_co2e_t"), int | float):
            totals.append(em["total_co2e_t"])
        for s in em.get("sources") or []:
            e = sources.setdefault(
                s["id"], {"kind": s.get("kind"), "gas": s.get("gas"), "t": [], "co2e_t": []}
            )
            e["t"].append(s.get("t") or 0.0)
            e["co2e_t"].append(s.get("co2e_t") or 0.0)
        for p in rec.get("parameters") or []:
            v = p.get("value")
            if not isinstance(v, int | float):
                continue
            if p.get("aggregation") in ADDITIVE:
                q = params.setdefault(p["id"], {"unit": p.get("unit"), "values": [], "months": []})
                q["values"].append(v)
                q["months"].append(rec["month"])
            else:
                n = not_summed.setdefault(p["id"], {"unit": p.get("unit"), "by_month": {}})
                n["by_month"][rec["month"]] = v
    summed = {
        k: {"value": math.fsum(v["values"]), "unit": v["unit"], "months": v["months"]}
        for k, v in sorted(params.items())
    }
    return {
        "format": FORMAT,
        "site": site,
        "year": year,
        "months": listed,
        "emissions": {
            "sources": {
                k: {
                    "kind": v["kind"],
                    "gas": v["gas"],
                    "t": math.fsum(v["t"]),
                    "co2e_t": math.fsum(v["co2e_t"]),
                }
                for k, v in sorted(sources.items())
            },
            "total_co2e_t": math.fsum(totals),
        },
        "parameters": summed,
        "annual_ratios": _annual_ratios(summed, not_summed),
        "not_summed": dict(sorted(not_summed.items())),
    }


def _annual_ratios(
    summed: dict[str, dict[str, Any]], not_summed: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``ANNUAL_RATIOS`` of the parameters the months listed, from the year's totals.

    Formed only when numerator and denominator were summed over the same months (else a
    month missing one part would bias the year) and the denominator is positive.
    """
    out: dict[str, dict[str, Any]] = {}
    for pid, (num, den, factor, unit) in ANNUAL_RATIOS.items():
        if pid not in not_summed or num not in summed or den not in summed:
            continue
        n, d = summed[num], summed[den]
        if n["months"] != d["months"] or not d["value"] > 0:
            continue
        out[pid] = {
            "value": n["value"] * factor / d["value"],
            "unit": unit,
            "formula": f"Σ {num}" + (f" × {factor:g}" if factor != 1.0 else "") + f" / Σ {den}",
            "months": n["months"],
            "unconfirmed": "formed from the year's totals; the guideline's annual form "
            "was not confirmed against its text",
        }
    return out


def _sealed_months(
    versions: Any, events: Any, site: str, year: int
) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    out = []
    for m in range(1, 13):
        month = f"{year:04d}-{m:02d}"
        seal = events.latest(site, month, "sealed")
        if seal is None:
            continue
        files = versions.files(site, month, seal.version)
        if files is None:
            raise YearError(f"{site} {month}: sealed v{seal.version} has no stored record")
        data = files[0]
        sha = hashlib.sha256(data).hexdigest()
        if sha != seal.record_sha256:
            raise YearError(
                f"{site} {month}: stored record v{seal.version} differs from the sealed one"
            )
        out.append((json.loads(data), sha, seal.as_dict()))
    return out


def write_year(
    versions: Any, events: Any, site: str, year: int, out_dir: Path, signing_key: Any
) -> tuple[Path, Path]:
    """Write ``SITE_YEAR.json``, its ``SITE_YEAR.jws`` (the collector's signature) and
    ``SITE_YEAR.xlsx``; returns the JSON and xlsx paths."""
    from collector.records.bundle import sign_record

    months = _sealed_months(versions, events, site, year)
    if not months:
        raise YearError(f"{site} has no sealed month in {year} (mrv-collector month seal)")
    summary = summarise(site, year, months)
    out_dir.mkdir(parents=True, exist_ok=True)
    jp = out_dir / f"{site}_{year}.json"
    data = (json.dumps(summary, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()
    jp.write_bytes(data)
    jp.with_suffix(".jws").write_bytes(sign_record(data, signing_key))
    xp = out_dir / f"{site}_{year}.xlsx"
    xp.write_bytes(year_xlsx(summary))
    return jp, xp


def year_xlsx(summary: dict[str, Any]) -> bytes:
    """The summary as a workbook (months, emissions, summed parameters), bilingual headings."""
    from collector.records.ledger import workbook_bytes

    months: list[list[Any]] = [
        ["月份 Month", "版本 Version", "记录哈希 Record SHA-256", "封存人 Sealed by", "排放 t CO2e"]
    ]
    months += [[m["month"], m["version"], m["record_sha256"], m["sealed"]["by"], m["total_co2e_t"]]
               for m in summary["months"]]  # fmt: skip
    em: list[list[Any]] = [["排放源 Source", "类别 Kind", "气体 Gas", "t", "t CO2e"]]
    em += [
        [k, v["kind"], v["gas"], v["t"], v["co2e_t"]]
        for k, v in summary["emissions"]["sources"].items()
    ]
    em.append(["合计 Total", "", "CO2e", None, summary["emissions"]["total_co2e_t"]])
    ps: list[list[Any]] = [["参数 Parameter", "年累计 Year total", "单位 Unit", "月份 Months"]]
    ps += [
        [k, v["value"], v["unit"] or "", ", ".join(v["months"])]
        for k, v in summary["parameters"].items()
    ]
    rs: list[list[Any]] = [["比值 Ratio", "年度值 Year value", "单位 Unit", "公式 Formula"]]
    rs += [
        [k, v["value"], v["unit"], v["formula"]]
        for k, v in (summary.get("annual_ratios") or {}).items()
    ]
    title = f"{summary['site']} {summary['year']} 年度汇总"
    return workbook_bytes(
        {"月份 Months": months, "排放 Emissions": em, "参数 Parameters": ps, "年度比值 Ratios": rs},
        title,
    )


def check_year(summary: dict[str, Any], bundles: list[Path]) -> list[str]:
    """Problems between an annual summary and the month bundles it names (``[]``: agrees).

    Each named month must be among ``bundles`` with exactly the named record.json, and that
    bundle must verify (signatures, chains, every value recomputed); the sums are recomputed
    from those records.
    """
    from collector.verify_bundle import verify_bundle

    problems: list[str] = []
    if summary.get("format") != FORMAT:
        return [f"not an annual summary (format {summary.get('format')!r})"]
    by_sha: dict[str, tuple[Path, bytes]] = {}
    for b in bundles:
        try:
            data = (b / "record.json").read_bytes()
        except OSError as exc:
            problems.append(f"{b}: cannot read record.json ({exc.strerror or exc})")
            continue
        by_sha[hashlib.sha256(data).hexdigest()] = (b, data)
    months = []
    for m in summary.get("months") or []:
        hit = by_sha.get(m.get("record_sha256", ""))
        if hit is None:
            problems.append(
                f"{m.get('month')}: no bundle given has record.json with SHA-256 {m.get('record_sha256')}"
            )
            continue
        b, data = hit
        rep = verify_bundle(b, workers=1)
        if not rep.ok:
            first = rep.problems[0]
            problems.append(
                f"{m.get('month')}: bundle {b.name} does not verify: {first.where}: {first.message}"
            )
        rec = json.loads(data)
        if rec.get("site") != summary.get("site") or rec.get("month") != m.get("month"):
            problems.append(
                f"{m.get('month')}: bundle {b.name} is {rec.get('site')} {rec.get('month')}"
            )
        months.append((rec, m["record_sha256"], {"by": m["sealed"].get("by"), "at": m["sealed"].get("at"),
                                                  "reason": m["sealed"].get("reason")}))  # fmt: skip
    if problems:
        return problems
    again = summarise(summary["site"], summary["year"], months)
    for key in ("emissions", "parameters", "annual_ratios", "not_summed", "months"):
        if again[key] != summary.get(key):
            problems.append(f"{key}: the summary's figures differ from the sum of the named months")
    return problems


def check_year_signature(data: bytes, jws: bytes | None, bundles: list[Path]) -> list[str]:
    """Problems with the collector's signature over the summary's bytes (``[]``: it verifies
    with the collector key of one of the month bundles given)."""
    from collector.records.bundle import KEYS, JwsError, verify_record_signature

    if jws is None:
        return ["the summary's signature (SITE_YEAR.jws beside it) is missing"]
    keys: dict[str, dict[str, Any]] = {}
    for b in bundles:
        try:
            jwk = json.loads((b / KEYS).read_bytes())["collector"]["jwk"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # the bundle's own verification names what is wrong with keys.json
        keys.setdefault(json.dumps(jwk, sort_keys=True), jwk)
    last = "no month bundle given carries a collector key"
    for jwk in keys.values():
        try:
            verify_record_signature(jws, data, jwk, name="summary.json")
            return []
        except JwsError as exc:
            last = str(exc).replace("summary.jws", "the summary's signature")
    return [f"the summary is not signed by the months' collector: {last}"]
