"""The record's payload parser gives exactly what ``json.loads`` gives, bit for bit.

The record computation (builder and verifier alike) reads payloads with
``protocols.record.json_load.load_payload``; a record must not depend on which parser read
the bytes, so every float has to be the very same double.
"""

from __future__ import annotations

import json
import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.record.json_load import load_payload


def _bits(x: object) -> object:
    """Floats by their IEEE bits (so -0.0 ≠ 0.0 and NaN == NaN), containers recursively."""
    if isinstance(x, float):
        return ("f", struct.pack("<d", x))
    if isinstance(x, list):
        return [_bits(v) for v in x]
    if isinstance(x, dict):
        return {k: _bits(v) for k, v in x.items()}
    return (type(x).__name__, x)


def _same(text: str) -> None:
    data = text.encode()
    assert _bits(load_payload(data)) == _bits(json.loads(data)), text


@settings(max_examples=3000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_shortest_repr_of_every_double_parses_to_the_same_double(x: float) -> None:
    _same(f"[{x!r}, {x:.17e}, {x:.25g}]")


@settings(max_examples=3000)
@given(
    st.integers(min_value=1, max_value=10**40),
    st.integers(min_value=-30, max_value=30),
    st.integers(min_value=-340, max_value=310),
    st.booleans(),
)
def test_long_decimal_strings_round_the_same_way(
    digits: int, point: int, exp: int, neg: bool
) -> None:
    """Many significant digits and extreme exponents: the hard cases of correct rounding."""
    s = str(digits)
    p = max(1, min(len(s), len(s) + point))
    mantissa = s[:p] + ("." + s[p:] if s[p:] else "")
    _same(f"{'-' if neg else ''}{mantissa}e{exp}")


def test_halfway_and_subnormal_cases() -> None:
    cases = [
        "9007199254740993",  # 2**53 + 1 as an integer stays an exact int
        "9007199254740993.0",  # ... as a float rounds to even
        "2.2250738585072011e-308",  # near the smallest normal
        "4.9406564584124654e-324",  # smallest subnormal
        "2.4703282292062327e-324",  # below half of it: rounds to 0
        "2.4703282292062328e-324",  # above half: rounds up
        "1.7976931348623157e308",
        "1.7976931348623159e308",  # overflows to inf in both
        "0.1",
        "-0.0",
        "123456789012345678901234567890",
    ]
    rng = random.Random(7)
    for _ in range(20000):  # random bit patterns, as an agent's FLOAT64 could carry
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            cases.append(repr(x))
    _same("[" + ",".join(cases) + "]")


def test_batch_payload_objects_are_equal() -> None:
    payload = (
        b'{"v":1,"site":"s","agent":"a","seq":3,"prev":null,"created":1760000000000,'
        b'"clock":{"source":"ntp","synced":true,"offset_ms":-1.5},"readings":['
        b'{"id":"line_current_ka","ts":1760000000000,"value":431.25,"quality":"good"},'
        b'{"id":"ae_count","ts":1760000060000,"value":null,"quality":"bad","reason":"timeout"}'
        b'],"events":[]}'
    )
    assert load_payload(payload) == json.loads(payload)


@pytest.mark.parametrize(
    "data",
    [b'"\\ud800"', b"\xef\xbb\xbf{}", b'{"a":1,"a":2}', b"[NaN, Infinity, -Infinity]"],
)
def test_what_the_standard_library_accepts_is_accepted_the_same(data: bytes) -> None:
    assert _bits(load_payload(data)) == _bits(json.loads(data))


@pytest.mark.parametrize("data", [b'{"a":1}x', b"[1.]", b"[01]", b'"\xff"', b""])
def test_what_the_standard_library_refuses_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        load_payload(data)
