"""One pass over batch payloads into per-parameter interval accumulators.

This is the hot path of a monthly record (millions of readings), so payloads are read with
``json.loads`` semantics (``json_load``, a faster exact parser) after their signature was checked — no per-reading model objects — and each
reading touches a few typed arrays. Accumulation is *order independent*: an interval's first
value sits in a float array and further values in a side list, and the interval value is
formed later with ``math.fsum`` (exactly rounded, so the order of addends does not matter);
sample coverage is integer per-mille. Hence partials built from any split of the batches
(e.g. one per CPU core) merge into exactly the same numbers as one sequential pass, and the
builder and the verifier agree bit for bit whatever parallelism each used.

Per reading (``{"id","ts","value","quality",...}``, DESIGN.md wire contract):

* its interval ``k`` is found under ``settings.interval_stamp``; readings outside the month
  are only counted (and kept for cumulative counters, which need boundary readings);
* ``quality == "bad"`` or ``value is None`` (or not finite): counted as bad, not used;
* ``uncertain``: used, and counted so the record flags it;
* coverage: a reading with ``count``/``expected`` (an interval aggregate) covers
  ``min(1, count/expected)`` of one expected sample, floored to per-mille; any other
  reading covers one sample.

A batch whose ``clock`` says ``synced: false``, ``|offset_ms| > clock_max_offset_ms`` or
reports a step of the gateway clock (``jumps`` > 0, the agent's jump detection) marks every
interval it has readings in. Events kept: ``anode_effect`` (overlapping the
month), ``meter_replacement`` (``{"param","ts","old_final","new_initial"}``, for counters)
and clock events (``clock_jump``/``clock_step``).
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import contains, itemgetter
from typing import Any

from protocols.catalogue import catalogue, industries, parameters
from protocols.catalogue import parameter as catalogue_parameter
from protocols.compact import SeriesColumns, series_columns
from protocols.errors import PayloadInvalid
from protocols.record.json_load import load_payload
from protocols.record.settings import RecordError, RecordSettings

__all__ = [
    "BatchMeta",
    "Partial",
    "SeriesAcc",
    "accumulate",
    "companion",
    "is_key",
    "merge_partials",
    "rule_for",
    "site_ids",
]

NAN = math.nan
CLOCK_EVENTS = frozenset({"clock_jump", "clock_step"})
_CATALOGUE_IDS = frozenset(p.id for p in parameters())


def site_ids(settings: RecordSettings) -> frozenset[str]:
    """Ids of the site's catalogue (its industry's key parameters)."""
    return (
        frozenset(p.id for p in catalogue(settings.industry))
        if (settings.industry in industries())
        else frozenset()
    )


def is_key(settings: RecordSettings, pid: str) -> bool:
    """A key parameter of this record: in the site's catalogue or declared in
    ``settings.key_parameters``. Anything else an agent reports is only a signal: kept for
    transparency with plain statistics, never aggregated or substituted."""
    return pid in site_ids(settings) or pid in settings.key_parameters


def companion(pid: str) -> str | None:
    """The catalogue id an agent-derived id stands for, by the agent's naming: ``X_total``
    (running total of counter X), ``X_total_U``/``X_interval_U`` (e.g.
    ``line_charge_total_ka_h``, ``dc_energy_interval_mwh`` → ``dc_energy_mwh``); else None."""
    cands = []
    if pid.endswith("_total"):
        cands.append(pid[: -len("_total")])
    for infix in ("_total_", "_interval_"):
        if infix in pid:
            cands.append(pid.replace(infix, "_", 1))
    for c in cands:
        for c2 in (c, c.removesuffix("_total")):
            if c2 in _CATALOGUE_IDS:
                return c2
    return None


def rule_for(settings: RecordSettings, pid: str) -> tuple[str, bool]:
    """(aggregation rule, catalogued?) of a parameter id for this record.

    ``settings.aggregation`` wins, then the catalogue. An uncatalogued id (only aggregated
    when declared in ``settings.key_parameters``) named like the agent's derived companions
    of a catalogue id gets that naming's default: ``*_total`` (a counter's running total) →
    ``counter_delta``; ``*_interval_*`` (a quantity per interval) → ``sum``; anything else →
    ``time_weighted_mean``. Such entries are flagged ``uncatalogued``.
    """
    try:
        p = catalogue_parameter(pid)
    except KeyError:
        p = None
    rule = settings.aggregation.get(pid)
    if rule is None:
        if p is not None:
            rule = p.aggregation.value
        elif pid.endswith("_total") and companion(pid) is not None:
            rule = "counter_delta"  # the agent's running total of a counter ({id}_total)
        elif "_interval_" in pid and companion(pid) is not None:
            rule = "sum"  # the agent's per-interval quantities (dc_energy_interval_mwh)
        else:
            rule = "time_weighted_mean"
    return rule, p is not None


@dataclass(frozen=True, slots=True)
class BatchMeta:
    """What the evidence needs of one batch."""

    site: str
    agent: str
    seq: int
    prev: str | None
    hash: str
    readings: int
    events: int
    created: int | None = None  # the payload's ``created`` (ms), for key validity checks


@dataclass(slots=True)
class SeriesAcc:
    """One parameter's month: first value per interval, extra values, counts, coverage.

    The arrays hold intervals ``base ≤ k < base + len(n)``: the whole month (``base`` 0) once
    accumulation is done, or only the touched part while accumulating and in a *packed*
    partial (a worker's chunk spans days, not the month). Dict keys are month intervals.
    """

    val: array[float]  # 'd', NaN = no value yet
    n: array[int]  # 'l', readings used per interval
    cov: array[int]  # 'l', coverage in per-mille samples
    extras: dict[int, list[float]] = field(default_factory=dict)
    bad: dict[int, int] = field(default_factory=dict)
    uncertain: dict[int, int] = field(default_factory=dict)
    clock: set[int] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=dict)
    outside: int = 0
    lo: int = -1  # touched interval range, -1 = none (set when accumulation ends)
    hi: int = -1
    counter: list[tuple[int, float]] | None = None  # (ts, raw) of a cumulative counter
    #: signals only: earliest and latest used reading in the month as (ts, value); ties on
    #: ts keep the smaller / larger value, so any split of the batches merges the same
    first: tuple[int, float] | None = None
    last: tuple[int, float] | None = None
    signal: bool = False
    base: int = 0  # month interval of index 0 of the arrays

    @classmethod
    def new(cls, n_intervals: int, is_counter: bool, signal: bool = False) -> SeriesAcc:
        return cls(
            array("d", [NAN]) * n_intervals,
            array("l", [0]) * n_intervals,
            array("l", [0]) * n_intervals,
            counter=[] if is_counter else None,
            signal=signal,
        )


@dataclass(slots=True)
class Partial:
    """The accumulation of some batches; partials of disjoint batch sets merge exactly."""

    n_intervals: int
    series: dict[str, SeriesAcc] = field(default_factory=dict)
    batches: list[BatchMeta] = field(default_factory=list)
    anode_effects: list[dict[str, Any]] = field(default_factory=list)
    replacements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    clock_events: list[dict[str, Any]] = field(default_factory=list)
    unsynced_batches: list[tuple[str, int]] = field(default_factory=list)
    #: lab / manual / invoice readings of the month (``protocols.record.submissions``):
    #: ``{"agent", "seq", "created", "index", "reading"}``
    submissions: list[dict[str, Any]] = field(default_factory=list)
    #: digests of the documents the evidence holds (set by the builder and the verifier
    #: from what they have; None: not checked)
    documents_present: frozenset[str] | None = None


def _batch_error(meta: str, msg: str) -> RecordError:
    return RecordError(f"batch {meta}: {msg}", reason="batch")


#: Intervals a series' arrays grow by at least (a chunk of batches covers days, a month is
#: 44,640 one-minute intervals: growing by need instead of allocating the month per chunk).
GROW_INTERVALS = 2048


def _grow(acc: SeriesAcc, k: int, nk: int) -> None:
    """Widen ``acc``'s arrays so they cover month interval ``k`` (0 ≤ k < nk)."""
    size = len(acc.n)
    if size == 0:
        lo, hi = max(0, k - 64), min(nk, k + GROW_INTERVALS)
    else:
        lo, hi = acc.base, acc.base + size
        step = max(size, GROW_INTERVALS)
        if k < lo:
            lo = max(0, min(k, lo - step))
        else:
            hi = min(nk, max(k + 1, hi + step))
    _place(acc, lo, hi)


def _place(acc: SeriesAcc, lo: int, hi: int) -> None:
    """Re-allocate ``acc``'s arrays to cover intervals ``lo ≤ k < hi``, keeping the values."""
    val = array("d", [NAN]) * (hi - lo)
    n = array("l", [0]) * (hi - lo)
    cov = array("l", [0]) * (hi - lo)
    size = len(acc.n)
    if size:
        a = max(acc.base, lo)
        b = min(acc.base + size, hi)
        if a < b:
            val[a - lo : b - lo] = acc.val[a - acc.base : b - acc.base]
            n[a - lo : b - lo] = acc.n[a - acc.base : b - acc.base]
            cov[a - lo : b - lo] = acc.cov[a - acc.base : b - acc.base]
    acc.val, acc.n, acc.cov, acc.base = val, n, cov, lo


def accumulate(
    settings: RecordSettings,
    payloads: Iterable[bytes],
    *,
    packed: bool = False,
    loads: Callable[[bytes], Any] = load_payload,
    columns: bool = True,
) -> Partial:
    """Accumulate payload bytes (already signature-checked) into a :class:`Partial`.

    With ``packed`` each series' arrays cover only its touched intervals (``base`` set): the
    form a worker sends back; :func:`merge_partials` takes either form. ``loads`` parses a
    payload (raising ``ValueError``); ``mrv-verify`` passes the wire contract's strict parser.
    ``columns=False`` sends every reading through the reading loop: the plain reference the
    column-at-a-time path is tested against (same partial, same record).
    """
    w = settings.window
    start, end = w.start_ms, w.end_ms
    iv = settings.interval_ms
    nk = settings.n_intervals
    off = start + 1 if settings.interval_stamp == "end" else start
    max_off = settings.clock_max_offset_ms
    site = settings.site
    part = Partial(nk)
    series = part.series
    # per id: the arrays, the series, signal?, and the offset / size that map a timestamp
    # straight to an array index: (ts - loff) // iv == month interval - base
    fast: dict[
        str,
        tuple[
            array[float],
            array[int],
            array[int],
            list[tuple[int, float]] | None,
            SeriesAcc,
            bool,
            int,
            int,
        ],
    ] = {}
    fast_get = fast.get

    def columns_in(
        pid: Any, ts: Any, vals: list[Any], quals: list[Any], counts: Any, exps: Any, unsynced: bool
    ) -> bool:
        """Accumulate one parameter's readings a column at a time, if they are the common
        case: the same numbers as the reading loop gives them. False (nothing changed):
        the loop must take them one by one."""
        n_r = len(vals)
        if n_r > _MAX_COLUMN:
            return False
        f = fast_get(pid)
        if f is None:
            if type(pid) is not str:
                return False
            sig = not is_key(settings, pid)
            is_counter = not sig and rule_for(settings, pid)[0] == "counter_delta"
            acc = series[pid] = SeriesAcc.new(0, is_counter, sig)
            f = fast[pid] = (acc.val, acc.n, acc.cov, acc.counter, acc, sig, off, 0)
        val, n, cov, ctr, acc, sig, loff, size = f
        if sig or quals.count("good") != n_r or not _FINITE_TYPES.issuperset(map(type, vals)):
            return False
        t0 = ts[0]
        if n_r > 1:
            if type(ts) is range:
                if ts.step != iv:
                    return False
            elif not _INT.issuperset(map(type, ts)) or ts != list(range(t0, t0 + n_r * iv, iv)):
                return False
        elif type(t0) is not int:
            return False
        try:
            if not all(map(math.isfinite, vals)):
                return False
            if (
                counts is None
                or counts.count(None) == n_r
                or (_INT.issuperset(map(type, counts)) and counts == exps)
            ):  # no counts, or every interval aggregate complete: one sample each
                c1000: Any = _ONE_SAMPLE[:n_r]
            else:
                if exps is None:
                    exps = repeat(None, n_r)
                c1000 = array(
                    "l",
                    [
                        1000 if c is None or not e or c >= e else c * 1000 // e
                        for c, e in zip(counts, exps, strict=False)
                    ],
                )
            new_vals = array("d", vals)
        except (TypeError, OverflowError, ValueError):
            return False
        i = (t0 - loff) // iv
        k = i + acc.base
        if k < 0 or k + n_r > nk:
            return False
        if i < 0 or i + n_r > size:
            _grow(acc, k, nk)
            if k + n_r > acc.base + len(acc.n):
                _grow(acc, k + n_r - 1, nk)
            loff = off + acc.base * iv
            val, n, cov, size = acc.val, acc.n, acc.cov, len(acc.n)
            fast[pid] = (val, n, cov, ctr, acc, sig, loff, size)
            i = k - acc.base
        if val[i : i + n_r].tobytes() != _NAN_BYTES[: 8 * n_r]:
            return False  # an interval already has a value: the loop keeps the extras
        if ctr is not None:
            ctr.extend(zip(ts, vals, strict=True))
        val[i : i + n_r] = new_vals
        n[i : i + n_r] = _ONE_SAMPLE_N[:n_r]
        cov[i : i + n_r] = c1000
        if unsynced:
            acc.clock.update(range(k, k + n_r))
        return True

    for payload in payloads:
        try:
            p = loads(payload)
            agent, seq, prev = p["agent"], p["seq"], p["prev"]
            events = p.get("events") or []
            clock = p.get("clock") or {}
        except (ValueError, KeyError, TypeError) as exc:
            raise _batch_error("?", f"payload is not a batch: {exc}") from None
        where = f"{p.get('site')}/{agent} seq {seq}"
        if p.get("v") not in (1, 2) or type(p.get("v")) is not int:
            raise _batch_error(where, f"payload version {p.get('v')!r} is not 1 or 2")
        try:
            # v2 series come as validated columns; a v1 reading becomes the tuple of a
            # series reading (id, ts, value, quality, reason, count, expected) below
            v2_series: list[SeriesColumns] = series_columns(p) if p.get("v") == 2 else []
            readings = p["readings"] if "readings" in p or p.get("v") == 1 else []
            if type(readings) is not list:
                raise TypeError("readings is not an array")
        except (PayloadInvalid, KeyError, TypeError) as exc:
            raise _batch_error(where, f"readings unreadable: {exc}") from None
        n_series = sum(len(c.value) for c in v2_series)
        if p.get("site") != site:
            raise _batch_error(where, f"belongs to site {p.get('site')!r}, not {site!r}")
        part.batches.append(
            BatchMeta(
                site,
                agent,
                seq,
                prev,
                hashlib.sha256(payload).hexdigest(),
                n_series + len(readings),
                len(events),
                created if isinstance(created := p.get("created"), int) else None,
            )
        )
        off_ms = clock.get("offset_ms")
        jumps = clock.get("jumps")
        unsynced = (
            clock.get("synced") is False
            or (isinstance(off_ms, int | float) and abs(off_ms) > max_off)
            or (isinstance(jumps, int) and not isinstance(jumps, bool) and jumps > 0)
        )
        if unsynced:
            part.unsynced_batches.append((agent, seq))
        # The common series (all good, finite, one reading per interval in a run of
        # intervals nobody filled yet) go in a column at a time; every other reading
        # goes through the loop below, one by one, as before.
        rows: list[Any] = []
        for c in v2_series:
            if not columns or not columns_in(
                c.id, c.ts, c.value, c.quality, c.count, c.expected, unsynced
            ):
                rows.extend(c.readings())
        plain = _plain_columns(readings) if readings and columns else None
        if plain is not None:
            period = plain[0]
            cols = plain[1:]
            n_read = len(readings)
            for j in range(period):
                cut = slice(j, n_read, period)
                ids, tss, vals, quals, reasons, counts, exps = (col[cut] for col in cols)
                if not columns_in(ids[0], tss, vals, quals, counts, exps, unsynced):
                    rows.extend(zip(ids, tss, vals, quals, reasons, counts, exps, strict=True))
            readings = []
        try:
            for idx, r in enumerate(readings):  # ``index``: position in payload "readings"
                if "evidence" in r:  # a submission (lab, manual, invoice), not a meter
                    per = r.get("period")
                    ts = r["ts"]
                    if per == settings.month or (per is None and start <= ts < end):
                        part.submissions.append(
                            {
                                "agent": agent,
                                "seq": seq,
                                "created": p.get("created"),
                                "index": idx,
                                "reading": r,
                            }
                        )
                    continue
                rows.append(
                    (
                        r["id"],
                        r["ts"],
                        r["value"],
                        r["quality"],
                        r.get("reason"),
                        r.get("count"),
                        r.get("expected"),
                    )
                )
            for r in rows:
                pid = r[0]
                f = fast_get(pid)
                if f is None:
                    sig = not is_key(settings, pid)
                    is_counter = not sig and rule_for(settings, pid)[0] == "counter_delta"
                    acc = series[pid] = SeriesAcc.new(0, is_counter, sig)
                    f = fast[pid] = (acc.val, acc.n, acc.cov, acc.counter, acc, sig, off, 0)
                val, n, cov, ctr, acc, sig, loff, size = f
                v = r[2]
                q = r[3]
                ts = r[1]
                i = (ts - loff) // iv  # index into the arrays
                if v is None or q == "bad" or v - v != 0:  # v - v: NaN/inf test
                    k = i + acc.base
                    if 0 <= k < nk:
                        acc.bad[k] = acc.bad.get(k, 0) + 1
                        reason = r[4] or "no value"
                        acc.reasons[reason] = acc.reasons.get(reason, 0) + 1
                    else:
                        acc.outside += 1
                    continue
                if ctr is not None:
                    ctr.append((ts, v))
                if i < 0 or i >= size:
                    k = i + acc.base
                    if k < 0 or k >= nk:
                        acc.outside += 1
                        continue
                    _grow(acc, k, nk)
                    loff = off + acc.base * iv
                    val, n, cov, size = acc.val, acc.n, acc.cov, len(acc.n)
                    fast[pid] = (val, n, cov, ctr, acc, sig, loff, size)
                    i = k - acc.base
                if q != "good":
                    k = i + acc.base
                    acc.uncertain[k] = acc.uncertain.get(k, 0) + 1
                if sig:
                    _extremes(acc, ts, float(v))
                c = r[5]
                if c is None:
                    c1000 = 1000
                else:
                    e = r[6]
                    c1000 = 1000 if not e or c >= e else c * 1000 // e
                x = val[i]
                if x != x:
                    val[i] = v
                else:
                    k = i + acc.base
                    ex = acc.extras.get(k)
                    if ex is None:
                        acc.extras[k] = [float(v)]
                    else:
                        ex.append(float(v))
                n[i] += 1
                cov[i] += c1000
                if unsynced:
                    acc.clock.add(i + acc.base)
        except (KeyError, TypeError) as exc:
            raise _batch_error(where, f"reading without a valid {exc}") from None
        for e in events:
            t = e.get("type") if isinstance(e, dict) else None
            if t == "anode_effect":
                a, b = e.get("start"), e.get("end")
                if isinstance(a, int) and isinstance(b, int) and a < end and b > start:
                    part.anode_effects.append({**e, "agent": agent, "seq": seq})
            elif t == "meter_replacement":
                part.replacements.setdefault(str(e.get("param")), []).append(
                    {**e, "agent": agent, "seq": seq}
                )
            elif t in CLOCK_EVENTS:
                part.clock_events.append({**e, "agent": agent, "seq": seq})
    for acc in series.values():
        lo, hi = touched_range(acc.n)
        acc.lo, acc.hi = (-1, -1) if lo < 0 else (lo + acc.base, hi + acc.base)
        if not packed:
            _place(acc, 0, nk)
        elif lo < 0:
            _place(acc, 0, 0)
        else:
            _place(acc, acc.lo, acc.hi + 1)
    return part


_FINITE_TYPES = frozenset({float, int})
_INT = frozenset({int})
#: Readings a column may carry at once (longer ones go through the reading loop).
_MAX_COLUMN = 1 << 16
_NAN_BYTES = (array("d", [NAN]) * _MAX_COLUMN).tobytes()
_ONE_SAMPLE = array("l", [1000]) * _MAX_COLUMN
_ONE_SAMPLE_N = array("l", [1]) * _MAX_COLUMN
_REQUIRED = ("ts", "value", "quality")  # and "id", read first
_OPTIONAL = ("reason", "count", "expected")


def _plain_columns(readings: list[Any]) -> tuple[Any, ...] | None:
    """v1 meter readings as columns ``(period, ids, ts, values, qualities, reasons, counts,
    expected)`` when they come as an agent's polls do: the same ids in the same order, poll
    after poll (so parameter ``j``'s readings are ``column[j::period]``); None for anything
    else (a submission, a missing member, another layout), which the reading loop takes."""
    n = len(readings)
    if not {dict}.issuperset(map(type, readings)) or any(
        map(contains, readings, repeat("evidence"))
    ):
        return None
    try:
        ids = list(map(itemgetter("id"), readings))
        first = ids[0]
        try:
            period = ids.index(first, 1)
        except ValueError:
            period = n
        head = ids[:period]
        if n % period or len(set(head)) != period or ids != head * (n // period):
            return None
        ts, values, quality = (list(map(itemgetter(k), readings)) for k in _REQUIRED)
    except (KeyError, TypeError):
        return None
    if period > _MAX_COLUMN or n // period > _MAX_COLUMN:
        return None
    optional = [list(map(dict.get, readings, repeat(k))) for k in _OPTIONAL]
    return (period, ids, ts, values, quality, *optional)


def _extremes(acc: SeriesAcc, ts: int, v: float) -> None:
    """Keep a signal's first and last reading (order independent)."""
    a = acc.first
    if a is None or ts < a[0] or (ts == a[0] and v < a[1]):
        acc.first = (ts, v)
    b = acc.last
    if b is None or ts > b[0] or (ts == b[0] and v > b[1]):
        acc.last = (ts, v)


def touched_range(n: array[int]) -> tuple[int, int]:
    """First and last interval with a reading, or (-1, -1); a C-speed scan of the counts."""
    b = n.tobytes()
    size = n.itemsize
    head = len(b) - len(b.lstrip(b"\0"))
    if head == len(b):
        return -1, -1
    tail = len(b) - len(b.rstrip(b"\0"))
    return head // size, (len(b) - tail - 1) // size


def _full(acc: SeriesAcc, nk: int) -> SeriesAcc:
    """``acc`` with arrays over the whole month (``base`` 0)."""
    if acc.base != 0 or len(acc.n) != nk:
        _place(acc, 0, nk)
    return acc


def _merge_series(a: SeriesAcc, b: SeriesAcc) -> None:
    """Add ``b`` (whole-month or packed arrays) into ``a`` (whole month): element-wise where
    both touched, slice copies elsewhere."""
    bb = b.base
    if b.lo < 0:
        pass
    elif a.lo < 0 or b.hi < a.lo or b.lo > a.hi:
        a.val[b.lo : b.hi + 1] = b.val[b.lo - bb : b.hi + 1 - bb]
        a.n[b.lo : b.hi + 1] = b.n[b.lo - bb : b.hi + 1 - bb]
        a.cov[b.lo : b.hi + 1] = b.cov[b.lo - bb : b.hi + 1 - bb]
    else:
        lo, hi = max(a.lo, b.lo), min(a.hi, b.hi)
        if b.lo < lo:
            a.val[b.lo : lo] = b.val[b.lo - bb : lo - bb]
            a.n[b.lo : lo] = b.n[b.lo - bb : lo - bb]
            a.cov[b.lo : lo] = b.cov[b.lo - bb : lo - bb]
        if b.hi > hi:
            a.val[hi + 1 : b.hi + 1] = b.val[hi + 1 - bb : b.hi + 1 - bb]
            a.n[hi + 1 : b.hi + 1] = b.n[hi + 1 - bb : b.hi + 1 - bb]
            a.cov[hi + 1 : b.hi + 1] = b.cov[hi + 1 - bb : b.hi + 1 - bb]
        for k in range(lo, hi + 1):
            y = b.val[k - bb]
            if y != y:
                continue
            x = a.val[k]
            if x != x:
                a.val[k] = y
            else:
                a.extras.setdefault(k, []).append(y)
            a.n[k] += b.n[k - bb]
            a.cov[k] += b.cov[k - bb]
    for k, ex in b.extras.items():
        a.extras.setdefault(k, []).extend(ex)
    counts: tuple[tuple[dict[Any, int], dict[Any, int]], ...] = (
        (b.bad, a.bad),
        (b.uncertain, a.uncertain),
        (b.reasons, a.reasons),
    )
    for src, dst in counts:
        for key, cnt in src.items():
            dst[key] = dst.get(key, 0) + cnt
    a.clock |= b.clock
    a.outside += b.outside
    for end in (b.first, b.last):
        if end is not None:
            _extremes(a, *end)
    if b.lo >= 0:
        a.lo = b.lo if a.lo < 0 else min(a.lo, b.lo)
        a.hi = max(a.hi, b.hi)
    if b.counter:
        if a.counter is None:
            a.counter = []
        a.counter.extend(b.counter)


def merge_partials(parts: Iterable[Partial]) -> Partial:
    """Merge partials of disjoint batch sets (any order gives the same record); the result
    has whole-month arrays whatever form the parts had."""
    it = iter(parts)
    try:
        out = next(it)
    except StopIteration:
        raise RecordError("no partials to merge") from None
    nk = out.n_intervals
    for s in out.series.values():
        _full(s, nk)
    for p in it:
        if p.n_intervals != nk:
            raise RecordError("partials of different months cannot be merged")
        for pid, s in p.series.items():
            mine = out.series.get(pid)
            if mine is None:
                out.series[pid] = _full(s, nk)
            else:
                _merge_series(mine, s)
        out.batches.extend(p.batches)
        out.anode_effects.extend(p.anode_effects)
        out.submissions.extend(p.submissions)
        for pid, reps in p.replacements.items():
            out.replacements.setdefault(pid, []).extend(reps)
        out.clock_events.extend(p.clock_events)
        out.unsynced_batches.extend(p.unsynced_batches)
    return out
