"""Hostile batch payloads, one per class the wire contract rejects, with the quarantine
reason each must get. Built by editing the text of a valid payload, since no well-behaved
encoder would write them (``encode_payload`` refuses NaN, for one)."""

from __future__ import annotations

import json
from typing import Any

from protocols.wire import encode_payload

#: Raw (unsigned) messages: rejected at the envelope, the same on data and status topics.
RAW: list[tuple[str, bytes, str]] = [
    ("deep_brackets", b"[" * 200_000, "too_deep"),
    ("deep_objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "too_deep"),
    (
        "duplicate_envelope_member",
        b'{"payload":"e30","payload":"e30","signature":"x"}',
        "duplicate_member",
    ),
    ("not_utf8", b"\xff\xfe{}", "malformed"),
]


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def payload_edits(payload: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """``(name, payload bytes, reason)`` for a valid ``payload`` whose first reading has a
    float value and no count: each edit breaks one rule of the contract."""
    text = encode_payload(payload).decode("utf-8")
    first = payload["readings"][0]
    value = json.dumps(first["value"])
    anchor = f'"value":{value}'
    assert anchor in text

    def sub(new: str) -> bytes:
        return text.replace(anchor, new, 1).encode("utf-8")

    seq = f'"seq":{payload["seq"]}'
    return [
        ("nan", sub('"value":NaN'), "non_finite"),
        ("infinity", sub('"value":Infinity'), "non_finite"),
        ("minus_infinity", sub('"value":-Infinity'), "non_finite"),
        ("1e400", sub('"value":1e400'), "number_range"),
        ("string_value", sub('"value":"420.5"'), "wrong_type"),
        ("bool_value", sub('"value":true'), "wrong_type"),
        ("count_1e20", sub(f'{anchor},"count":1e20'), "wrong_type"),
        ("count_2e20_int", sub(f'{anchor},"count":200000000000000000000'), "number_range"),
        ("value_2e20_int", sub('"value":200000000000000000000'), "number_range"),
        ("count_2_53", sub(f'{anchor},"count":{2**53}'), "number_range"),
        ("count_negative", sub(f'{anchor},"count":-1'), "number_range"),
        ("int_5000_digits", sub(f'{anchor},"count":{"9" * 5000}'), "number_range"),
        ("seq_2_63", text.replace(seq, f'"seq":{2**63}', 1).encode(), "number_range"),
        ("seq_string", text.replace(seq, f'"seq":"{payload["seq"]}"', 1).encode(), "wrong_type"),
        ("duplicate_value", sub(f'{anchor},"value":1.0'), "duplicate_member"),
        ("duplicate_top_level", text.replace("{", '{"v":1,', 1).encode(), "duplicate_member"),
        (
            "deep_event",
            text.replace('"events":[]', f'"events":[{{"type":"x","d":{_deep(40)}}}]', 1).encode(),
            "too_deep",
        ),
        (
            "deep_recursion",
            text.replace('"events":[]', f'"events":{_deep(100_000)}', 1).encode(),
            "too_deep",
        ),
        ("not_json", b"not json", "malformed"),
        ("version_true", text.replace('"v":1', '"v":true', 1).encode(), "wrong_type"),
    ]
