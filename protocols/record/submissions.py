"""Submitted values in the monthly record: which submission counts, and where it goes.

Submissions (``origin`` lab / manual / invoice readings, ``protocols.submission``) of the
record's month are collected by ``accumulate`` apart from meter readings. Here:

* **Supersession.** Per parameter, the latest submission (batch ``created``, then agent,
  seq, position) is used; every earlier one is ``superseded`` by it and stays in the
  evidence and in ``record.json``'s ``submissions``. A correction names what it replaces
  (``replaces``: a submission id or report number of the same parameter) and a reason; a
  ``replaces`` naming nothing known is flagged ``replaces_unknown``.
* **Data quality control plan (数据质量控制计划).** ``settings.data_quality_plan`` names per
  parameter its ``primary`` source (``submitted`` or ``meter``), ``backup`` and ``default``
  (``guideline`` or ``none``). Without an entry a submitted value is primary and the meter the
  backup; ``primary: meter`` keeps a metered value and uses the submission only when the meter
  has none. The effective plan of every parameter involved is listed in the record.
* **Origin.** A submitted value is ``measured`` (实测值; ``obtained`` says lab / manual /
  invoice), its ``source`` the agent, submission id, laboratory and report number, its
  ``documents`` the digests and names. A document that is not in the evidence (the
  collector never received it) is the flag ``document_missing`` on the parameter and the
  record, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from protocols.record.settings import RecordError
from protocols.submission import DOCUMENT_TYPES, lab_parameters

__all__ = [
    "PLAN_DEFAULTS",
    "PLAN_SOURCES",
    "apply_submissions",
    "document_file",
    "entry_origin",
    "resolve_submissions",
    "validate_plan",
]

PLAN_SOURCES = ("submitted", "meter", "lab", "manual", "invoice")
PLAN_DEFAULTS = ("guideline", "none")
_EXT = {v: k for k, v in reversed(list(DOCUMENT_TYPES.items()))}


def validate_plan(plan: Any) -> dict[str, dict[str, str]]:
    """``settings.data_quality_plan``: ``{PARAM: {primary, backup, default}}``."""
    if not isinstance(plan, dict):
        raise RecordError("settings.data_quality_plan must be an object {parameter: {...}}")
    out: dict[str, dict[str, str]] = {}
    for pid, e in sorted(plan.items()):
        where = f"settings.data_quality_plan.{pid}"
        if not isinstance(e, dict) or set(e) - {"primary", "backup", "default"}:
            raise RecordError(f"{where} must be {{primary, backup, default}}")
        for k in ("primary", "backup"):
            if k in e and e[k] not in PLAN_SOURCES:
                raise RecordError(f"{where}.{k}: {e[k]!r} is not one of {', '.join(PLAN_SOURCES)}")
        if "default" in e and e["default"] not in PLAN_DEFAULTS:
            raise RecordError(f"{where}.default: {e['default']!r} is not guideline or none")
        out[str(pid)] = {str(k): str(v) for k, v in sorted(e.items())}
    return out


def document_file(doc: Mapping[str, Any]) -> str:
    """The bundle path of a document: ``documents/SHA256.EXT``."""
    name = str(doc.get("name") or "")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in DOCUMENT_TYPES:
        ext = _EXT.get(str(doc.get("media_type")), "bin")
    return f"documents/{doc['sha256']}.{ext}"


def _key(s: Mapping[str, Any]) -> tuple[int, str, int, int]:
    return (int(s.get("created") or 0), str(s["agent"]), int(s["seq"]), int(s["index"]))


def resolve_submissions(
    raw: Iterable[Mapping[str, Any]], present: frozenset[str] | None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """(every submission as listed in the record, the used one per parameter, flags)."""
    subs = sorted(raw, key=_key)
    listed: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    by_param: dict[str, list[dict[str, Any]]] = {}
    for s in subs:
        r = s["reading"]
        ev = r.get("evidence") or {}
        docs = []
        for d in ev.get("documents") or ():
            doc = {
                "sha256": d["sha256"],
                "name": d.get("name"),
                "size": d.get("size"),
                "media_type": d.get("media_type"),
                "file": document_file(d),
                "present": None if present is None else d["sha256"] in present,
            }
            docs.append(doc)
        entry: dict[str, Any] = {
            "submission": ev.get("submission") or f"{s['agent']}:{s['seq']}:{s['index'] + 1}",
            "parameter": r["id"],
            "value": r.get("value"),
            "unit": r.get("unit"),
            "obtained": r.get("origin"),
            "agent": s["agent"],
            "seq": s["seq"],
            "period": r.get("period"),
            "ts": r.get("ts"),
        }
        for k in (
            "lab",
            "accreditation",
            "report_no",
            "sampled_from",
            "sampled_to",
            "note",
            "replaces",
            "reason",
        ):
            entry[k] = ev.get(k)
        entry["documents"] = docs
        entry["status"] = "used"
        entry["superseded_by"] = None
        listed.append(entry)
        by_param.setdefault(r["id"], []).append(entry)
    used: dict[str, dict[str, Any]] = {}
    for pid, entries in by_param.items():
        latest = entries[-1]
        used[pid] = latest
        for e in entries[:-1]:
            e["status"] = "superseded"
            e["superseded_by"] = latest["submission"]
        for e in entries:
            rep = e["replaces"]
            if rep is None:
                continue
            if not any(o is not e and rep in (o["submission"], o["report_no"]) for o in entries):
                flags.append(
                    {
                        "code": "replaces_unknown",
                        "message": f"submission {e['submission']} replaces {rep!r}, which is "
                        f"not a submission of {pid} in this month",
                        "submission": e["submission"],
                    }
                )
    for e in listed:
        for d in e["documents"]:
            if d["present"] is False:
                flags.append(
                    {
                        "code": "document_missing",
                        "message": f"document {d['name']} ({d['sha256'][:12]}…) of submission "
                        f"{e['submission']} ({e['parameter']}) is not in the evidence",
                        "submission": e["submission"],
                        "sha256": d["sha256"],
                    }
                )
    return listed, used, flags


def _source_text(s: Mapping[str, Any]) -> str:
    parts = [f"submission {s['submission']} by agent {s['agent']} ({s['obtained']})"]
    if s.get("lab"):
        acc = f" {s['accreditation']}" if s.get("accreditation") else ""
        parts.append(f"laboratory {s['lab']}{acc}")
    if s.get("report_no"):
        parts.append(f"report {s['report_no']}")
    return "; ".join(parts)


def _docs(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"sha256": d["sha256"], "name": d["name"], "file": d["file"], "present": d["present"]}
        for d in s["documents"]
    ]


def entry_origin(e: Mapping[str, Any]) -> tuple[str | None, str]:
    """Origin and source of a metered/derived parameter entry (before any submission)."""
    pid = e["id"]
    if e.get("aggregation") == "derived":
        inputs = ", ".join(e.get("inputs") or ())
        return "calculated", f"parameter {pid} ({e.get('method') or 'derived'}; from {inputs})"
    if e.get("value") is None:
        return None, f"parameter {pid}: no agent reported it"
    if e.get("substituted_contribution"):
        return (
            "estimated",
            f"parameter {pid} ({e.get('substituted_intervals', 0)} intervals substituted)",
        )
    return "measured", f"parameter {pid}"


def apply_submissions(
    entries: list[dict[str, Any]],
    used: Mapping[str, dict[str, Any]],
    plan: Mapping[str, Mapping[str, str]],
    flags: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Give every entry ``origin``/``source``/``documents``; let submissions take their
    parameter's value where the plan says so; add entries for submitted ids no meter has.
    Returns the effective data quality control plan of each parameter involved."""
    lab = {p.id: p for p in lab_parameters()}
    effective: list[dict[str, Any]] = []
    by_id = {e["id"]: e for e in entries}
    for entry in entries:
        origin, source = entry_origin(entry)
        entry["origin"], entry["source"], entry["documents"] = origin, source, []
    for pid in sorted(set(used) | set(plan)):
        p = plan.get(pid, {})
        primary = p.get("primary", "submitted")
        backup = p.get("backup", "meter" if primary != "meter" else "submitted")
        default = p.get("default", "guideline")
        s = used.get(pid)
        e: dict[str, Any] | None = by_id.get(pid)
        meter_has = e is not None and e.get("value") is not None
        choice = "none"
        if s is not None and not (primary == "meter" and meter_has):
            choice = "submitted"
            pflags = [f for f in flags if f.get("submission") == s["submission"]]
            if e is None:
                lp = lab.get(pid)
                e = {
                    "id": pid,
                    "name_en": lp.name_en if lp else None,
                    "name_zh": lp.name_zh if lp else None,
                    "unit": s["unit"],
                    "catalogued": lp is not None,
                    "aggregation": "submitted",
                    "method": "value submitted for the month (mrv-agent submit); the latest "
                    "submission supersedes earlier ones",
                    "value": s["value"],
                    "expected_intervals": None,
                    "valid_intervals": None,
                    "completeness": 1.0,
                    "gaps": [],
                    "substitutions": [],
                    "flags": [],
                }
                entries.append(e)
                by_id[pid] = e
            else:
                e["meter_value"] = e.get("value")
                e["value"] = s["value"]
                e["completeness"] = 1.0
                e["flags"] = [f for f in e["flags"] if f["code"] != "not_measured"]
            e["origin"] = "measured"
            e["obtained"] = s["obtained"]
            e["source"] = _source_text(s)
            e["documents"] = _docs(s)
            e["submission"] = s["submission"]
            for f in pflags:
                if f["code"] in ("document_missing", "replaces_unknown"):
                    e["flags"].append({"code": f["code"], "message": f["message"]})
            e["flags"].sort(key=lambda f: f["code"])
        elif meter_has:
            choice = "meter"
        effective.append(
            {
                "parameter": pid,
                "primary": primary,
                "backup": backup,
                "default": default,
                "used": choice,
                "submission": s["submission"] if s is not None else None,
            }
        )
    return effective
