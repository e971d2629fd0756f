"""The wire contract's strict parse of a batch payload, proved clean in C where it can be.

``mrv-verify`` reads every payload of a bundle as strictly as ingest did
(``protocols.strict_json.loads``). For a v1 payload that costs about three times the
record's own parse (``json_load.load_payload``): the standard parser, then a Python walk
over every reading object. :func:`loads` returns the same object, or raises the same error,
and spends its time in C on the common payload: ``pydantic_core.from_json`` (the record's
parser, whose values are ``json.loads``'s bit for bit) and checks that prove the full check
would pass:

* no run of 20 digits in the text (so no integer beyond ±(2^64 − 1), no number of so many
  digits that it overflows);
* no infinite float anywhere (the only way one arises is an overflowing literal such as
  ``1e400``, so the reading values are searched for one only when the text has an
  exponent of three digits; ``NaN``/``Infinity`` literals are refused by the parser);
* as many ``{`` and ``[`` in the text as the parsed value has objects and arrays, so the
  reading objects (whose members are only counted, in C) hold no container, and every
  container is seen: nesting stays within ``strict_json.MAX_DEPTH``;
* as many ``:`` (or ``":`` with no blank after a quote) as the objects have members: every
  member name is followed by its own colon, so equal counts mean no name was given twice.

Anything else — a fault or a mere doubt — goes to ``strict_json.loads``, which then decides,
with the same reason as ever.
"""

from __future__ import annotations

from itertools import repeat
from operator import contains
from typing import Any

from pydantic_core import from_json

from protocols import strict_json

# the text checks strict_json's own fast path makes, shared rather than copied: both must
# draw the line between "certainly clean" and "in doubt" in the same place
from protocols.strict_json import (
    _LONG_DIGITS,
    _NUMBER_TEXT,
    _QUOTE_SPACE,
    _long_exponent,
)

__all__ = ["loads"]

_INF, _NEG_INF = float("inf"), float("-inf")
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _walk(obj: Any, skip: Any) -> tuple[int, int, int] | None:
    """(objects, arrays, members) of ``obj``'s containers, leaving out the object list
    ``skip`` (counted by the caller); None if they nest too deep or hold an infinite float."""
    objects = arrays = members = 0
    level: list[Any] = [obj]
    depth = 1
    while level:
        if depth > strict_json.MAX_DEPTH:
            return None
        deeper: list[Any] = []
        for x in level:
            if type(x) is dict:
                objects += 1
                members += len(x)
                vals: Any = list(x.values())
            else:
                arrays += 1
                vals = x
            if _INF in vals or _NEG_INF in vals:
                return None
            if not _SCALARS.issuperset(map(type, vals)):
                deeper.extend(
                    v for v in vals if (type(v) is dict or type(v) is list) and v is not skip
                )
        level, depth = deeper, depth + 1
    return objects, arrays, members


def _fast(payload: bytes) -> Any:
    """The parsed payload when it is certainly within every rule, else None."""
    if not payload.startswith(b"{"):
        return None
    digits = payload.translate(_NUMBER_TEXT)
    if _LONG_DIGITS in digits:
        return None
    infinite = _long_exponent(payload, digits)
    try:
        obj = from_json(payload, allow_inf_nan=False)
    except ValueError:
        return None
    if type(obj) is not dict:
        return None
    readings = obj.get("readings")
    if type(readings) is list and {dict}.issuperset(map(type, readings)):
        # depth 3 (payload → readings → reading): their members are scalars, proved below
        if infinite:
            values = list(map(dict.values, readings))
            if any(map(contains, values, repeat(_INF))) or any(
                map(contains, values, repeat(_NEG_INF))
            ):
                return None
        n_read, r_members = len(readings), sum(map(len, readings))
    else:
        readings, n_read, r_members = None, 0, 0
    walked = _walk(obj, readings)
    if walked is None:
        return None
    objects, arrays, members = walked
    if readings is not None:
        arrays += 1  # the readings array itself
    if payload.count(b"{") != objects + n_read or payload.count(b"[") != arrays:
        return None
    members += r_members
    if members == payload.count(b":"):
        return obj
    if members == payload.count(b'":') and not any(q in payload for q in _QUOTE_SPACE):
        return obj
    return None


def loads(payload: bytes) -> Any:
    """``strict_json.loads(payload)``: the same value, or the same ``StrictJsonError``."""
    obj = _fast(payload)
    return strict_json.loads(payload) if obj is None else obj
