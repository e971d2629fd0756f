"""The monthly computation: accumulated batches + settings → the body of ``record.json``.

``mrv-collector record build`` and ``mrv-verify BUNDLE_DIR`` both call :func:`compute_record`
(or :func:`accumulate` + :func:`finish_record` on partials), so they cannot disagree: the
verifier recomputes the body and compares every value exactly. Exactness holds because every
floating-point sum is ``math.fsum`` (exactly rounded, independent of addend order) or runs in
a fixed index order.

Key parameters are the site catalogue's ids plus ``settings.key_parameters``; every other
id the agents report is a *signal* (``signals``: count, first/last, min/max/mean, quality;
no aggregation, no substitution). A key parameter no agent reported at all is
``not_measured``: value null, completeness 0, nothing substituted.

Per key parameter (rule from the catalogue, ``settings.aggregation`` overriding; declared
uncatalogued ids get a default by name, see ``rule_for``, and are flagged ``uncatalogued``):

1. **Interval values** on the month's grid of ``interval_s``: ``time_weighted_mean`` — the
   mean of the interval's readings (readings are regular samples or the agent's
   time-weighted interval means, so the grid mean is the time-weighted mean); ``sum`` — the
   sum of the interval's readings; ``counter_delta`` — the counter's movement apportioned to
   the interval by ``protocols.methods.counters.interval_deltas`` (rollover, reset, glitch
   and ``meter_replacement`` events handled there, spread linearly across gaps).
2. **Validity**: expected samples per interval ``E`` = ``interval_s / sample_period_s`` from
   the settings, else inferred as the most frequent number of readings per touched interval
   (ties → the larger). An interval is valid when its coverage ≥ ``valid_fraction`` × E
   (``protocols.methods.data_quality.interval_valid``); completeness = valid ÷ expected.
3. **Gaps** = runs of invalid intervals (``data_quality.gap_spans``), with local times.
4. **Substitution** of invalid intervals by ``data_quality.substitute`` (Part 75-style tiers
   SUB1–SUB3, direction ``high`` unless the catalogue says lower is conservative). For a
   counter, invalid intervals lying between two readings keep their apportioned share of
   the measured movement (rule ``COUNTER_SPAN``: the month total stays exact from boundary
   readings); only intervals outside the readings' span are substituted by the tiers.
5. **Value**: ``time_weighted_mean`` → fsum(filled intervals) ÷ their number; ``sum`` and
   ``counter_delta`` → fsum(filled intervals). Each substitution reports its contribution
   (to the sum, or to the mean) and the parameter its substituted share.

Derived results and the month's direct emissions come from the site industry's accounting
module (``protocols.emissions.ACCOUNTING``: aluminium, cement, steel), which sees the key
parameters' values (origin measured / estimated / calculated) and falls back to the
guideline defaults (origin default); ``emissions`` is ``{"sources", "total_co2e_t"}``.
Derived parameter ids of the catalogue take their values from the same module.
"""

from __future__ import annotations

import math
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.catalogue import catalogue as industry_catalogue
from protocols.catalogue import industries
from protocols.catalogue import parameter as catalogue_parameter
from protocols.emissions import ACCOUNTING, MonthContext, emissions_json
from protocols.emissions.inputs import Resolver, parameter_values
from protocols.methods.counters import (
    CounterSpec,
    Replacement,
    interval_deltas,
)
from protocols.methods.data_quality import (
    completeness,
    gap_spans,
    interval_valid,
    substitute,
)
from protocols.methods.errors import MethodError
from protocols.record.accumulate import (
    BatchMeta,
    Partial,
    SeriesAcc,
    accumulate,
    companion,
    rule_for,
)
from protocols.record.counter_grid import counter_month
from protocols.record.settings import COMPUTATION_VERSION, MonthWindow, RecordSettings
from protocols.record.submissions import apply_submissions, entry_origin, resolve_submissions

__all__ = [
    "ParameterResult",
    "RecordComputation",
    "compute_record",
    "evidence_of",
    "finish_parameter",
    "finish_record",
    "signals_of",
]

Mapper = Callable[..., Iterable[Any]]


@dataclass(slots=True)
class ParameterResult:
    """A parameter's record entry plus its filled interval series (for charts and CSV)."""

    entry: dict[str, Any]
    values: list[float | None]  # filled interval values (None: nothing to fill with)
    valid: list[bool]
    substituted: list[bool]


@dataclass(slots=True)
class RecordComputation:
    """The record body (what the verifier compares) and the series behind it."""

    body: dict[str, Any]
    series: dict[str, ParameterResult] = field(default_factory=dict)


def _flag(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def _expected_samples(settings: RecordSettings, pid: str, s: SeriesAcc) -> tuple[float, str]:
    p = settings.sample_period_s.get(pid)
    if p is not None:
        return settings.interval_s / p, "settings"
    tally = Tally(s.n)
    tally.pop(0, None)
    if not tally:
        return 1.0, "inferred"
    best = max(tally.items(), key=lambda kv: (kv[1], kv[0]))
    return float(best[0]), "inferred"


def _interval_values(s: SeriesAcc, mean: bool) -> list[float | None]:
    vals: list[float | None] = [None if x != x else x for x in s.val.tolist()]
    n = s.n
    for k, ex in s.extras.items():
        first = vals[k]
        if first is None:
            continue
        total = math.fsum([first, *ex])
        vals[k] = total / n[k] if mean else total
    return vals


def _runs(mask: Sequence[bool]) -> list[tuple[int, int]]:
    """Runs [a, b) where mask is True."""
    return [(g.start_index, g.end_index) for g in gap_spans([not m for m in mask])]


def _counter_values(
    settings: RecordSettings, pid: str, s: SeriesAcc, reps: list[dict[str, Any]]
) -> tuple[list[float], list[bool], dict[str, Any], list[dict[str, Any]]]:
    """Interval deltas, covered mask, counter info and flags of a cumulative counter."""
    w = settings.window
    cs = settings.counters.get(pid)
    spec = (
        CounterSpec(cs.width_bits, cs.max_raw, cs.scale, cs.max_rate_per_s)
        if cs is not None
        else CounterSpec()
    )
    readings = sorted(s.counter or ())
    replacements = sorted(
        (
            Replacement(int(r["ts"]), r["old_final"], r["new_initial"])
            for r in reps
            if isinstance(r.get("ts"), int)
            and isinstance(r.get("old_final"), int | float)
            and isinstance(r.get("new_initial"), int | float)
        ),
        key=lambda r: r.ts_ms,
    )
    flags: list[dict[str, Any]] = []
    iv = settings.interval_ms
    nk = settings.n_intervals
    if not readings:
        return [0.0] * nk, [False] * nk, {"readings": 0}, flags
    month = None if replacements else counter_month(readings, w.start_ms, nk, iv, spec)
    if month is not None:  # the same numbers as interval_deltas, without its objects
        values, kind_set, frozen = month
        kinds = sorted(kind_set)
    else:
        deltas = interval_deltas(readings, w.start_ms, w.end_ms, iv, spec, replacements)
        values = [d.delta for d in deltas]
        if len(values) != nk:  # pragma: no cover - the counters module guarantees the grid
            raise MethodError(f"{pid}: counter grid has {len(values)} intervals, expected {nk}")
        kinds = sorted({kd for d in deltas for kd in d.kinds})
        frozen = any(d.frozen for d in deltas)
    # bracketing as counters.counter_total defines it: a reading at/before start, at/after end
    start_b = readings[0][0] <= w.start_ms
    end_b = readings[-1][0] >= w.end_ms
    first = (
        min(readings[0][0], *(r.ts_ms for r in replacements)) if replacements else readings[0][0]
    )
    last = (
        max(readings[-1][0], *(r.ts_ms for r in replacements)) if replacements else readings[-1][0]
    )
    covered = [
        w.start_ms + k * iv >= first and w.start_ms + (k + 1) * iv <= last for k in range(nk)
    ]
    info = {
        "readings": len(readings),
        "start_bracketed": start_b,
        "end_bracketed": end_b,
        "kinds": kinds,
        "replacements": [
            {
                "ts": r.ts_ms,
                "at": w.iso(r.ts_ms),
                "old_final": r.old_final_raw,
                "new_initial": r.new_initial_raw,
            }
            for r in replacements
        ],
        "spec": {
            "width_bits": spec.width_bits,
            "max_raw": spec.max_raw,
            "scale": spec.scale,
            "max_rate_per_s": spec.max_rate_per_s,
        },
    }
    for kind in kinds:
        flags.append(_flag(f"counter_{kind}", f"counter step of kind {kind} in the month"))
    if not start_b:
        flags.append(
            _flag("start_not_bracketed", "no counter reading at or before the month start")
        )
    if not end_b:
        flags.append(_flag("end_not_bracketed", "no counter reading at or after the month end"))
    if frozen:
        flags.append(_flag("counter_frozen", "counter did not change for the configured time"))
    return values, covered, info, flags


def finish_parameter(
    settings: RecordSettings,
    pid: str,
    s: SeriesAcc | None,
    replacements: list[dict[str, Any]] | None = None,
) -> ParameterResult:
    """One parameter's entry: value, validity, gaps, substitutions, flags."""
    w = settings.window
    nk = settings.n_intervals
    iv = settings.interval_ms
    rule, _ = rule_for(settings, pid)
    site_ids = {p.id for p in _site_catalogue(settings)}
    try:
        cat = catalogue_parameter(pid)
    except KeyError:
        cat = None
    if s is None or (s.lo < 0 and not s.bad and not s.outside and not s.counter):
        return _not_measured_result(settings, pid, rule, cat, pid in site_ids)
    direction = "high" if cat is None or cat.higher_is_conservative else "low"
    e_samples, basis = _expected_samples(settings, pid, s)
    threshold_cov = 1000.0 * e_samples
    vf = settings.valid_fraction
    # data_quality.interval_valid(cov, expected) per interval, evaluated once per distinct
    # coverage value (a month has few distinct coverages and 10^4–10^5 intervals).
    memo = {c: interval_valid(c, threshold_cov, vf) for c in set(s.cov)}  # type: ignore[arg-type]
    valid = list(map(memo.__getitem__, s.cov))
    flags: list[dict[str, Any]] = []
    counter_info: dict[str, Any] | None = None
    sub = settings.substitution
    substitutions: list[dict[str, Any]] = []
    substituted = [False] * nk
    if rule == "counter_delta":
        values, covered, counter_info, cflags = _counter_values(
            settings, pid, s, replacements or []
        )
        flags.extend(cflags)
        filled: list[float | None] = list(values)
        for a, b in _runs([not v and c for v, c in zip(valid, covered, strict=True)]):
            contrib = math.fsum(values[a:b])
            substitutions.append(
                {
                    "start": w.iso(w.start_ms + a * iv),
                    "end": w.iso(w.start_ms + b * iv),
                    "start_index": a,
                    "intervals": b - a,
                    "rule": "COUNTER_SPAN",
                    "value": None,
                    "contribution": contrib,
                    "basis": "counter movement between the readings around the gap",
                }
            )
            for k in range(a, b):
                substituted[k] = True
        if not all(covered):
            res = substitute(
                values,
                valid=covered,
                direction=direction,
                short_gap_max=sub.short_gap_max,
                lookback=sub.lookback,
                availability_threshold=sub.availability_threshold,
            )
            for sb in res.substitutions:
                for k in range(sb.start_index, sb.end_index):
                    filled[k] = sb.value
                    substituted[k] = True
                substitutions.append(_sub_entry(w, iv, sb, sb.contribution))
        present = [v for v in filled if v is not None]
        value: float | None = math.fsum(present) if counter_info["readings"] else None
    else:
        mean = rule == "time_weighted_mean"
        vals = _interval_values(s, mean)
        res = substitute(
            vals,
            valid=valid,
            direction=direction,
            short_gap_max=sub.short_gap_max,
            lookback=sub.lookback,
            availability_threshold=sub.availability_threshold,
        )
        filled = list(res.values)
        present = [v for v in filled if v is not None]
        n_present = len(present)
        if not any(valid):
            value = None
            filled = [None] * nk
            present = []
        else:
            value = math.fsum(present) / n_present if mean else math.fsum(present)
            for sb in res.substitutions:
                for k in range(sb.start_index, sb.end_index):
                    substituted[k] = sb.value is not None
                contrib = sb.contribution / n_present if mean else sb.contribution
                substitutions.append(_sub_entry(w, iv, sb, contrib))
    comp = completeness(valid)
    gaps = [
        {
            "start": w.iso(w.start_ms + g.start_index * iv),
            "end": w.iso(w.start_ms + g.end_index * iv),
            "start_index": g.start_index,
            "intervals": g.length,
        }
        for g in comp.gaps
    ]
    sub_total = math.fsum(x["contribution"] for x in substitutions)
    n_bad = sum(s.bad.values())
    n_unc = sum(s.uncertain.values())
    n_used = sum(s.n)
    if value is None:
        flags.append(_flag("no_data", "no valid interval in the month; no value"))
    if pid not in site_ids:
        flags.append(
            _flag(
                "uncatalogued",
                f"not in the {settings.industry} catalogue; aggregated by {rule}",
            )
        )
    if n_unc:
        flags.append(
            _flag(
                "uncertain_quality",
                f"{n_unc} readings of uncertain quality used",
                readings=n_unc,
                intervals=len(s.uncertain),
            )
        )
    if n_bad:
        top = sorted(s.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        flags.append(
            _flag(
                "bad_quality",
                f"{n_bad} bad readings not used",
                readings=n_bad,
                intervals=len(s.bad),
                reasons=[{"reason": r, "readings": c} for r, c in top],
            )
        )
    if s.clock:
        flags.append(
            _flag(
                "clock_unsynced",
                "readings from batches whose clock was not trusted",
                intervals=len(s.clock),
            )
        )
    if comp.completeness < sub.availability_threshold and value is not None:
        flags.append(
            _flag(
                "low_completeness",
                f"completeness {comp.completeness:.3f} below "
                f"{sub.availability_threshold:g}: conservative substitution tiers",
            )
        )
    flags.sort(key=lambda f: f["code"])
    unit = cat.unit if cat is not None else settings.units.get(pid)
    entry: dict[str, Any] = {
        "id": pid,
        "name_en": cat.name_en if cat is not None else None,
        "name_zh": cat.name_zh if cat is not None else None,
        "unit": unit,
        "catalogued": pid in site_ids,
        "aggregation": rule,
        "method": _method_text(rule, settings, direction),
        "value": value,
        "expected_intervals": comp.expected_intervals,
        "valid_intervals": comp.valid_intervals,
        "completeness": comp.completeness,
        "expected_samples_per_interval": e_samples,
        "expected_samples_basis": basis,
        "readings": {"used": n_used, "bad": n_bad, "uncertain": n_unc, "outside_month": s.outside},
        "gaps": gaps,
        "substitutions": substitutions,
        "substituted_intervals": sum(substituted),
        "substituted_contribution": sub_total,
        "substituted_share": (sub_total / value) if value else 0.0,
        "flags": flags,
    }
    if counter_info is not None:
        entry["counter"] = counter_info
    return ParameterResult(entry, filled, valid, substituted)


def _not_measured_result(
    settings: RecordSettings, pid: str, rule: str, cat: Any, catalogued: bool
) -> ParameterResult:
    """A key parameter no agent reported at all in the record's batches: not measured, not
    lost. No value, no gaps, no substitution — inventing a month of data for a meter the site
    does not have would be dishonest; the record says so with ``not_measured``."""
    nk = settings.n_intervals
    direction = "high" if cat is None or cat.higher_is_conservative else "low"
    entry: dict[str, Any] = {
        "id": pid,
        "name_en": cat.name_en if cat is not None else None,
        "name_zh": cat.name_zh if cat is not None else None,
        "unit": cat.unit if cat is not None else settings.units.get(pid),
        "catalogued": catalogued,
        "aggregation": rule,
        "method": _method_text(rule, settings, direction),
        "value": None,
        "expected_intervals": nk,
        "valid_intervals": 0,
        "completeness": 0.0,
        "expected_samples_per_interval": None,
        "expected_samples_basis": None,
        "readings": {"used": 0, "bad": 0, "uncertain": 0, "outside_month": 0},
        "gaps": [],
        "substitutions": [],
        "substituted_intervals": 0,
        "substituted_contribution": 0.0,
        "substituted_share": 0.0,
        "flags": [
            _flag(
                "not_measured",
                "no agent of the site reported this parameter in the month; no value, "
                "nothing substituted",
            )
        ],
    }
    return ParameterResult(entry, [None] * nk, [False] * nk, [False] * nk)


def _sub_entry(w: MonthWindow, iv: int, sb: Any, contribution: float) -> dict[str, Any]:
    return {
        "start": w.iso(w.start_ms + sb.start_index * iv),
        "end": w.iso(w.start_ms + sb.end_index * iv),
        "start_index": sb.start_index,
        "intervals": sb.intervals,
        "rule": sb.rule,
        "value": sb.value,
        "contribution": contribution,
        "basis": f"{len(sb.basis)} valid interval value(s)",
    }


def _method_text(rule: str, settings: RecordSettings, direction: str) -> str:
    iv = f"{settings.interval_s} s intervals"
    sub = f"invalid intervals substituted by data_quality.substitute (direction {direction})"
    if rule == "counter_delta":
        return (
            f"counter delta from boundary readings (protocols.methods.counters) on {iv}; "
            f"gaps between readings keep their apportioned movement; intervals outside the "
            f"readings' span: {sub}"
        )
    if rule == "sum":
        return f"sum of interval sums on {iv}; {sub}"
    return f"time-weighted mean of interval means on {iv}; {sub}"


def _site_catalogue(settings: RecordSettings) -> tuple[Any, ...]:
    return industry_catalogue(settings.industry) if settings.industry in industries() else ()


def evidence_of(batches: Iterable[BatchMeta]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per agent, contiguous seq segments: ``{site, agent, first_seq, first_prev, last_seq,
    last_hash, batches}``; and flags for holes between segments."""
    by_agent: dict[tuple[str, str], dict[int, BatchMeta]] = {}
    for b in batches:
        by_agent.setdefault((b.site, b.agent), {}).setdefault(b.seq, b)
    out: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    for (site, agent), seqs in sorted(by_agent.items()):
        ordered = [seqs[k] for k in sorted(seqs)]
        seg: list[BatchMeta] = []
        for b in ordered:
            if seg and b.seq != seg[-1].seq + 1:
                flags.append(
                    _flag(
                        "evidence_gap",
                        f"{site}/{agent}: seq {seg[-1].seq + 1}..{b.seq - 1} missing",
                        agent=agent,
                        first_missing=seg[-1].seq + 1,
                        last_missing=b.seq - 1,
                    )
                )
                out.append(_segment(seg))
                seg = []
            seg.append(b)
        if seg:
            out.append(_segment(seg))
    return out, flags


def _segment(seg: list[BatchMeta]) -> dict[str, Any]:
    return {
        "site": seg[0].site,
        "agent": seg[0].agent,
        "first_seq": seg[0].seq,
        "first_prev": seg[0].prev,
        "last_seq": seg[-1].seq,
        "last_hash": seg[-1].hash,
        "batches": len(seg),
    }


def _value(series: dict[str, ParameterResult], pid: str) -> float | None:
    r = series.get(pid)
    return None if r is None else r.entry["value"]


def _anode_table(settings: RecordSettings, effects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    w = settings.window
    seen: set[tuple[str, int]] = set()
    rows = []
    for e in sorted(effects, key=lambda e: (e["start"], str(e.get("cell")), e["agent"], e["seq"])):
        key = (str(e.get("cell")), e["start"])
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "cell": e.get("cell"),
                "start": w.iso(e["start"]),
                "end": w.iso(e["end"]),
                "duration_s": (e["end"] - e["start"]) / 1000.0,
                "peak_v": e.get("peak_v"),
                "trigger_v": e.get("trigger_v"),
                "min_duration_ms": e.get("min_duration_ms"),
                "agent": e["agent"],
                "seq": e["seq"],
            }
        )
    return rows


def _finish_one(
    args: tuple[RecordSettings, str, SeriesAcc | None, list[dict[str, Any]]],
) -> ParameterResult:
    return finish_parameter(*args)


def finish_record(
    settings: RecordSettings, partial: Partial, *, mapper: Mapper = map
) -> RecordComputation:
    """Turn merged accumulations into the record body. ``mapper`` may be a process pool's
    ``map`` (parameters are independent); results do not depend on it."""
    w = settings.window
    cat = _site_catalogue(settings)
    ids = [p.id for p in cat if rule_for(settings, p.id)[0] != "derived"]
    ids += [pid for pid in settings.key_parameters if pid not in set(ids)]
    derived_ids = [p.id for p in cat if rule_for(settings, p.id)[0] == "derived"]
    ids = [pid for pid in ids if pid not in derived_ids]
    jobs = [
        (settings, pid, partial.series.get(pid), partial.replacements.get(pid, [])) for pid in ids
    ]
    results = dict(zip(ids, mapper(_finish_one, jobs), strict=True))
    effects = partial.anode_effects
    flags: list[dict[str, Any]] = []
    derived: dict[str, Any] = {}
    dparams: dict[str, tuple[float | None, list[str], str]] = {}
    entries = [results[pid].entry for pid in ids]
    submissions, used, sub_flags = resolve_submissions(
        partial.submissions, partial.documents_present
    )
    flags.extend(sub_flags)
    plan = apply_submissions(entries, used, settings.data_quality_plan, sub_flags)
    emissions: dict[str, Any] | None = None
    account = ACCOUNTING.get(settings.industry_enum)
    if account is not None:
        ctx = MonthContext(
            values=parameter_values(entries),
            resolve=Resolver.for_month(parameter_values(entries)),
            days=w.days,
            start_ms=w.start_ms,
            end_ms=w.end_ms,
            anode_effects=tuple(effects),
        )
        acc = account(ctx, getattr(settings, settings.industry))
        derived, dparams = acc.derived, acc.params
        flags.extend(acc.flags)
        emissions = emissions_json(acc.sources)
    for pid in derived_ids:
        cp = catalogue_parameter(pid)
        value, inputs, method = dparams.get(pid, (None, list(cp.derived_from), cp.method or ""))
        comps = [results[i].entry["completeness"] for i in inputs if i in results]
        sent = partial.series.get(pid)
        pflags = []
        unmeasured = [i for i in inputs if i in results and _not_measured(results[i].entry)]
        if value is None:
            pflags.append(_flag("no_data", "inputs missing; not computed"))
        if unmeasured:
            pflags.append(
                _flag(
                    "inputs_not_measured",
                    f"input(s) not measured this month: {', '.join(unmeasured)}",
                    inputs=unmeasured,
                )
            )
        if sent is not None:
            pflags.append(
                _flag(
                    "agent_values_not_used",
                    "the agent's own readings of this derived id are not used; the "
                    "record derives it from the month's inputs",
                    readings=sum(sent.n),
                )
            )
        dentry: dict[str, Any] = {
            "id": pid,
            "name_en": cp.name_en,
            "name_zh": cp.name_zh,
            "unit": cp.unit,
            "catalogued": True,
            "aggregation": "derived",
            "method": method,
            "inputs": inputs,
            "value": value,
            "expected_intervals": settings.n_intervals,
            "valid_intervals": None,
            "completeness": min(comps) if comps else 0.0,
            "gaps": [],
            "substitutions": [],
            "flags": pflags,
        }
        dentry["origin"], dentry["source"] = entry_origin(dentry)
        dentry["documents"] = [
            d for i in inputs for e in entries if e["id"] == i for d in e.get("documents", ())
        ]
        entries.append(dentry)
    evidence, eflags = evidence_of(partial.batches)
    flags.extend(eflags)
    if partial.unsynced_batches:
        flags.append(
            _flag(
                "clock_unsynced_batches",
                f"{len(partial.unsynced_batches)} batches with an untrusted clock",
                batches=[{"agent": a, "seq": q} for a, q in sorted(partial.unsynced_batches)][:100],
            )
        )
    clock_events = sorted(
        (
            {
                "agent": e["agent"],
                "seq": e["seq"],
                "type": e.get("type"),
                "ts": e.get("ts"),
                "start": e.get("start"),
                "end": e.get("end"),
            }
            for e in partial.clock_events
        ),
        key=lambda e: (e["agent"], e["seq"], e["ts"] or 0, e["start"] or 0),
    )
    if clock_events:
        flags.append(_flag("clock_events", f"{len(clock_events)} clock events reported by agents"))
    if submissions and not partial.series:
        # A month from before the agents existed (the 2025 rules asked for January–June to
        # be filled in afterwards): built from submitted values alone, and says so.
        flags.append(
            _flag(
                "backfill_submitted_only",
                "built from submitted values alone (no metered evidence in the month)",
            )
        )
    flags.sort(key=lambda f: (f["code"], f["message"]))
    body: dict[str, Any] = {
        "format": "plant-mrv/monthly-record",
        "computation_version": COMPUTATION_VERSION,
        "site": settings.site,
        "month": settings.month,
        "period": {
            "timezone": settings.timezone,
            "start": w.iso(w.start_ms),
            "end": w.iso(w.end_ms),
            "start_ms": w.start_ms,
            "end_ms": w.end_ms,
            "days": w.days,
            "interval_s": settings.interval_s,
            "intervals": settings.n_intervals,
            "interval_stamp": settings.interval_stamp,
        },
        "settings": settings.to_dict(),
        "parameters": entries,
        "submissions": submissions,
        "data_quality_plan": plan,
        "signals": signals_of(settings, partial, set(ids) | set(derived_ids)),
        "derived": derived,
        "emissions": emissions,
        "anode_effects": _anode_table(settings, effects),
        "clock_events": clock_events,
        "flags": flags,
        "evidence": evidence,
        "summary": {
            "batches": len(partial.batches),
            "agents": len({(b.site, b.agent) for b in partial.batches}),
            "readings": sum(b.readings for b in partial.batches),
            "events": sum(b.events for b in partial.batches),
            "parameters": len(entries),
            "not_measured": sum(1 for e in entries if _not_measured(e)),
        },
    }
    body["summary"]["signals"] = len(body["signals"])
    for e in (*body["parameters"], *body["signals"]):
        _check_finite(e, e["id"])
    return RecordComputation(body, results)


def _not_measured(entry: dict[str, Any]) -> bool:
    return any(f["code"] == "not_measured" for f in entry.get("flags", ()))


def signals_of(
    settings: RecordSettings, partial: Partial, key_ids: set[str]
) -> list[dict[str, Any]]:
    """Every reported id that is not a key parameter, with plain statistics of its readings
    inside the month: shown for transparency, never aggregated, substituted or flagged
    (a counter's mean or a cell's completeness is no key figure)."""
    w = settings.window
    out = []
    for pid in sorted(set(partial.series) - key_ids):
        s = partial.series[pid]
        vals = [x for x in s.val.tolist() if x == x]
        for ex in s.extras.values():
            vals.extend(ex)
        n = len(vals)
        try:
            unit = catalogue_parameter(pid).unit
        except KeyError:
            unit = None
        n_unc = sum(s.uncertain.values())
        first, last = s.first, s.last
        out.append(
            {
                "id": pid,
                "unit": settings.units.get(pid, unit),
                "of": companion(pid),
                "samples": n,
                "first_ts": w.iso(first[0]) if first else None,
                "last_ts": w.iso(last[0]) if last else None,
                "first_value": first[1] if first else None,
                "last_value": last[1] if last else None,
                "min": min(vals) if n else None,
                "max": max(vals) if n else None,
                "mean": math.fsum(vals) / n if n else None,
                "quality": {"good": n - n_unc, "uncertain": n_unc, "bad": sum(s.bad.values())},
                "outside_month": s.outside,
            }
        )
    return out


def _check_finite(obj: Any, where: str) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise MethodError(f"{where}: non-finite number in the record")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_finite(v, where)
    elif isinstance(obj, list):
        for v in obj:
            _check_finite(v, where)


def compute_record(
    settings: RecordSettings, payloads: Iterable[bytes], *, mapper: Mapper = map
) -> RecordComputation:
    """The whole computation in one call: payload bytes (signature already checked) in,
    record body out. Builder and verifier both end here."""
    return finish_record(settings, accumulate(settings, payloads), mapper=mapper)
