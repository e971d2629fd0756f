"""Evidence beyond meters: a submitted value (lab result, settlement slip, manual entry).

A submission is one reading of an ordinary signed batch with ``origin`` ``lab``, ``manual``
or ``invoice`` and an ``evidence`` object (DESIGN.md "Evidence beyond meters")::

    {"id": "kiln_coal_ncv_gj_per_t", "ts": MS, "value": 23.41, "quality": "good",
     "origin": "lab", "unit": "GJ/t", "period": "2026-10",
     "evidence": {"submission": "AGENT:SEQ:N", "lab": "...", "accreditation": "CMA",
                  "report_no": "...", "sampled_from": MS, "sampled_to": MS, "note": "...",
                  "documents": [{"sha256", "name", "size", "media_type"}],
                  "replaces": "AGENT:SEQ:N or a report number", "reason": "..."}}

Documents are bound by their SHA-256 in the signed payload; the bytes travel separately
(``mrv/v1/{site}/{agent}/document/{sha256}``). This module is pure: it validates rows and
builds readings; the agent does the file and outbox I/O.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from protocols.catalogue import catalogue as industry_catalogue
from protocols.errors import MrvError

__all__ = [
    "ACCREDITATIONS",
    "DOCUMENT_TYPES",
    "MAX_DOCUMENT_BYTES",
    "SUBMIT_ORIGINS",
    "LabParameter",
    "SubmissionError",
    "document_ext",
    "lab_parameters",
    "submittable",
    "validate_row",
]

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
SUBMIT_ORIGINS = ("lab", "manual", "invoice")
ACCREDITATIONS = ("CMA", "CNAS")
#: file extension → media type of the documents accepted (PDF, images, spreadsheets)
DOCUMENT_TYPES: Mapping[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
    "csv": "text/csv",
}
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class SubmissionError(MrvError):
    """A submitted row is wrong; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class LabParameter:
    """A parameter no register carries: its unit and the range a plausible value lies in."""

    id: str
    name_en: str
    name_zh: str
    unit: str
    min: float
    max: float
    industries: tuple[str, ...]


#: Laboratory, settlement-slip and manual parameters. Ranges are plausibility bounds (a
#: fraction is 0..1; coal NCV 10..35 GJ/t and carbon content 0.015..0.035 t C/GJ bracket the
#: bituminous/anthracite rows of the guidelines' fuel tables), not accounting values.
_LAB: tuple[LabParameter, ...] = (
    LabParameter(
        "anode_sulphur_fraction",
        "Anode sulphur content",
        "阳极含硫量",
        "fraction",
        0.0,
        0.1,
        ("aluminium",),
    ),
    LabParameter(
        "anode_ash_fraction", "Anode ash content", "阳极灰分", "fraction", 0.0, 0.1, ("aluminium",)
    ),
    LabParameter(
        "clinker_cao_fraction",
        "Clinker CaO content",
        "熟料氧化钙含量",
        "fraction",
        0.4,
        0.8,
        ("cement",),
    ),
    LabParameter(
        "clinker_mgo_fraction",
        "Clinker MgO content",
        "熟料氧化镁含量",
        "fraction",
        0.0,
        0.1,
        ("cement",),
    ),
    LabParameter(
        "coal_ncv_gj_per_t",
        "Coal net calorific value",
        "燃煤低位发热量",
        "GJ/t",
        10.0,
        35.0,
        ("cement", "steel", "aluminium"),
    ),
    LabParameter(
        "coal_carbon_tc_per_gj",
        "Coal carbon content per unit heat",
        "燃煤单位热值含碳量",
        "t C/GJ",
        0.015,
        0.035,
        ("cement", "steel", "aluminium"),
    ),
    LabParameter(
        "coke_carbon_fraction", "Coke carbon content", "焦炭含碳量", "t C/t", 0.7, 0.95, ("steel",)
    ),
    LabParameter(
        "pci_coal_carbon_fraction",
        "PCI coal carbon content",
        "喷吹煤含碳量",
        "t C/t",
        0.5,
        0.9,
        ("steel",),
    ),
    LabParameter(
        "coal_purchased_t",
        "Purchased coal (settlement slip)",
        "外购煤量(结算单)",
        "t",
        0.0,
        1e7,
        ("cement", "steel", "aluminium"),
    ),
)


def lab_parameters() -> tuple[LabParameter, ...]:
    return _LAB


def submittable(industry: str) -> dict[str, tuple[str, float | None, float | None]]:
    """id → (unit, min, max) of everything an agent of ``industry`` may submit: its
    catalogue's key parameters (any value ≥ 0 unless a lab range applies) and the lab table."""
    out: dict[str, tuple[str, float | None, float | None]] = {}
    try:
        for p in industry_catalogue(industry):
            if p.aggregation.value != "derived":
                out[p.id] = (p.unit, 0.0 if p.unit != "°C" else None, None)
    except KeyError:
        pass
    for lp in _LAB:
        if industry in lp.industries or industry == "generic":
            out[lp.id] = (lp.unit, lp.min, lp.max)
    return out


def document_ext(name: str) -> str:
    """The lower-case extension of a document name; raises if not an accepted type."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in DOCUMENT_TYPES:
        raise SubmissionError(
            f"document {name!r}: type .{ext or '?'} not accepted "
            f"(use one of {', '.join('.' + e for e in DOCUMENT_TYPES)})"
        )
    return ext


def _ts(value: Any, field: str) -> int:
    """Epoch ms from an int/str of digits or an ISO 8601 time with offset."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = str(value).strip()
    if s.isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise SubmissionError(
            f"{field} {s!r} is not a time (use ISO 8601 with offset, e.g. "
            f"2026-10-05T08:00:00+08:00, or epoch ms)"
        ) from None
    if dt.tzinfo is None:
        raise SubmissionError(f"{field} {s!r} has no UTC offset (add +08:00 or Z)")
    return int(dt.timestamp() * 1000)


def validate_row(row: Mapping[str, Any], industry: str) -> dict[str, Any]:
    """Check one submission row (CLI options or a CSV row, documents already digested) and
    return the reading without ``evidence.submission`` (the agent adds it when it knows the
    seq). Raises :class:`SubmissionError` naming the field."""
    known = submittable(industry)
    pid = str(row.get("param") or "").strip()
    if not pid:
        raise SubmissionError("param: missing (name the parameter id, e.g. coal_ncv_gj_per_t)")
    if pid not in known:
        close = difflib.get_close_matches(pid, list(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise SubmissionError(f"param: unknown parameter {pid!r} for {industry}{hint}")
    unit, lo, hi = known[pid]
    raw = row.get("value")
    try:
        value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        raise SubmissionError(f"value: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise SubmissionError(f"value: {raw!r} is not a finite number")
    got_unit = row.get("unit")
    if got_unit not in (None, "") and str(got_unit).strip() != unit:
        raise SubmissionError(f"unit: {pid} is in {unit!r}, not {got_unit!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise SubmissionError(f"value: {value:g} {unit} is outside {pid}'s range {rng}")
    origin = str(row.get("origin") or "lab").strip()
    if origin not in SUBMIT_ORIGINS:
        raise SubmissionError(f"origin: {origin!r} is not one of {', '.join(SUBMIT_ORIGINS)}")
    period = row.get("period") or None
    at = row.get("at") or None
    if (period is None) == (at is None):
        raise SubmissionError("period/at: give exactly one of --period YYYY-MM or --at TS")
    reading: dict[str, Any] = {"id": pid}
    if period is not None:
        period = str(period).strip()
        if not _PERIOD.match(period):
            raise SubmissionError(f"period: {period!r} is not YYYY-MM")
        # the 15th, 00:00 UTC: inside the month in every time zone, so the month's record
        # selects the batch by time; ``period`` is what the record matches on
        y, m = int(period[:4]), int(period[5:])
        reading["ts"] = int(datetime(y, m, 15, tzinfo=UTC).timestamp() * 1000)
    else:
        reading["ts"] = _ts(at, "at")
    reading.update({"value": value, "quality": "good", "origin": origin, "unit": unit})
    if period is not None:
        reading["period"] = period
    ev: dict[str, Any] = {}
    for key in ("lab", "report_no", "note", "replaces", "reason"):
        v = row.get(key)
        if v not in (None, ""):
            s = str(v).strip()
            if len(s) > 500:
                raise SubmissionError(f"{key}: longer than 500 characters")
            ev[key] = s
    acc = row.get("accreditation")
    if acc not in (None, ""):
        acc = str(acc).strip().upper()
        if acc not in ACCREDITATIONS:
            raise SubmissionError(f"accreditation: {acc!r} is not CMA or CNAS")
        ev["accreditation"] = acc
    sf, st = row.get("sampled_from"), row.get("sampled_to")
    if (sf in (None, "")) != (st in (None, "")):
        raise SubmissionError("sampled_from/sampled_to: give both or neither")
    if sf not in (None, ""):
        a, b = _ts(sf, "sampled_from"), _ts(st, "sampled_to")
        if b < a:
            raise SubmissionError("sampled_to: before sampled_from")
        ev["sampled_from"], ev["sampled_to"] = a, b
    if ("replaces" in ev) != ("reason" in ev):
        raise SubmissionError("replaces/reason: a correction names what it replaces and why")
    docs = row.get("documents") or []
    if docs:
        ev["documents"] = list(docs)
    reading["evidence"] = ev
    return reading
