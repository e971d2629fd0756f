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

from protocols import strict_json
from protocols.errors import StrictJsonError
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
        "prev": "4e500" + "ab" * 29 + "e123",  # hex that looks like a long exponent
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

    def full_check(*_: Any) -> Any:
        raise AssertionError("took the full check")

    monkeypatch.setattr(strict_json, "_strict_loads", full_check)
    assert strict_json.loads(data) == json.loads(data)
