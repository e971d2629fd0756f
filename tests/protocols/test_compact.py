"""The compact v2 payload: the same readings as v1 (value, type, order per parameter), the
shortest float32 forms, strict rejection of malformed series, and identical records."""

from __future__ import annotations

import json
import random
import struct
from itertools import repeat
from typing import Any

import pytest

from agent.batch import BatchSigner
from protocols.compact import BatchReadings, batch_readings, encode_series, f32_repr
from protocols.envelope import parse_envelope
from protocols.errors import PayloadInvalid
from protocols.keys import generate_private_key, public_jwk
from protocols.payload import Reading, parse_payload
from protocols.record import compute_record
from tests.records.test_compute import _month_batches

T = 1_793_379_600_000
FIELDS = sorted(Reading.model_fields)


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _signers() -> tuple[BatchSigner, BatchSigner]:
    key = generate_private_key()
    kid = public_jwk(key)["kid"]
    return (
        BatchSigner("plant1", "agent1", key, kid, version=1),
        BatchSigner("plant1", "agent1", key, kid),
    )


def _by_param(readings: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for r in readings:
        row = tuple((k, type(v), repr(v)) for k in FIELDS for v in [getattr(r, k)])
        out.setdefault(r.id, []).append(row)
    return out


def test_v2_carries_exactly_the_v1_readings_and_is_smaller() -> None:
    rng = random.Random(21)
    rs: list[Any] = []
    for i in range(60):
        for k in range(6):
            scale = rng.choice([1.0, 1e-30, 1e30, 1e-3])
            v = f32(rng.uniform(-1e6, 1e6) * scale)
            rs.append((f"p{i:03d}", T + k * 10_000 + rng.choice([0, 0, 3]), v, "good", None, None))
    rs += [
        ("dead", T, None, "bad", "timeout", None),
        ("agg", T, 3.5, "good", None, {"count": 9, "expected": 10, "min": 1.0, "max": 6.0}),
        (
            "agg",
            T + 1,
            3.25,
            "good",
            None,
            {"count": 9, "expected": 10, "min": f32(0.1), "max": 6.0},
        ),
        ("agg2", T, 0.1, "good", None, {"count": 9, "expected": 10, "min": 0.1, "max": f32(0.3)}),
        ("hot", T, 999.0, "uncertain", "out_of_range", None),
        ("hot", T + 5, 1000.0, "good", None, None),
        ("z", T, -0.0, "good", None, None),
        ("z", T + 1, 0.1, "good", None, None),  # not a float32: printed as a double
        ("i", T, 24, "good", None, None),
        ("mixed", T, 1.5, "good", None, None),
        ("mixed", T + 1, 7, "good", None, None),
        ("tiny", T, 1e-300, "good", None, None),
        ("f32max", T, f32(3.4028234663852886e38), "good", None, None),
        ("denormal", T, f32(1e-45), "good", None, None),
        ("back", T + 9, 1.0, "good", None, None),
        ("back", T, 2.0, "good", None, None),  # out of order: negative delta
    ]
    v1, v2 = _signers()
    b1 = v1.build(1, None, 9, {"source": "system"}, rs)
    b2 = v2.build(1, None, 9, {"source": "system"}, rs)
    assert json.loads(b2.payload)["v"] == 2
    assert "readings" not in json.loads(b2.payload)  # every reading fits a series
    f32_columns = {
        rid: x.get("f32")
        for x in json.loads(b2.payload)["series"]
        for rid in x.get("ids", [x.get("id")])
    }
    assert f32_columns["agg"] == ["v", "min", "max"] and f32_columns["agg2"] == ["max"]
    assert f32_columns["z"] is None and f32_columns["p000"] == 1
    p1, p2 = parse_payload(b1.payload), parse_payload(b2.payload)
    assert _by_param(p1.readings) == _by_param(p2.readings)
    assert len(b2.payload) * 2 < len(b1.payload)


def test_parameters_sharing_timestamps_go_into_one_table() -> None:
    """One reading per parameter (a poll, a one-minute batch of aggregates): ids once, one
    ``t``, counts once when equal; the same readings as v1 at a third of the bytes."""
    v1, v2 = _signers()
    rs: list[Any] = [
        (
            f"potline1.key_param_{i:02d}",
            T,
            400.0 + i / 7,
            "good",
            None,
            {"count": 6, "expected": 6, "min": f32(399.5 + i), "max": f32(401.25 + i)},
        )
        for i in range(20)
    ]
    rs += [
        (f"cell_{i}", T + k * 1000, f32(4.2 + i / 100), "good", None, None)
        for k in range(3)
        for i in range(5)
    ]
    b1, b2 = v1.build(1, None, 9, {}, rs), v2.build(1, None, 9, {}, rs)
    p = json.loads(b2.payload)
    assert p["v"] == 2 and "readings" not in p
    key, cells = p["series"]
    assert key["ids"] == [f"potline1.key_param_{i:02d}" for i in range(20)]
    assert key["t"] == T and key["count"] == 6 and key["expected"] == 6
    assert key["f32"] == ["min", "max"] and len(key["v"]) == len(key["min"]) == 20
    assert cells["ids"] == [f"cell_{i}" for i in range(5)] and cells["step"] == 1000
    assert cells["f32"] == 1 and cells["v"][:3] == [4.2, 4.2, 4.2]  # parameter after parameter
    assert _by_param(parse_payload(b1.payload).readings) == _by_param(
        parse_payload(b2.payload).readings
    )
    assert len(b2.payload) * 2.5 < len(b1.payload)
    assert [r["id"] for r in batch_readings(p)] == [r[0] for r in rs[:20]] + [
        f"cell_{i}" for i in range(5) for _ in range(3)
    ]


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({"ids": ["a", "b"], "t": T, "v": [1, 2, 3]}, "series.0.v"),
        ({"ids": [], "t": T, "v": []}, "series.0.ids"),
        ({"ids": ["a", "b"], "t": T, "v": [1, 2], "count": [1]}, "series.0.count"),
        ({"ids": ["a", "b"], "t": T, "v": [1, 2], "count": 1.5}, "series.0.count"),
        ({"ids": ["a", "b"], "t": T, "v": [1, 2], "q": []}, "unexpected members q"),
        ({"ids": ["a", "b c"], "t": T, "v": [1, 2]}, "series.0.id"),
        (
            {"ids": ["a", "b"], "t": T, "step": 1, "v": [1, 2, 3, 4], "min": [1, 2, "x", 4]},
            "series.0.min",
        ),
    ],
)
def test_malformed_tables_are_rejected_naming_the_field(table: Any, where: str) -> None:
    with pytest.raises(PayloadInvalid, match=where):
        parse_payload(_payload([table]))


def test_readings_that_fit_no_series_stay_v1_readings() -> None:
    _, v2 = _signers()
    v2.v2_min_per_param = 0
    ev = {"submission": "s1", "documents": []}
    rs: list[Any] = [
        ("coke_c", T, 0.85, "good", None, {"origin": "lab", "evidence": ev}),
        ("coke_c", T + 1, 0.86, "good", None, None),  # same parameter: kept together
        ("plain", T, 1.0, "good", None, None),
    ]
    p = json.loads(v2.build(1, None, 9, {}, rs).payload)
    assert [r["id"] for r in p["readings"]] == ["coke_c", "coke_c"]
    assert [s["id"] for s in p["series"]] == ["plain"]
    assert [r["id"] for r in batch_readings(p)] == ["plain", "coke_c", "coke_c"]


@pytest.mark.parametrize("seed", range(3))
def test_f32_repr_is_the_shortest_that_round_trips(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        x = f32(rng.uniform(-1, 1) * 10 ** rng.randint(-40, 38))
        s = f32_repr(x)
        assert f32(float(s)) == x
        for p in range(1, len(s.replace("-", "").replace(".", "").split("e")[0].lstrip("0"))):
            assert f32(float(f"{x:.{p}g}")) != x or len(f"{x:.{p}g}") >= len(s)


def _payload(series: list[Any]) -> bytes:
    return json.dumps(
        {"v": 2, "site": "s", "agent": "a", "seq": 1, "prev": None, "created": 0,
         "clock": {}, "series": series, "events": []}
    ).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("series", "where"),
    [
        ({"id": "x", "t": T, "v": [1, 2]}, "need step or dt"),
        ({"id": "x", "t": T, "dt": [1, 2], "v": [1, 2]}, "series.0.dt"),
        ({"id": "x", "t": T, "step": 1, "v": [1, 2], "count": [1]}, "series.0.count"),
        ({"id": "x", "t": T, "v": [1e39], "f32": 1}, "beyond float32"),
        ({"id": "x", "t": T, "v": [1], "max": [1e39], "f32": ["max"]}, "series.0.max"),
        ({"id": "x", "t": T, "v": [1], "f32": ["v", "v"]}, "series.0.f32"),
        ({"id": "x", "t": T, "v": [1], "f32": ["count"]}, "series.0.f32"),
        ({"id": "x", "t": T, "v": [1], "f32": 2}, "series.0.f32"),
        ({"id": "x", "t": T, "v": ["1"]}, "series.0.v.0"),
        ({"id": "x", "t": T, "v": [1], "q": [[1, "bad", "r"]]}, "series.0.q.0.0"),
        ({"id": "x", "t": T, "v": [1], "q": [[0, "good", "r"]]}, "series.0.q.0.1"),
        ({"id": "x", "t": T, "v": [1], "unit": "t"}, "unexpected members unit"),
        ({"id": "x", "t": T, "v": []}, "at least one value"),
        ({"id": "x y", "t": T, "v": [1]}, "series.0.id"),
        ({"id": "x\n", "t": T, "v": [1]}, "series.0.id"),
        ({"id": "x", "t": -5, "v": [1]}, "series.0.t"),
        ({"id": "x", "t": T, "step": -T - 1, "v": [1, 2]}, "series.0.t"),
        ({"id": "x", "t": T, "v": [1], "q": [[0, "bad", None]]}, "series.0.q.0.2"),
        ({"id": "x", "t": T, "v": [1], "q": [[0, "bad", ""]]}, "series.0.q.0.2"),
        ({"id": "x", "t": T, "v": [1], "q": [[0, "worse", "r"]]}, "series.0.q.0.1"),
        ({"id": "x", "t": T, "v": [1], "count": [-1]}, "series.0.count"),
        ({"id": "x", "t": T, "v": [1], "count": [2**53]}, "series.0.count"),
        ({"id": "x", "t": T, "v": [1], "count": [1.5]}, "series.0.count"),
        ({"id": "x", "t": T, "v": [1], "min": [True]}, "series.0.min.0"),
        ({"id": "x", "t": T, "v": [True]}, "series.0.v.0"),
    ],
)
def test_malformed_series_are_rejected_naming_the_field(series: Any, where: str) -> None:
    with pytest.raises(PayloadInvalid, match=where.replace(".", r"\.")):
        parse_payload(_payload([series]))


_BASE_SERIES: dict[str, Any] = {
    "id": "x", "t": 1_760_000_000_000, "step": 1000, "v": [1.5, 2, None],
    "count": [1, None, 3], "expected": [3, 3, 3], "min": [1, 2.5, None],
    "max": [1.25, 2, None], "q": [[0, "bad", "r"], [2, "uncertain", "s"]], "f32": ["max"],
}  # fmt: skip


def _edit(change: dict[str, Any], drop: str | None = None) -> list[Any]:
    s = _BASE_SERIES | change
    if drop is not None:
        del s[drop]
    return [s]


#: One hostile series per kind of fault, with the reason and message the collector has
#: always given it (pinned from the implementation before the columnar validator).
_PINNED = [
    (_edit({"id": None}), "wrong_type", "payload invalid at series.0.id: is not a string"),
    (
        _edit({"id": "x y"}),
        "schema",
        "payload invalid at series.0.id: 'x y' is not a parameter id (^[A-Za-z0-9_.:-]{1,128}$)",
    ),
    (_edit({}, drop="id"), "schema", "payload invalid at series.0: a series needs id, t and v"),
    (_edit({"t": None}), "wrong_type", "payload invalid at series.0.t: None is not an integer"),
    (
        _edit({"t": -1}),
        "number_range",
        "payload invalid at series.0.t: timestamps -1..1999 leave 0..32503680000000",
    ),
    (
        _edit({"t": {"a": 1}}),
        "wrong_type",
        "payload invalid at series.0.t: {'a': 1} is not an integer",
    ),
    (
        _edit({"t": -1760000000000}),
        "number_range",
        "payload invalid at series.0.t: timestamps -1760000000000..-1759999998000 leave 0..32503680000000",
    ),
    (
        _edit({"step": None}),
        "wrong_type",
        "payload invalid at series.0.step: None is not an integer",
    ),
    (
        _edit({"step": {"a": 1}}),
        "wrong_type",
        "payload invalid at series.0.step: {'a': 1} is not an integer",
    ),
    (_edit({}, drop="step"), "schema", "payload invalid at series.0: 3 values need step or dt"),
    (_edit({"v": None}), "wrong_type", "payload invalid at series.0.v: is not an array"),
    (
        _edit({"v": [1]}),
        "schema",
        "payload invalid at series.0.count: has 3 entries, the series has 1 values",
    ),
    (
        _edit({"v": [[1]]}),
        "wrong_type",
        "payload invalid at series.0.v.0: [1] is not a number or null",
    ),
    (_edit({"count": None}), "wrong_type", "payload invalid at series.0.count: is not an array"),
    (
        _edit({"count": [1e39, 1, 1]}),
        "wrong_type",
        "payload invalid at series.0.count: holds integers or null",
    ),
    (
        _edit({"count": [-1, 0, 1]}),
        "number_range",
        "payload invalid at series.0.count: a count leaves 0..2^53-1",
    ),
    (
        _edit({"expected": None}),
        "wrong_type",
        "payload invalid at series.0.expected: is not an array",
    ),
    (
        _edit({"expected": []}),
        "schema",
        "payload invalid at series.0.expected: has 0 entries, the series has 3 values",
    ),
    (
        _edit({"expected": [1e39, 1, 1]}),
        "wrong_type",
        "payload invalid at series.0.expected: holds integers or null",
    ),
    (
        _edit({"expected": [-1, 0, 1]}),
        "number_range",
        "payload invalid at series.0.expected: a count leaves 0..2^53-1",
    ),
    (_edit({"min": None}), "wrong_type", "payload invalid at series.0.min: is not an array"),
    (
        _edit({"min": []}),
        "schema",
        "payload invalid at series.0.min: has 0 entries, the series has 3 values",
    ),
    (
        _edit({"min": ["1", 1, 1]}),
        "wrong_type",
        "payload invalid at series.0.min.0: '1' is not a number or null",
    ),
    (_edit({"max": None}), "wrong_type", "payload invalid at series.0.max: is not an array"),
    (
        _edit({"max": []}),
        "schema",
        "payload invalid at series.0.max: has 0 entries, the series has 3 values",
    ),
    (
        _edit({"max": [1e39, 1, 1]}),
        "schema",
        "payload invalid at series.0.max: a value is beyond float32",
    ),
    (
        _edit({"max": ["1", 1, 1]}),
        "wrong_type",
        "payload invalid at series.0.max.0: '1' is not a number or null",
    ),
    (_edit({"q": None}), "wrong_type", "payload invalid at series.0.q: is not an array"),
    (
        _edit({"q": [1]}),
        "wrong_type",
        "payload invalid at series.0.q.0: is not [index, quality, reason]",
    ),
    (
        _edit({"q": [[0, "good", "r"]]}),
        "schema",
        "payload invalid at series.0.q.0.1: only readings that are uncertain or bad are listed",
    ),
    (
        _edit({"q": [[3, "bad", "r"]]}),
        "schema",
        "payload invalid at series.0.q.0.0: index 3 is not ascending within 0..2",
    ),
    (
        _edit({"q": [[1, "bad", "r"], [0, "bad", "r"]]}),
        "schema",
        "payload invalid at series.0.q.1.0: index 0 is not ascending within 0..2",
    ),
    (
        _edit({"q": [[0, "bad", ""]]}),
        "schema",
        "payload invalid at series.0.q.0.2: a reading that is not good needs a reason (≤ 500)",
    ),
    (
        _edit({"q": [[0.0, "bad", "r"]]}),
        "wrong_type",
        "payload invalid at series.0.q.0.0: 0.0 is not an integer",
    ),
    (
        _edit({"f32": True}),
        "schema",
        'payload invalid at series.0.f32: is a list of distinct columns among "v", "min", "max"',
    ),
    (
        _edit({"dt": None}),
        "schema",
        "payload invalid at series.0: a series has step or dt, not both",
    ),
    (_edit({"unit": None}), "schema", "payload invalid at series.0: unexpected members unit"),
    ([1], "wrong_type", "payload invalid at series.0: a series is not an object"),
    ("x", "wrong_type", "payload invalid at series: is not an array"),
]


@pytest.mark.parametrize(("series", "reason", "message"), _PINNED)
def test_each_malformed_series_keeps_its_reason_and_message(
    series: Any, reason: str, message: str
) -> None:
    with pytest.raises(PayloadInvalid) as info:
        parse_payload(_payload(series))
    assert (info.value.reason, str(info.value)) == (reason, message)


@pytest.mark.parametrize(
    "f32",
    [None, 1, ["v"], ["min"], ["max", "min"], ["v", "min", "max"], ["max", "v"]],
)
def test_a_series_reads_the_same_as_columns_and_as_readings(f32: Any) -> None:
    """The store's columns and the readers' tuples hold the same readings."""
    s = _BASE_SERIES | {"f32": f32, "v": [1.5, 2.25, None], "min": [1, 2.5, None]}
    if f32 is None:
        del s["f32"]
    p = parse_payload(_payload([s, {"id": "y", "t": 5, "dt": [3, -1], "v": [1, 2, 3]}]))
    readings = p.readings
    assert isinstance(readings, BatchReadings)
    from_columns = [
        r for c in readings.series for r in zip(
            repeat(c.id), c.ts, c.value, c.quality, c.reason, c.count, c.expected, c.min,
            c.max,
        )
    ]  # fmt: skip
    assert [tuple(r)[:9] for r in readings] == from_columns
    assert from_columns[0] == ("x", 1_760_000_000_000, 1.5, "bad", "r", 1, 3, 1.0, 1.25)
    assert from_columns[4] == ("y", 8, 2.0, "good", None, None, None, None, None)
    assert readings.ts_range() == (5, 1_760_000_002_000)
    assert len(readings) == 6 and readings[5].ts == 7


def _as_v2(payload: bytes) -> bytes:
    p = json.loads(payload)
    tuples = [
        (
            r["id"], r["ts"], r["value"], r["quality"], r.get("reason"),
            {k: r[k] for k in ("count", "expected", "min", "max") if k in r} or None,
        )
        for r in p.pop("readings")
    ]  # fmt: skip
    body, rest = encode_series(tuples)
    assert not rest
    p["v"] = 2
    head = json.dumps(p, separators=(",", ":"))[:-1]
    return f'{head},"series":[{body.decode()}]}}'.encode()


def test_the_record_is_the_same_from_v1_v2_and_a_mix() -> None:
    s, envs = _month_batches()
    v1 = [parse_envelope(e).payload for e in envs]
    v2 = [_as_v2(p) for p in v1]
    mixed = [p if i % 2 else q for i, (p, q) in enumerate(zip(v1, v2, strict=True))]
    bodies = [compute_record(s, ps).body for ps in (v1, v2, mixed)]
    for b in bodies:
        b.pop("evidence")  # batch hashes: the bytes differ, the evidence they carry does not
    same = [json.dumps(b, sort_keys=True) for b in bodies]
    assert same[0] == same[1] == same[2]
    assert bodies[0]["parameters"] and bodies[0]["summary"]["readings"]


def _tables() -> list[dict[str, Any]]:
    """Tables that pass and tables that fail, for the fast path against the id-by-id one."""
    ids = [f"p{i:03d}" for i in range(4)]
    ok: list[dict[str, Any]] = [
        {"ids": ids, "t": T, "v": [1.5, 2, None, 4.25]},
        {"ids": ids[:1], "t": T, "v": [1.5]},
        {"ids": ids[:2], "t": T, "step": 1000, "f32": 1, "v": [f32(4.2), f32(4.3), 1, None]},
        {"ids": ids[:2], "t": T, "dt": [60000], "v": [1, 2, 3, 4], "count": 6, "expected": 6},
        {
            "ids": ids,
            "t": T,
            "f32": ["min", "max"],
            "v": [400.0, 401.0, 402.0, 403.0],
            "count": [6, None, 5, 6],
            "min": [f32(399.5), None, f32(401.25), 3],
            "max": [f32(401.5), None, f32(402.75), 5],
        },
    ]
    bad: list[dict[str, Any]] = [
        {"ids": ids[:2], "t": T, "v": [1, True]},
        {"ids": ids[:2], "t": T, "v": [1, "2"]},
        {"ids": [ids[0], 7], "t": T, "v": [1, 2]},
        {"ids": [ids[0], "b c"], "t": T, "v": [1, 2]},
        {"ids": ids[:2], "t": -1, "v": [1, 2]},
        {"ids": ids[:2], "t": T, "v": [1, 2, 3, 4]},
        {"ids": ids[:2], "t": T, "step": 1, "v": [1, 2, 3, 4], "count": [1, 2, -3, 4]},
        {"ids": ids[:2], "t": T, "step": 1, "v": [1, 2, 3, 4], "count": [1, 2, 2**53, 4]},
        {"ids": ids[:2], "t": T, "step": 1, "v": [1, 2, 3, 4], "count": [1, 2, 3.0, 4]},
        {"ids": ids[:2], "t": T, "f32": 1, "v": [1.0, 1e39]},
        {"ids": ids[:2], "t": T, "f32": True, "v": [1.0, 2.0]},
        {"ids": ids[:2], "t": T, "f32": ["v", "v"], "v": [1.0, 2.0]},
        {"ids": ids[:2], "t": T, "f32": ["max"], "v": [1.0, 2.0], "max": [1.0, 1e300]},
        {"ids": ids[:2], "t": T, "step": 1, "dt": [1], "v": [1, 2, 3, 4]},
    ]
    return ok + bad


@pytest.mark.parametrize("table", _tables())
def test_a_table_checked_by_columns_agrees_with_id_by_id(table: dict[str, Any]) -> None:
    """The column-at-a-time check of a table gives the same series, or the same error
    naming the same member, as checking its ids one by one."""
    from protocols.compact import _table_columns

    def run(fast: bool) -> Any:
        try:
            return _table_columns(dict(table), 0, fast=fast)
        except PayloadInvalid as exc:
            return (type(exc), str(exc))

    fast, slow = run(True), run(False)
    assert repr(fast) == repr(slow)  # repr: 2 and 2.0, a range and a list differ
    if not isinstance(fast, tuple):
        assert [c.id for c in fast] == table["ids"]
