"""The compact batch payload (``"v": 2``): readings grouped per parameter, and back.

A v1 payload spells every reading out (``{"id":…,"ts":…,"value":…,"quality":"good"}``, a
FLOAT32 printed with a double's 17 digits): ≈ 80 bytes a reading. A v2 payload carries the
same readings as one *series* per parameter (see ``protocols/README.md`` "Batch payload
v2")::

    {"id": "cell_001_v", "t": 1793379600000, "step": 1000, "f32": 1,
     "v": [4.1234, 4.1236, null], "q": [[2, "bad", "timeout"]],
     "count": [...], "expected": [...], "min": [...], "max": [...]}

* ``t`` the first timestamp; then ``step`` (equal spacing) or ``dt`` (``n - 1`` deltas);
* ``v`` the values; ``f32`` names the columns (``["v", "min", "max"]``, or ``1`` for
  ``v`` alone) whose every number is a float32, printed in the shortest form that
  round-trips through float32 and read back through float32 — exactly the double the agent
  held, since a column is named only when every number in it is a float32;
* ``q`` only the readings that are not good: ``[index, quality, reason]``;
* aggregate members as parallel arrays (``null`` where a reading has none).

Parameters that share timestamps and aggregate members, every reading good, travel as one
*table* instead (``{"ids": [...], "t": …, "step": …, "v": [k × n values, id after id],
"count": 6, …}``): the ids once, the timestamps once, a count equal everywhere once; a
reader expands it into one series per id (``_table_columns``).

Readings that do not fit a series (an evidence-carrying lab reading, an id JSON must
escape, …) travel as v1 readings in ``readings``; a parameter is never split between the
two, so per parameter the order of readings is the agent's. :func:`batch_readings` expands
either version to the v1 reading dicts, which every reader (collector, record,
``mrv-verify``, the mirror) then treats alike: v2 changes the bytes, never the evidence.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Iterator, Sequence
from itertools import accumulate, permutations, repeat
from operator import eq, sub
from struct import Struct
from typing import Any, NamedTuple, overload

from protocols.errors import FieldOutOfRange, PayloadInvalid, WrongType

__all__ = [
    "AGGREGATES",
    "MAX_EPOCH_MS",
    "PARAM_ID_PATTERN",
    "BatchReadings",
    "SeriesColumns",
    "SeriesReading",
    "batch_readings",
    "encode_series",
    "f32_repr",
    "series_columns",
    "series_readings",
]

#: A parameter id (the payload models use the same pattern).
PARAM_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
#: Latest timestamp accepted: the year 3000 (the payload models' ``EpochMs``).
MAX_EPOCH_MS = 32503680000000
#: Largest sample count: 2^53 - 1 (``strict_json.MAX_SAFE_INT``, the models' ``Count``).
_MAX_COUNT = 2**53 - 1
_PARAM_ID = re.compile(PARAM_ID_PATTERN)
_NUMBER_TYPES = frozenset({int, float, type(None)})
_COUNT_TYPES = frozenset({int, type(None)})
_QUALITIES = ("uncertain", "bad")
_F32_COLUMNS = ("v", "min", "max")


class SeriesReading(NamedTuple):
    """One reading of a validated v2 series: the attributes of ``payload.Reading`` the
    readers use, as a tuple (no model object per reading on the ingest path)."""

    id: str
    ts: int
    value: float | None
    quality: str
    reason: str | None = None
    count: int | None = None  # type: ignore[assignment]  # shadows tuple.count, as in Reading
    expected: int | None = None
    min: float | None = None
    max: float | None = None
    origin: str | None = None
    unit: str | None = None
    period: str | None = None
    evidence: Any = None


class SeriesColumns(NamedTuple):
    """Validated readings as columns, ``n`` entries each (no object per reading): one v2
    series (``id`` a string), or plain v1 readings in payload order (``id`` a column)."""

    id: str | list[str]
    ts: Sequence[int]  # a range when the series has a step
    value: list[float | None]
    quality: list[str]
    reason: list[str | None]
    count: list[int | None]  # type: ignore[assignment]  # shadows tuple.count
    expected: list[int | None]
    min: list[float | None]
    max: list[float | None]
    earliest: int  # the least timestamp
    latest: int  # the greatest

    def readings(self) -> list[SeriesReading]:
        """The series' readings one by one."""
        ids = repeat(self.id, len(self.value)) if type(self.id) is str else self.id
        return list(map(SeriesReading, ids, *self[1:9]))


#: The aggregate members a v2 series carries as parallel arrays, in this order.
AGGREGATES = ("count", "expected", "min", "max")
_SERIES_KEYS = frozenset({"id", "t", "step", "dt", "f32", "v", "q", *AGGREGATES})
_AGGREGATE_SET = frozenset(AGGREGATES)
_F32 = Struct("<f")
_F32_MIN_NORMAL = 2.0**-126
_FORMATS = ("%.6g", "%.7g", "%.8g")
_SUBNORMAL_FORMATS = tuple(f"%.{p}g" for p in range(1, 9))
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

# A reading tuple as the agent builds it: (id, ts, value, quality, reason, extra).
ReadingTuple = tuple[str, int, Any, str, "str | None", "dict[str, Any] | None"]


def _is_f32(x: float) -> bool:
    try:
        return float(_F32.unpack(_F32.pack(x))[0]) == x and x - x == 0.0
    except OverflowError:
        return False


def f32_repr(x: float) -> str:
    """The shortest decimal that reads back through float32 as ``x`` (a float32 value).

    Six significant digits always identify a float32 if any shorter form does (float32
    carries ≥ 6 decimal digits; a subnormal fewer, so from 1), so trying 6, 7, 8 then 9
    digits yields the shortest, and among those the nearest (it is ``x`` rounded)."""
    if x == 0.0:
        return repr(x)  # "0.0" / "-0.0": the sign survives
    pack, unpack = _F32.pack, _F32.unpack
    # a subnormal float32 carries fewer digits: try from one
    for fmt in _FORMATS if abs(x) >= _F32_MIN_NORMAL else _SUBNORMAL_FORMATS:
        s = fmt % x
        if unpack(pack(float(s)))[0] == x:
            return s
    return f"{x:.9g}"


#: Parameter ids JSON writes as themselves (every valid id), remembered: the same ids come
#: in every batch. Bounded, so a stream of odd ids cannot grow it without limit.
_PLAIN_IDS: dict[str, bool] = {}
_PLAIN_IDS_MAX = 100_000


def _plain_id(rid: str) -> bool:
    ok = _PLAIN_IDS.get(rid)
    if ok is None:
        ok = type(rid) is str and _encode(rid) == f'"{rid}"'
        if len(_PLAIN_IDS) < _PLAIN_IDS_MAX:
            _PLAIN_IDS[rid] = ok
    return ok


def _plain_fast(r: ReadingTuple) -> bool:
    """The common reading: good, no reason, no aggregates, a float or int value."""
    v = r[2]
    return (
        r[4] is None
        and r[5] is None
        and r[3] == "good"
        and ((type(v) is float and v - v == 0.0) or type(v) is int)
    )


def _fits(r: ReadingTuple) -> bool:
    _, ts, value, quality, reason, extra = r
    tv = type(value)
    if not (value is None or tv is int or (tv is float and value - value == 0.0)):
        return False
    if type(ts) is not int or (quality == "good") != (reason is None):
        return False
    if extra:
        for k, x in extra.items():
            if k not in AGGREGATES or not (x is None or type(x) in (int, float)):
                return False
            if type(x) is float and x - x != 0.0:
                return False
    return True


def encode_series(readings: Sequence[ReadingTuple]) -> tuple[bytes, list[ReadingTuple]]:
    """The ``series`` array body (without brackets) of ``readings``, and the readings that
    go into the payload's v1 ``readings`` instead (every reading of a parameter that has
    one that does not fit a series).

    Parameters whose readings are all good, at the same timestamps and with the same
    aggregate members, go into one table (ids once, one ``t``); any other into a series."""
    groups: dict[str, list[ReadingTuple]] = {}
    get = groups.get
    for r in readings:
        g = get(r[0])
        if g is None:
            groups[r[0]] = [r]
        else:
            g.append(r)
    out: list[str] = []
    rest: list[ReadingTuple] = []
    tables: dict[tuple[Any, ...], list[tuple[str, list[ReadingTuple]]]] = {}
    for rid, rs in groups.items():
        if not _plain_id(rid):
            rest.extend(rs)
            continue
        shape = _table_shape(rs)
        if shape is not None:
            tables.setdefault(shape, []).append((rid, rs))
        elif all(_plain_fast(r) or _fits(r) for r in rs):
            out.append(_series(rid, rs))
        else:
            rest.extend(rs)
    for (ts, members), params in tables.items():
        if len(params) == 1:  # a table of one parameter is a series
            ((rid, rs),) = params
            out.append(_plain_series(rid, rs) or _series(rid, rs))
        else:
            out.append(_table(ts, members, params))
    return ",".join(out).encode("utf-8"), rest


_NUMBER = frozenset({float, int})
_FLOAT = frozenset({float})
_INT = frozenset({int})


def _table_shape(rs: list[ReadingTuple]) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    """(timestamps, aggregate members) of a parameter that can go into a table: every
    reading good, without reason, with finite numbers, each aggregate member present in
    every reading or in none; None for any other (a series or v1 readings take it)."""
    n = len(rs)
    if n == 1 and rs[0][5] is None:  # one plain reading (a poll's): the common case, quickly
        _, t, v, q, reason, _ = rs[0]
        tv = type(v)
        if (
            q == "good"
            and reason is None
            and type(t) is int
            and (tv is int or (tv is float and v - v == 0.0))
        ):
            return (t,), ()
        return None
    _, ts, vs, qs, reasons, extras = zip(*rs, strict=True)
    if qs.count("good") != n or reasons.count(None) != n:
        return None
    if not _finite(vs) or not _INT.issuperset(map(type, ts)):
        return None
    e0 = extras[0]
    if e0 is None:
        return (ts, ()) if extras.count(None) == n else None
    members = tuple(e0)
    if not set(members) <= _AGGREGATE_SET or any(e is None or tuple(e) != members for e in extras):
        return None
    for k in members:
        col = [e[k] for e in extras]
        if not (_INT.issuperset(map(type, col)) if k in _COUNTS else _finite(col)):
            return None
    return ts, tuple(k for k in AGGREGATES if k in members)


def _finite(col: Sequence[Any]) -> bool:
    """Every entry an int or a finite float: their sum is finite (one pass in C; a sum
    beyond a float says no too, and the slower path decides)."""
    if not _NUMBER.issuperset(map(type, col)):
        return False
    try:
        total = sum(col)
    except OverflowError:  # an int beyond a float among floats
        return False
    return bool(total - total == 0.0)


def _timestamps(ts: Sequence[int]) -> str:
    """``"t"`` and ``"step"``/``"dt"`` of a series' or table's timestamps."""
    n, t0 = len(ts), ts[0]
    head = f'"t":{t0}'
    if n > 1:
        d0 = ts[1] - t0
        if ts.count(t0) == n if d0 == 0 else tuple(ts) == tuple(range(t0, t0 + n * d0, d0)):
            head += f',"step":{d0}'
        else:
            head += f',"dt":[{",".join(map(str, map(sub, ts[1:], ts[:-1])))}]'
    return head


def _column_f32(col: list[Any]) -> bool:
    if not _FLOAT.issuperset(map(type, col)):
        return False
    try:
        return array("f", col).tolist() == col
    except OverflowError:
        return False


def _numbers_text(col: list[Any], f32: bool) -> str:
    return ",".join(_f32_strs(col) if f32 else map(repr, col))


def _table(
    ts: tuple[int, ...], members: tuple[str, ...], params: list[tuple[str, list[ReadingTuple]]]
) -> str:
    """One table: the parameters' ids once, their shared timestamps once, then each column
    parameter after parameter; a count member the same in every reading is one number."""
    values = [r[2] for _, rs in params for r in rs]
    cols = {"v": values}
    for k in members:
        cols[k] = [r[5][k] for _, rs in params for r in rs]  # type: ignore[index]
    f32 = [k for k in _F32_COLUMNS if k in cols and _column_f32(cols[k])]
    parts = [
        f'{{"ids":[{",".join(chr(34) + rid + chr(34) for rid, _ in params)}],',
        _timestamps(ts),
    ]
    if f32:
        parts.append(',"f32":1' if f32 == ["v"] else f',"f32":{_encode(f32)}')
    parts.append(f',"v":[{_numbers_text(values, "v" in f32)}]')
    for k in members:
        col = cols[k]
        if k in _COUNTS and type(col[0]) is int and col.count(col[0]) == len(col):
            parts.append(f',"{k}":{col[0]}')
        else:
            parts.append(f',"{k}":[{_numbers_text(col, k in f32)}]')
    parts.append("}")
    return "".join(parts)


def _plain_series(rid: str, rs: list[ReadingTuple]) -> str | None:
    """The series of a parameter whose readings are all good, without reason or
    aggregates, with finite numbers at integer timestamps (what a poll gives), built a
    column at a time; None for any other parameter (``_series`` then decides). The bytes
    are exactly ``_series``'s for the same readings."""
    n = len(rs)
    _, ts, vs, qs, reasons, extras = zip(*rs, strict=True)
    if qs.count("good") != n or reasons.count(None) != n or extras.count(None) != n:
        return None
    if not _finite(vs) or not _INT.issuperset(map(type, ts)):
        return None
    head = f'{{"id":"{rid}",{_timestamps(ts)}'
    values = list(vs)
    if _column_f32(values):
        return f'{head},"f32":1,"v":[{",".join(_f32_strs(values))}]}}'
    return f'{head},"v":[{",".join(map(repr, values))}]}}'


def _series(rid: str, rs: list[ReadingTuple]) -> str:
    t0 = rs[0][1]
    parts = [f'{{"id":"{rid}","t":{t0}']
    if len(rs) > 1:
        dts = [rs[i][1] - rs[i - 1][1] for i in range(1, len(rs))]
        d0 = dts[0]
        if all(d == d0 for d in dts):
            parts.append(f',"step":{d0}')
        else:
            parts.append(f',"dt":[{",".join(map(str, dts))}]')
    cols = {"v": [r[2] for r in rs]}
    if any(r[5] for r in rs):
        extras = [r[5] or {} for r in rs]
        for k in AGGREGATES:
            col = [e.get(k) for e in extras]
            if any(x is not None for x in col):
                cols[k] = col
    f32 = [k for k in _F32_COLUMNS if k in cols and _all_f32(cols[k])]
    if f32:
        parts.append(',"f32":1' if f32 == ["v"] else f',"f32":{_encode(f32)}')

    def column(k: str) -> str:
        if k in f32:
            return ",".join(_f32_strs(cols[k]))
        return ",".join("null" if x is None else repr(x) for x in cols[k])

    parts.append(f',"v":[{column("v")}]')
    q = [[i, r[3], r[4]] for i, r in enumerate(rs) if r[3] != "good"]
    if q:
        parts.append(',"q":' + _encode(q))
    for k in AGGREGATES:
        if k in cols:
            parts.append(f',"{k}":[{column(k)}]')
    parts.append("}")
    return "".join(parts)


def _all_f32(col: list[Any]) -> bool:
    """Every number a finite float32 held as a Python float (checked a column at a time)."""
    numbers = [x for x in col if x is not None]
    if not numbers or not {float}.issuperset(map(type, numbers)):
        return False
    try:
        return array("f", numbers).tolist() == numbers and all(map(math.isfinite, numbers))
    except OverflowError:
        return False


def _f32_strs(col: list[Any]) -> list[str]:
    """``f32_repr`` of each float32 of ``col`` (``null`` for None), a column at a time.

    Digits needed only grow from 6 to 9 (a decimal of k digits is one of k + 1 too), so
    each number is tried with 7, then 6 if that read back, else 8 (else 9): two tries
    where trying 6, 7, 8 in turn takes three for most measured values."""
    if not col:
        return []
    if None in col or min(map(abs, col)) < _F32_MIN_NORMAL:
        # zeros (signed) and subnormals one by one, the normal numbers as a column
        out = [
            "null" if x is None else "" if abs(x) >= _F32_MIN_NORMAL else f32_repr(x) for x in col
        ]
        todo = [i for i, s in enumerate(out) if not s]
        if todo:
            for i, st in zip(todo, _f32_strs([col[i] for i in todo]), strict=True):
                out[i] = st
        return out
    s7 = list(map("%.7g".__mod__, col))
    ok7 = list(map(eq, array("f", map(float, s7)).tolist(), col))
    if all(ok7):
        shorter = _tried(col, "%.6g")
        return [b or s for s, b in zip(s7, shorter, strict=True)]
    out = s7
    up = [i for i, ok in enumerate(ok7) if not ok]
    down = [i for i, ok in enumerate(ok7) if ok]
    for i, s in zip(down, _tried([col[i] for i in down], "%.6g"), strict=True):
        if s:
            out[i] = s
    for i, s in zip(up, _tried([col[i] for i in up], "%.8g"), strict=True):
        out[i] = s or f"{col[i]:.9g}"
    return out


def _tried(xs: list[float], fmt: str) -> list[str]:
    """``fmt % x`` for each float32 ``x`` where it reads back as ``x``, else ``""``."""
    strs = list(map(fmt.__mod__, xs))
    return [
        s if b == x else "" for s, b, x in zip(strs, array("f", map(float, strs)), xs, strict=True)
    ]


def _fail(where: str, msg: str, wrong_type: bool = False) -> PayloadInvalid:
    cls = WrongType if wrong_type else PayloadInvalid
    return cls(f"payload invalid at {where}: {msg}")


def _int(x: Any, where: str) -> int:
    if type(x) is not int:
        raise _fail(where, f"{x!r} is not an integer", True)
    return x


def _list(x: Any, where: str, n: int | None = None) -> list[Any]:
    if type(x) is not list:
        raise _fail(where, "is not an array", True)
    if n is not None and len(x) != n:
        raise _fail(where, f"has {len(x)} entries, the series has {n} values")
    return x


def _number(x: Any, where: str) -> None:
    if x is not None and type(x) not in (int, float):
        raise _fail(where, f"{x!r} is not a number or null", True)


def batch_readings(p: dict[str, Any]) -> list[Any]:
    """The v1 reading dicts of a parsed payload of either version (a v2 payload's series
    expanded, then its v1 ``readings``). Raises ``PayloadInvalid`` on a malformed series."""
    if p.get("v") != 2 or type(p.get("v")) is not int:
        readings: list[Any] = p["readings"]
        return readings
    out: list[Any] = []
    for r in series_readings(p):
        d: dict[str, Any] = {"id": r.id, "ts": r.ts, "value": r.value, "quality": r.quality}
        if r.reason is not None:
            d["reason"] = r.reason
        for k, x in zip(AGGREGATES, r[5:9], strict=True):
            if x is not None:
                d[k] = x
        out.append(d)
    out.extend(_list(p.get("readings", []), "readings"))
    return out


def _numbers(col: list[Any], where: str, member: str = "") -> list[Any]:
    """``col`` (at ``where`` + ``member``) checked to hold numbers or null, integers as floats
    (as the models' ``float`` fields give them)."""
    types = set(map(type, col))
    if not _NUMBER_TYPES.issuperset(types):
        for i, x in enumerate(col):
            _number(x, f"{where}{member}.{i}")
    if int in types:
        return [float(x) if type(x) is int else x for x in col]
    return col


def _f32_columns(s: dict[str, Any], where: str) -> frozenset[str]:
    """The columns ``f32`` names: a list drawn from ``v``, ``min``, ``max`` (``1``: ``v``)."""
    spec = s.get("f32")
    if spec is None:
        return frozenset()
    if spec == 1 and type(spec) is int:
        return frozenset({"v"})
    if (
        type(spec) is not list
        or not spec
        or not all(type(c) is str and c in _F32_COLUMNS for c in spec)
        or len(set(spec)) != len(spec)
    ):
        raise _fail(f"{where}.f32", 'is a list of distinct columns among "v", "min", "max"')
    return frozenset(spec)


def _as_f32(col: list[Any], where: str) -> list[Any]:
    """Each number rounded to float32 and widened again: the agent's float32, exactly."""
    gaps = None in col
    f = array("f", [0.0 if x is None else x for x in col] if gaps else col).tolist()
    if not all(map(math.isfinite, f)):
        raise _fail(where, "a value is beyond float32")
    if gaps:
        return [None if x is None else y for x, y in zip(col, f, strict=True)]
    return f


#: Every valid ``f32`` list, as a tuple, and the columns it names.
_F32_SPECS = {spec: frozenset(spec) for k in range(1, 4) for spec in permutations(_F32_COLUMNS, k)}
_COUNTS = ("count", "expected")


def _validated(s: Any, j: int) -> SeriesColumns:
    """Series ``j`` checked column by column under the rules of a v1 reading (id pattern,
    timestamp range, numbers, counts, qualities with reasons) and returned as columns.

    Where a fault is (``series.3.count``) is spelled out only once there is one."""
    where = f"series.{j}"
    if type(s) is not dict:
        raise _fail(where, "a series is not an object", True)
    if not _SERIES_KEYS.issuperset(s):
        extra = set(s) - _SERIES_KEYS
        raise _fail(where, f"unexpected members {', '.join(sorted(extra))}")
    if "id" not in s or "t" not in s or "v" not in s:
        raise _fail(where, "a series needs id, t and v")
    rid = s["id"]
    if type(rid) is not str:
        raise _fail(f"{where}.id", "is not a string", True)
    if not _PARAM_ID.fullmatch(rid):
        raise _fail(f"{where}.id", f"{rid[:64]!r} is not a parameter id ({PARAM_ID_PATTERN})")
    values = s["v"]
    if type(values) is not list:
        _list(values, f"{where}.v")
    n = len(values)
    if n == 0:
        raise _fail(f"{where}.v", "a series has at least one value")
    values = _numbers(values, where, ".v")
    t = s["t"]
    if type(t) is not int:
        _int(t, f"{where}.t")
    ts: Any
    if "step" in s:
        if "dt" in s:
            raise _fail(where, "a series has step or dt, not both")
        step = s["step"]
        if type(step) is not int:
            _int(step, f"{where}.step")
        ts = range(t, t + n * step, step) if step else [t] * n
        lo, hi = (t, t + (n - 1) * step) if step >= 0 else (t + (n - 1) * step, t)
    elif "dt" in s:
        dts = s["dt"]
        if type(dts) is not list or len(dts) != n - 1:
            _list(dts, f"{where}.dt", n - 1)
        if not {int}.issuperset(map(type, dts)):
            for i, d in enumerate(dts):
                _int(d, f"{where}.dt.{i}")
        ts = list(accumulate(dts, initial=t))
        lo, hi = min(ts), max(ts)
    elif n == 1:
        ts, lo, hi = (t,), t, t
    else:
        raise _fail(where, f"{n} values need step or dt")
    if lo < 0 or hi > MAX_EPOCH_MS:
        raise FieldOutOfRange(
            f"payload invalid at {where}.t: timestamps {lo}..{hi} leave 0..{MAX_EPOCH_MS}"
        )
    spec = s.get("f32")
    if spec is None:
        f32: frozenset[str] = frozenset()
    elif type(spec) is list and all(type(c) is str for c in spec) and tuple(spec) in _F32_SPECS:
        f32 = _F32_SPECS[tuple(spec)]
    else:
        f32 = _f32_columns(s, where)
    if "v" in f32:
        values = _as_f32(values, f"{where}.v")
    cols: list[Any] = []
    nones: list[Any] | None = None
    for k in AGGREGATES:
        col: Any = s.get(k)
        if col is None and k not in s:
            if nones is None:
                nones = [None] * n
            cols.append(nones)
            continue
        if type(col) is not list or len(col) != n:
            _list(col, f"{where}.{k}", n)
        if k in _COUNTS:
            if not _COUNT_TYPES.issuperset(map(type, col)):
                raise _fail(f"{where}.{k}", "holds integers or null", True)
            present = [x for x in col if x is not None] if None in col else col
            if present and (min(present) < 0 or max(present) > _MAX_COUNT):
                raise FieldOutOfRange(f"payload invalid at {where}.{k}: a count leaves 0..2^53-1")
        else:
            col = _numbers(col, where, f".{k}")
            if k in f32:
                col = _as_f32(col, f"{where}.{k}")
        cols.append(col)
    quality: list[str] = ["good"] * n
    reason: list[str | None] = nones if nones is not None else [None] * n
    if "q" in s:
        reason = [None] * n
        last = -1
        for j, e in enumerate(_list(s["q"], f"{where}.q")):
            at = f"{where}.q.{j}"
            if type(e) is not list or len(e) != 3:
                raise _fail(at, "is not [index, quality, reason]", True)
            i = _int(e[0], f"{at}.0")
            if not last < i < n:
                raise _fail(f"{at}.0", f"index {i} is not ascending within 0..{n - 1}")
            if e[1] not in _QUALITIES or type(e[1]) is not str:
                raise _fail(f"{at}.1", "only readings that are uncertain or bad are listed")
            r = e[2]
            if type(r) is not str or not r or len(r) > 500:
                raise _fail(f"{at}.2", "a reading that is not good needs a reason (≤ 500)")
            last = i
            quality[i], reason[i] = e[1], r
    count, expected, low, high = cols
    return SeriesColumns(rid, ts, values, quality, reason, count, expected, low, high, lo, hi)


_TABLE_KEYS = frozenset({"ids", "t", "step", "dt", "f32", "v", *AGGREGATES})


def _table_columns(s: dict[str, Any], j: int, *, fast: bool = True) -> list[SeriesColumns]:
    """Table ``j`` (a member of ``series`` with ``ids``) as the series of its parameters,
    each checked as a series is: parameter ``i`` has the values ``v[i*n:(i+1)*n]`` at the
    table's timestamps, and its slice of each aggregate (a count given as one integer is
    that count for every reading). ``fast`` checks the table a column at a time first
    (:func:`_table_fast`); ``fast=False`` is the id-by-id path it must agree with."""
    where = f"series.{j}"
    if not _TABLE_KEYS.issuperset(s):
        extra = set(s) - _TABLE_KEYS
        raise _fail(where, f"unexpected members {', '.join(sorted(extra))}")
    ids = _list(s["ids"], f"{where}.ids")
    if not ids:
        raise _fail(f"{where}.ids", "a table has at least one parameter")
    if "t" not in s or "v" not in s:
        raise _fail(where, "a table needs ids, t and v")
    values = _list(s["v"], f"{where}.v")
    k = len(ids)
    n = len(values) // k
    if n == 0 or n * k != len(values):
        raise _fail(f"{where}.v", f"has {len(values)} values, not n for each of {k} ids")
    shared: dict[str, Any] = {m: s[m] for m in ("t", "step", "dt", "f32") if m in s}
    cols: dict[str, Any] = {}
    for m in AGGREGATES:
        if m in s:
            col = s[m]
            if m in _COUNTS and type(col) is int:
                col = [col] * (n * k)
            cols[m] = _list(col, f"{where}.{m}", n * k)
    if fast:
        checked = _table_fast(ids, values, n, shared, cols, j)
        if checked is not None:
            return checked
    out = []
    for i, rid in enumerate(ids):
        one: dict[str, Any] = {"id": rid, **shared, "v": values[i * n : (i + 1) * n]}
        for m, col in cols.items():
            one[m] = col[i * n : (i + 1) * n]
        out.append(_validated(one, j))
    return out


def _table_fast(
    ids: list[Any],
    values: list[Any],
    n: int,
    shared: dict[str, Any],
    cols: dict[str, list[Any]],
    j: int,
) -> list[SeriesColumns] | None:
    """The table's series when every check passes on whole columns: the first id through
    :func:`_validated` (it checks the shared ``t``/``step``/``dt``/``f32``), the other ids'
    names, then each column's k × n numbers once. A national-scale one-minute batch is one
    table of 100 ids × 1 reading, where 100 ``_validated`` calls cost ≈ 40 % of the
    collector's CPU per batch. ``None`` (any check refuses) sends the table id by id, which
    names the fault exactly as before."""
    if set(map(type, ids)) != {str} or not all(map(_PARAM_ID.fullmatch, ids)):
        return None
    try:
        first = _validated(
            {"id": ids[0], **shared, "v": values[:n], **{m: c[:n] for m, c in cols.items()}}, j
        )
    except PayloadInvalid:
        return None
    k = len(ids)
    if k == 1:
        return [first]
    spec = shared.get("f32")
    f32 = frozenset() if spec is None else frozenset({"v"}) if spec == 1 else frozenset(spec)
    whole: dict[str, list[Any]] = {}
    try:
        for m, col in (("v", values), *cols.items()):
            types = set(map(type, col))
            if m in _COUNTS:
                if not _COUNT_TYPES.issuperset(types):
                    return None
                present = [x for x in col if x is not None] if type(None) in types else col
                if present and (min(present) < 0 or max(present) > _MAX_COUNT):
                    return None
            else:
                if not _NUMBER_TYPES.issuperset(types):
                    return None
                if int in types:
                    col = [float(x) if type(x) is int else x for x in col]
                if m in f32:
                    col = _as_f32(col, "")
            whole[m] = col
    except PayloadInvalid:
        return None
    ts, lo, hi = first.ts, first.earliest, first.latest
    starts = range(n, n * k, n)  # ids 1..k-1; slices built by comprehensions, not per id

    def slices(col: list[Any]) -> list[list[Any]]:
        return [[x] for x in col[1:]] if n == 1 else [col[a : a + n] for a in starts]

    nones = [[None] * n for _ in starts]  # an id's absent aggregates and reasons, as before
    aggs = [slices(whole[m]) if m in whole else nones for m in AGGREGATES]
    reasons = nones if len(whole) < 1 + len(AGGREGATES) else [[None] * n for _ in starts]
    tss: Any = [list(ts) for _ in starts] if type(ts) is list else repeat(ts)
    goods = [["good"] * n for _ in starts]
    rest = map(SeriesColumns, ids[1:], tss, slices(whole["v"]), goods, reasons, *aggs,
               repeat(lo), repeat(hi))  # fmt: skip
    return [first, *rest]


def series_columns(p: dict[str, Any]) -> list[SeriesColumns]:
    """The series of a v2 payload, validated, as columns (raises ``PayloadInvalid`` or a
    subclass naming the member, e.g. ``series.3.count``); a table gives one per id."""
    out: list[SeriesColumns] = []
    for j, s in enumerate(_list(p.get("series", []), "series")):
        if type(s) is dict and "ids" in s:
            out.extend(_table_columns(s, j))
        else:
            out.append(_validated(s, j))
    return out


def series_readings(p: dict[str, Any]) -> list[SeriesReading]:
    """The readings of a v2 payload's ``series``, validated (raises ``PayloadInvalid`` or a
    subclass naming the member, e.g. ``series.3.count``)."""
    out: list[SeriesReading] = []
    for c in series_columns(p):
        out.extend(c.readings())
    return out


class BatchReadings(Sequence[Any]):
    """A batch's readings, read as one sequence: its v2 series (kept as columns until a
    reader asks for readings one by one) and then its v1 readings (``rest``).

    The collector's store builds its rows from ``series`` directly, a column at a time;
    every other reader sees ``SeriesReading`` tuples and the v1 reading models, as before."""

    __slots__ = ("_all", "_len", "rest", "series")

    def __init__(self, series: list[SeriesColumns], rest: list[Any]) -> None:
        self.series = series
        self.rest = rest
        self._len = sum(len(c.value) for c in series) + len(rest)
        self._all: list[Any] | None = None

    def _readings(self) -> list[Any]:
        if self._all is None:
            out: list[Any] = []
            for c in self.series:
                out.extend(c.readings())
            out.extend(self.rest)
            self._all = out
        return self._all

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return iter(self._readings())

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        return self._readings()[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BatchReadings | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BatchReadings({len(self.series)} series, {len(self.rest)} v1, {self._len} in all)"

    def ts_range(self) -> tuple[int, int] | None:
        """The least and greatest timestamp, from the series' bounds (no pass over readings)."""
        los = [c.earliest for c in self.series] + [r.ts for r in self.rest]
        his = [c.latest for c in self.series] + [r.ts for r in self.rest]
        return (min(los), max(his)) if los else None
