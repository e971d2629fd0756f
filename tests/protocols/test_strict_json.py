"""Strict, bounded JSON (protocols.strict_json) and the payload reasons built on it."""

from __future__ import annotations

import json

import pytest

from protocols import strict_json
from protocols.envelope import parse_envelope
from protocols.errors import EnvelopeError, StrictJsonError
from protocols.payload import parse_payload, parse_status
from tests.support.hostile import RAW, payload_edits


def _payload() -> dict[str, object]:
    return {
        "v": 1,
        "site": "s1",
        "agent": "a1",
        "seq": 7,
        "prev": "ab" * 32,
        "created": 1_760_000_000_000,
        "clock": {"source": "system", "synced": True},
        "readings": [{"id": "x", "ts": 1_760_000_000_000, "value": 430.5, "quality": "good"}],
        "events": [],
    }


@pytest.mark.parametrize(("name", "data", "reason"), payload_edits(_payload()))
def test_each_hostile_payload_has_its_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_payload(data)
    assert info.value.reason == reason, (name, str(info.value))


@pytest.mark.parametrize(("name", "data", "reason"), RAW)
def test_hostile_envelopes_and_status_messages(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError) as env:
        parse_envelope(data)
    assert env.value.reason == reason, name
    with pytest.raises(EnvelopeError) as st:
        parse_status(data)
    assert st.value.reason == reason, name


def test_valid_json_is_what_json_loads_gives() -> None:
    text = json.dumps(_payload() | {"n": [1, -2.5, None, True, "é", {"k": []}]}).encode()
    assert strict_json.loads(text) == json.loads(text)
    assert parse_payload(json.dumps(_payload()).encode()).readings[0].value == 430.5


def test_depth_bound_is_32_and_size_bound_is_checked_first() -> None:
    assert strict_json.loads("[" * 32 + "]" * 32) is not None
    with pytest.raises(StrictJsonError) as deep:
        strict_json.loads("[" * 33 + "]" * 33)
    assert deep.value.reason == "too_deep"
    with pytest.raises(StrictJsonError) as big:
        strict_json.loads(b"[" * 200_000, max_bytes=1000)
    assert big.value.reason == "too_large"


def test_integer_bounds() -> None:
    """Any integer up to a UINT64 register's maximum; counts and seqs below 2^53 (schema)."""
    assert strict_json.loads(str(2**64 - 1)) == 2**64 - 1
    assert strict_json.loads(str(-(2**64 - 1))) == -(2**64 - 1)
    for bad in (str(2**64), str(-(2**64)), "1e400", "-1e400"):
        with pytest.raises(StrictJsonError) as info:
            strict_json.loads(bad)
        assert info.value.reason == "number_range"
    assert strict_json.loads("1e308") == 1e308  # large but finite doubles are fine
