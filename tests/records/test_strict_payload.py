"""``strict_payload.loads`` is ``strict_json.loads``: the same value or the same error.

mrv-verify parses every payload with it. Agents' payloads (v1 and v2) must take its C-speed
path; every payload the contract refuses (duplicate names, nested objects or deep arrays in
a reading, overflowing or huge numbers, NaN, bad text) must be refused with the same error
and message as ``strict_json`` gives, and odd but valid ones (blanks, colons and brackets in
strings, escapes, hex that looks like an exponent) read the same.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest

from protocols import strict_json
from protocols.envelope import parse_envelope
from protocols.record import strict_payload
from tests.records.support import FakeAgent, reading

START = 1_790_000_000_000


def _outcome(fn: Any, data: bytes) -> tuple[Any, ...]:
    try:
        return ("ok", _exact(fn(data)))
    except Exception as exc:  # the error type and message are part of the contract
        return ("error", type(exc).__name__, str(exc), getattr(exc, "reason", None))


def _exact(x: Any) -> Any:
    """``x`` with floats by their bits and types kept (1 and 1.0 and True differ)."""
    if isinstance(x, dict):
        return {k: _exact(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_exact(v) for v in x]
    if isinstance(x, float):
        return ("float", struct.pack("<d", x))
    return (type(x).__name__, x)


def _payloads() -> list[bytes]:
    out = []
    for version in (1, 2):
        a = FakeAgent("smelter1", "pot1", version=version)
        polls = [
            reading(pid, START + k * 60_000, 400.0 + k / 7 + i, count=60, expected=60)
            for k in range(40)
            for i, pid in enumerate(["line_current_ka", "cell_001_v", "dc_energy_mwh"])
        ]
        polls.append(reading("line_current_ka", START + 99 * 60_000, None, quality="bad"))
        for _ in range(3):
            out.append(parse_envelope(a.batch(polls)).payload)
    return out


CLEAN = _payloads()


def _v1() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(CLEAN[0])
    return doc


def _dump(doc: Any, **kw: Any) -> bytes:
    return json.dumps(doc, separators=kw.pop("separators", (",", ":")), **kw).encode()


def _hostile() -> list[bytes]:
    base = _dump(_v1())
    r0 = base.index(b'{"id"')
    cases = [
        base.replace(b'"quality":"good"', b'"quality":"good","quality":"bad"', 1),
        base[:r0] + b'{"v":{"a":1},' + base[r0 + 1 :],  # an object in a reading
        base[:r0] + b'{"v":' + b"[" * 40 + b"]" * 40 + b"," + base[r0 + 1 :],  # too deep
        base[:r0] + b'{"v":[[1]],' + base[r0 + 1 :],  # arrays in a reading: allowed
        base.replace(b'"count":60', b'"count":1e400', 1),
        base.replace(b'"count":60', b'"count":-1E+999', 1),
        base.replace(b'"count":60', b'"count":18446744073709551616', 1),
        base.replace(b'"count":60', b'"count":-18446744073709551615', 1),  # allowed: 2^64 - 1
        base.replace(b'"count":60', b'"count":NaN', 1),
        base.replace(b'"count":60', b'"count":Infinity', 1),
        base.replace(b'"count":60', b'"count":1' + b"0" * 400 + b".5", 1),
        base.replace(b'"count":60', b'"count":6e-400', 1),  # underflows to 0.0: allowed
        base.replace(b'"count":60', b'"count":6.5e100', 1),
        base.replace(b'"quality":"good"', b'"quality":"go\\u00f6d \\"x\\": {["', 1),
        base.replace(b'"quality":"good"', b'"quality":"\\ud800"', 1),  # lone surrogate
        base.replace(b'"quality":"good"', b'"quality":"\xff"', 1),  # not UTF-8
        base.replace(b'"quality":"good"', b'"quality" :"good","quality":"bad"', 1),
        base.replace(b'"quality":"good"', b'"quality"\t:"good"', 1),
        base.replace(b'"site":', b'"site":"a","site":', 1),
        base.replace(b'"clock":{', b'"clock":{"source":"gps",', 1),  # duplicate, nested
        base.replace(b'"prev":', b'"note":"4e500 9E+123 0e0000","prev":', 1),
        base.replace(b'"prev":', b'"note":"a\\"4e500","prev":', 1),
        base.replace(b'"prev":', b'"deep":' + b"[" * 31 + b"]" * 31 + b",", 1),  # depth 32
        base.replace(b'"prev":', b'"deep":' + b"[" * 32 + b"]" * 32 + b",", 1),  # 33
        base + b"\n",
        base + b"x",
        b" " + base,
        b"\xef\xbb\xbf" + base,
        base.replace(b'"readings":[', b'"readings":[1,', 1),
        base.replace(b'"readings":[', b'"readings":{"a":[', 1).replace(b"]", b"]}", 1),
        _dump(_v1(), separators=(", ", ": ")),
        _dump(_v1(), indent=1),
        _dump({**_v1(), "readings": []}),
        _dump({**_v1(), "readings": "none"}),
        b"[1, 2]",
        b'"text"',
        b"",
    ]
    with_inf = _v1()
    with_inf["readings"][0]["value"] = math.inf  # json.dumps writes Infinity
    cases.append(_dump(with_inf))
    return cases


@pytest.mark.parametrize("data", CLEAN + _hostile())
def test_same_value_or_same_error_as_strict_json(data: bytes) -> None:
    assert _outcome(strict_payload.loads, data) == _outcome(strict_json.loads, data)


def test_agent_payloads_take_the_fast_path() -> None:
    """Without this the differential test above would pass with the fast path unused."""
    assert all(strict_payload._fast(p) is not None for p in CLEAN)
    hex_like = _dump({**_v1(), "prev": "4e500" * 12 + "abcd"})  # a hash looking like 4e500
    assert strict_payload._fast(hex_like) is not None
    assert strict_payload._fast(CLEAN[0].replace(b'"count":60', b'"count":1e400', 1)) is None
