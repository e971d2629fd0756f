"""The fast path of ``strict_json.loads`` decides exactly as the full check does.

``loads`` parses a clean message with the plain C parser and proves it clean with checks on
the text and a walk over the containers; anything in doubt goes to the full check (a hook
on every object, a walk over every value). These tests hold the two side by side on hostile
and random texts: same value, or the same error with the same reason and message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols import payload as payload_module
from protocols import strict_json
from protocols.errors import EnvelopeError, StrictJsonError
from protocols.payload import BatchPayload, Reading, parse_payload, validate_payload
from protocols.wire import encode_payload
from tests.support.hostile import RAW, payload_edits


def _outcome(fn: Any, data: bytes | str) -> tuple[Any, ...]:
    try:
        return ("ok", fn(data))
    except StrictJsonError as exc:
        return ("error", type(exc).__name__, exc.reason, str(exc))


def _same_decision(data: bytes | str) -> None:
    fast = _outcome(strict_json.loads, data)
    full = _outcome(lambda d: strict_json._strict_loads(d, strict_json.MAX_DEPTH), data)
    assert fast == full, data[:200]


def _payload(**extra: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "site": "s1",
        "agent": "a1",
        "seq": 7,
        "prev": "4e500" + "ab" * 27 + "e1234",  # hex that looks like a long exponent
        "created": 1_760_000_000_000,
        "clock": {"source": "system", "synced": True},
        "readings": [{"id": "x", "ts": 1_760_000_000_000, "value": 430.5, "quality": "good"}],
        "events": [],
        **extra,
    }


_TRICKY = [
    b'{"a":1,"a":2}',
    b'{"a" :1,"a":2}',  # a blank before the colon: the quote-colon count misses a name
    b'{"a" :1,"b":"x\\":","a":2}',
    b'{"a":"x:y","a":1}',  # a colon in a string makes the colon count one too many
    b'{"a":"\\" :","a":1}',
    b'{"a":"x:","b":1}',
    b'{"a":"\\" ","b":1}',
    b'{"a": 1, "b": [1e308, -1e308]}',
    b"[1.5e308, 1e309]",
    b"[1e-400, 1E+400]",
    b'["4e500", 1e0400]',
    b"[18446744073709551615, -18446744073709551615]",
    b"[18446744073709551616]",
    b"[-18446744073709551616]",
    b"[12345678901234567890.5]",
    b"1e400",
    b"-1e400",
    b"18446744073709551616",
    b'"plain"',
    b"NaN",
    b"[NaN]",
    b"[Infinity, -Infinity]",
    b'{"a":[' + b"[" * 31 + b"]" * 31 + b"]}",
    b'{"a":[' + b"[" * 32 + b"]" * 32 + b"]}",
    b'{"a":{"b":{"c":[]}},"a":[' + b"[" * 40 + b"]" * 40 + b"]}",
    b"\xef\xbb\xbf{}",  # UTF-8 byte order mark
    '{"a":1}'.encode("utf-16"),
    b'{"a":"\xed\xa0\x80"}',  # an encoded lone surrogate
    b'{"a":1} x',
    b"",
    b" ",
    b'{"a":' + b"9" * 5000 + b"}",
]


@pytest.mark.parametrize("data", _TRICKY)
def test_tricky_texts_decide_alike(data: bytes) -> None:
    _same_decision(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    _same_decision(text)


@pytest.mark.parametrize(("name", "data", "reason"), RAW + payload_edits(_payload()))
def test_hostile_messages_decide_alike(name: str, data: bytes, reason: str) -> None:
    _same_decision(data)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet='ab:" \\e0123', max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(st.tuples(st.sampled_from("abe:"), inner), max_size=5),  # may repeat names
    ),
    max_leaves=40,
)


def _text(v: Any, spaced: bool) -> str:
    """JSON text of ``v``; a list of pairs becomes an object (so a name may repeat)."""
    sep = ", " if spaced else ","
    if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
        colon = " : " if spaced else ":"
        return "{" + sep.join(f"{json.dumps(k)}{colon}{_text(x, spaced)}" for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + sep.join(_text(x, spaced) for x in v) + "]"
    return json.dumps(v)


@settings(max_examples=400, deadline=None)
@given(
    _values, st.booleans(), st.integers(min_value=0, max_value=40), st.sampled_from(["", "e400"])
)
def test_random_texts_decide_alike(v: Any, spaced: bool, nest: int, exp: str) -> None:
    body = _text(v, spaced)
    _same_decision(body.encode("utf-8", "surrogatepass"))
    _same_decision("[" * nest + body + "]" * nest)
    _same_decision(f'{{"x":[1{exp}],"y":{body}}}')


def test_a_clean_payload_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent's payload, hashes with exponent-like hex included, never needs the full
    check (the ingest benchmark's speed rests on it)."""
    readings = [
        {"id": "p.1", "ts": 1_760_000_000_000 + i, "value": i / 7, "quality": "good"}
        for i in range(200)
    ]
    readings[3] |= {"quality": "bad", "reason": "timeout: no answer"}
    data = encode_payload(_payload(readings=readings))

    monkeypatch.setattr(strict_json, "_strict_loads", _refuse)
    assert strict_json.loads(data) == json.loads(data)


def _old_parse_payload(data: bytes) -> Any:
    """The payload parse as it was: the full check, then the schema."""
    return validate_payload(strict_json._strict_loads(data, strict_json.MAX_DEPTH))


def _payload_outcome(fn: Any, data: bytes) -> tuple[Any, ...]:
    try:
        p = fn(data)
    except EnvelopeError as exc:
        return ("error", exc.reason, str(exc))
    return ("ok", p.seq, [tuple(r) if isinstance(r, tuple) else r for r in p.readings])


def _v2(series: str, prev: str = '"4e500' + "ab" * 27 + 'e1234"') -> bytes:
    return (
        f'{{"v":2,"site":"s1","agent":"a1","seq":7,"prev":{prev},"created":1760000000000,'
        f'"clock":{{"source":"system"}},"series":{series},"events":[]}}'
    ).encode()


_GOOD = '{"id":"x","t":1760000000000,"step":1000,"v":[1.5,2,null],"q":[[1,"bad","r"]]}'
_V2_CASES = [
    f"[{_GOOD}]",
    f"[{_GOOD},{_GOOD}]",
    "[]",
    "{}",
    "[1]",
    "[[1]]",
    '[{"id":{"a":1},"t":1,"v":[1]}]',
    '[{"id":"x","id":"y","t":1,"v":[1]}]',
    '[{"id":"x","t":1,"v":[{"a":1,"a":2}]}]',
    '[{"id":"x","t":1,"v":[{"a":1}]}]',
    '[{"id":"x","t":1,"v":[' + "[" * 40 + "]" * 40 + "]}]",
    '[{"id":"x","t":1,"v":[1],"q":[[0,"bad",' + "[" * 40 + "]" * 40 + "]]}]",
    '[{"id":"x","t":1,"v":[1e400]}]',
    '[{"id":"x","t":1,"v":[-1e400]}]',
    '[{"id":"x","t":1,"v":[1e300]}]',
    '[{"id":"x","t":1,"v":[18446744073709551616]}]',
    '[{"id":"x","t":1,"v":[1],"count":[18446744073709551616]}]',
    '[{"id":"x","t":1,"v":[NaN]}]',
    '[{"id":"x","t":1,"v":[1],"f32":[["v"]]}]',
    '[{"id":"x","t":1,"v":[1],"f32":[{"v":1}]}]',
    '[{"id":"x","t":1,"v":[1],"dt":[{"a":1}]}]',
    '[{"id":"x","t":1,"v":[1]}],"series":[]',
    '[{"id":"x","t":1,"v":[1]}],"events":[{"type":"x","d":' + "[" * 40 + "]" * 40 + "}]",
]


@pytest.mark.parametrize("series", _V2_CASES)
@pytest.mark.parametrize(
    "prev", ['"' + "ab" * 32 + '"', '"4e500' + "ab" * 27 + 'e1234"', '"\\u0061' + "b" * 63 + '"']
)
def test_v2_payloads_decide_as_before(series: str, prev: str) -> None:
    """The series' arrays are left to the schema; its verdict, or the full check's when
    the schema refuses, is the one the payload always had."""
    data = _v2(series, prev)
    assert _payload_outcome(parse_payload, data) == _payload_outcome(_old_parse_payload, data)


_R = '{"id":"x","ts":1760000000000,"value":1.5,"quality":"good"'
_V1_CASES = [
    f"[{_R}}}]",
    f'[{_R}}},{_R},"count":3}}]',
    f'[{_R},"min":[' + "[" * 40 + "]" * 40 + "]}]",
    f'[{_R},"reason":[[1]]}}]',
    f'[{_R},"reason":{{}}}}]',
    f'[{_R},"evidence":{{}}}}]',
    f'[{_R},"evidence":{{"submission":"s","documents":[' + "[" * 40 + "]" * 40 + "]}}]",
    f'[{_R},"evidence":{{"submission":"s","submission":"t"}}}}]',
    f'[{_R},"origin":"lab","evidence":{{"submission":"s"}}}}]',
    f'[{_R},"ts":1}}]',  # a name given twice
    f'[{_R},"expected":1}}]',
    f'[{_R},"max":1e400}}]',
    f'[{_R},"count":18446744073709551616}}]',
    f"[{_R}}},1]",
    f"[{_R}}},[]]",
    "[[]]",
    "{}",
    '"x"',
]


@pytest.mark.parametrize("readings", _V1_CASES)
@pytest.mark.parametrize("version", [1, 2])
def test_v1_readings_in_payloads_decide_as_before(readings: str, version: int) -> None:
    """A payload's readings are left to the schema too, with the same guarantee."""
    series = ',"series":[]' if version == 2 else ""
    data = (
        f'{{"v":{version},"site":"s1","agent":"a1","seq":1,"prev":null,'
        f'"created":1760000000000,"clock":{{}},"readings":{readings}{series},"events":[]}}'
    ).encode()
    assert _payload_outcome(parse_payload, data) == _payload_outcome(_old_parse_payload, data)


@settings(max_examples=300, deadline=None)
@given(_values, st.sampled_from(["id", "t", "v", "q", "count", "f32", "dt", "x"]))
def test_random_series_members_decide_as_before(v: Any, member: str) -> None:
    for series in (
        f'[{{"id":"x","t":1,"step":1,"v":[1,2],"{member}":{_text(v, False)}}}]',
        f'[{{"id":"x","t":1,"v":[1],"q":[[0,"bad",{_text(v, True)}]]}}]',
    ):
        data = _v2(series)
        assert _payload_outcome(parse_payload, data) == _payload_outcome(_old_parse_payload, data)


def test_a_v2_payload_leaves_its_series_arrays_to_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The speed of v2 ingest rests on this: the walk never enters a series' arrays."""
    seen: list[int] = []
    walk = strict_json._members_if_within

    def counting(level: list[Any], *args: Any) -> Any:
        seen.extend(len(x) for x in level if isinstance(x, list))
        return walk(level, *args)

    monkeypatch.setattr(strict_json, "_members_if_within", counting)
    monkeypatch.setattr(strict_json, "_strict_loads", _refuse)
    long = '{"id":"x","t":1760000000000,"step":1000,"v":[' + ",".join(["1.5"] * 500) + "]}"
    assert len(parse_payload(_v2(f"[{long}]")).readings) == 500
    v1 = encode_payload(
        _payload(readings=[_BASE_READING | {"ts": i} for i in range(500)], prev=None, seq=1)
    )
    assert len(parse_payload(v1).readings) == 500
    assert max(seen, default=0) < 500


def _refuse(*_: Any) -> Any:
    raise AssertionError("took the full check")


def _model_only(obj: dict[str, Any]) -> Any:
    """A v1 payload checked by the model alone, as it always was."""
    try:
        return BatchPayload.model_validate(obj, strict=True)
    except ValidationError as exc:
        raise payload_module._invalid(exc, "payload") from None


def _readings_outcome(fn: Any, obj: dict[str, Any]) -> tuple[Any, ...]:
    try:
        p = fn(obj)
    except EnvelopeError as exc:
        return ("error", exc.reason, str(exc))
    fields = sorted(Reading.model_fields)
    return ("ok", [[(k, repr(getattr(r, k))) for k in fields] for r in p.readings])


_FIELD_VALUES: dict[str, list[Any]] = {
    "id": ["p.1", "x y", "", "a" * 129, "x\n", 1, None],
    "ts": [0, 1_760_000_000_000, -1, 32503680000000, 32503680000001, True, 1.0],
    "value": [1.5, 1, None, True, "1", [1], -0.0],
    "quality": ["good", "bad", "uncertain", "worse", 1, [], None],
    "reason": [None, "", "r", "x" * 500, "x" * 501, 1, []],
    "count": [None, 0, -1, 2**53 - 1, 2**53, 1.0, True],
    "expected": [None, 60, -1, 2**53],
    "min": [None, 1, 2.5, True, "1"],
    "max": [None, 1, 2.5, [1.0]],
    "origin": ["meter", "lab", None],
    "unit": ["t", None],
    "foo": [1],
}
_REQUIRED = ("id", "ts", "value", "quality")
_reading = st.fixed_dictionaries(
    # mostly valid (the first two of each list), so that the column check is taken
    {k: st.sampled_from(_FIELD_VALUES[k][:2] * 6 + _FIELD_VALUES[k]) for k in _REQUIRED},
    optional={k: st.sampled_from(v) for k, v in _FIELD_VALUES.items() if k not in _REQUIRED},
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_reading, max_size=4), st.integers(min_value=0, max_value=3))
def test_v1_readings_decide_as_the_model_does(readings: list[dict[str, Any]], drop: int) -> None:
    """Plain v1 readings are checked a column at a time; any one the model would refuse
    sends the whole payload to the model, so its verdict and message are the ones given."""
    if readings and drop < len(readings) and "ts" in readings[drop]:
        readings[drop] = {k: v for k, v in readings[drop].items() if k != "ts"}
    obj = _payload(readings=readings, prev=None, seq=1)
    assert _readings_outcome(validate_payload, obj) == _readings_outcome(_model_only, obj)


_BASE_READING = {"id": "p.1", "ts": 1_760_000_000_000, "value": 1.5, "quality": "good"}


@pytest.mark.parametrize(
    ("field", "value"),
    [(k, v) for k, vs in _FIELD_VALUES.items() for v in vs]
    + [("quality+reason", ("bad", v)) for v in _FIELD_VALUES["reason"]],
)
def test_each_field_of_a_v1_reading_decides_as_the_model_does(field: str, value: Any) -> None:
    if field == "quality+reason":
        edit = {"quality": value[0], "reason": value[1]}
    else:
        edit = {field: value}
    for readings in (
        [_BASE_READING | edit],
        [_BASE_READING, _BASE_READING | {"ts": 5} | edit, _BASE_READING | {"id": "q"}],
        [{k: v for k, v in _BASE_READING.items() if k != field}],
    ):
        obj = _payload(readings=readings, prev=None, seq=1)
        assert _readings_outcome(validate_payload, obj) == _readings_outcome(_model_only, obj)


def test_plain_v1_readings_skip_the_reading_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """v1 ingest speed rests on this: plain meter readings never meet ``Reading``."""
    monkeypatch.setattr(Reading, "__init__", _refuse)
    monkeypatch.setattr(Reading, "model_validate", _refuse)
    readings = [{"id": f"p.{i % 7}", "ts": i, "value": i / 3, "quality": "good"} for i in range(50)]
    readings[4] |= {"quality": "bad", "reason": "timeout", "count": 3, "min": 1}
    p = validate_payload(_payload(readings=readings, prev=None, seq=1))
    assert [(r.id, r.ts, r.quality, r.count, r.min) for r in p.readings][3:5] == [
        ("p.3", 3, "good", None, None),
        ("p.4", 4, "bad", 3, 1.0),
    ]
