"""Strict, bounded JSON: the one parser for everything that arrives from outside.

The wire contract (DESIGN.md "Batch payload") allows less than ``json.loads`` accepts: a
message with a duplicate member name, nesting deeper than 32, NaN/Infinity (or a number
beyond IEEE double such as ``1e400``, which Python reads as infinity), or an integer of
magnitude 2^64 or more (beyond any Modbus register and any database integer) is rejected
before anything else reads it. Fields that are counts, sequence numbers or timestamps are
bounded tighter by the message schemas (below 2^53, exact as a double). Each kind of rejection raises its own ``StrictJsonError``
subclass whose ``reason`` is the quarantine reason, so the collector, ``mrv-verify`` and the
status topic handler report the same fault the same way.

Nothing here can raise anything but ``StrictJsonError``: deep nesting that would exhaust the
interpreter's recursion (``[`` × 200,000) is caught and reported as ``too_deep``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from protocols.errors import (
    DuplicateMember,
    JsonSyntaxError,
    JsonTooDeep,
    JsonTooLarge,
    NonFiniteNumber,
    NumberOutOfRange,
    StrictJsonError,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_INT",
    "MAX_SAFE_INT",
    "StrictJsonError",
    "check_tree",
    "loads",
    "loads_validated",
]

#: Deepest nesting of arrays/objects accepted (the top-level value is depth 1).
MAX_DEPTH = 32
#: Largest integer for counts, seqs and times (schemas): 2^53 - 1, exact as a double.
MAX_SAFE_INT = 2**53 - 1
#: Largest integer magnitude anywhere: a UINT64 register's maximum, 2^64 - 1.
MAX_JSON_INT = 2**64 - 1


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise DuplicateMember(f"duplicate member name {k[:64]!r}")
            seen.add(k)
    return d


def _constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a JSON number (finite numbers only)")


def _short_int(v: int) -> str:
    return str(v) if -(10**30) < v < 10**30 else f"of {len(str(abs(v)))} digits"


def check_tree(obj: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Check depth, finiteness and integer range of a parsed value (iteratively)."""
    if type(obj) is not dict and type(obj) is not list:
        obj, max_depth = [obj], max_depth + 1  # a bare scalar: check it as an element
    stack = [(obj, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        x, depth = pop()
        if depth > max_depth:
            raise JsonTooDeep(f"nesting deeper than {max_depth}")
        for v in x.values() if type(x) is dict else x:
            t = type(v)
            if t is float:
                if v - v != 0:  # inf or nan: only from an overflowing literal such as 1e400
                    raise NumberOutOfRange("a number is beyond the range of an IEEE double")
            elif t is int:
                if not -MAX_JSON_INT <= v <= MAX_JSON_INT:
                    raise NumberOutOfRange(f"integer {_short_int(v)} is outside ±(2^64 - 1)")
            elif t is dict or t is list:
                push((v, depth + 1))


def _strict_loads(data: bytes | str, max_depth: int) -> Any:
    """The full check: a hook on every object, then a walk over every value."""
    try:
        obj = json.loads(data, object_pairs_hook=_pairs, parse_constant=_constant)
    except StrictJsonError:
        raise
    except RecursionError:
        raise JsonTooDeep(f"nesting deeper than {max_depth}") from None
    except UnicodeDecodeError:
        raise JsonSyntaxError("not JSON: not UTF-8 text") from None
    except ValueError as exc:
        if "digits" in str(exc):  # int() refuses > 4,300 digits (CVE-2020-10735 limit)
            raise NumberOutOfRange("an integer has too many digits") from None
        raise JsonSyntaxError(f"not JSON: {exc}") from None
    except Exception as exc:  # anything else the parser may raise is still a bad message
        raise JsonSyntaxError(f"not JSON: {type(exc).__name__}") from None
    check_tree(obj, max_depth=max_depth)
    return obj


#: Bytes of a number's text kept apart (digits "0", exponent "e", sign "+"), the rest " ".
_NUMBER_TEXT = bytes(
    ord("0") if 48 <= b <= 57 else ord("e") if b in b"eE" else ord("+") if b in b"+-" else ord(" ")
    for b in range(256)
)
#: An integer beyond ±(2^64 - 1) has 20 digits or more (2^64 = 18446744073709551616).
_LONG_DIGITS = b"0" * 20
#: A finite literal overflows a double (1e400) only with an exponent of three digits or
#: more, and JSON puts a digit before every exponent.
_LONG_EXPONENTS = (b"0e000", b"0e+000")
_QUOTE_SPACE = (b'" ', b'"\t', b'"\n', b'"\r')
_CONTAINERS = frozenset({dict, list})
_INF, _NEG_INF = float("inf"), float("-inf")
_DOUBT = object()
T = TypeVar("T")


def _members_if_within(
    level: list[Any], depth: int, max_depth: int, floats: bool, members: int = 0
) -> int | None:
    """``members`` plus the number of members of all objects in the containers of
    ``level`` (at ``depth``) and below; None if they nest too deep or (with ``floats``) hold
    an infinite float. Walks the containers only, a level at a time; their scalars are
    looked at in C (``map(type)``, ``in``)."""
    while level:
        if depth > max_depth:
            return None
        deeper: list[Any] = []
        for x in level:
            if type(x) is dict:
                members += len(x)
                vals: Any = x.values()
            else:
                vals = x
            types = set(map(type, vals))
            if floats and float in types and (_INF in vals or _NEG_INF in vals):
                return None
            if dict in types or list in types:
                if types <= _CONTAINERS:
                    deeper.extend(vals)
                else:
                    deeper.extend([v for v in vals if type(v) is dict or type(v) is list])
        level, depth = deeper, depth + 1
    return members


def _long_exponent(raw: bytes, digits: bytes) -> bool:
    """Whether a number outside strings may have an exponent of three digits or more (a
    hash's hex, ``"…4e500…"``, often looks like one: the quotes before it tell them apart,
    for the first few; past those, or with escapes in the text, it is taken as a number)."""
    if b"\\" in raw:  # an escaped quote would spoil the count
        return any(p in digits for p in _LONG_EXPONENTS)
    for pattern in _LONG_EXPONENTS:
        at, quotes, counted = digits.find(pattern), 0, 0
        for _ in range(8):
            if at < 0:
                break
            quotes += raw.count(b'"', counted, at)
            if quotes % 2 == 0:
                return True
            counted = at
            at = digits.find(pattern, at + 1)
        else:
            if at >= 0:
                return True
    return False


def _fast_loads(data: bytes | str, max_depth: int, columns_in: tuple[str, ...] = ()) -> Any:
    """``data`` parsed when it is certainly within every rule, else ``_DOUBT``.

    The plain C parser (no hook per object), then checks that prove the full check would
    pass: no run of 20 digits (so no integer beyond ±(2^64 - 1)), no infinite float (looked
    for only when a number has a long exponent), nesting within bounds, and as many ``:``
    (or ``":`` with no blank after a quote) as the objects have members: every member name
    is followed by its own colon, so equal counts mean no name was given twice. Anything
    else, a fault or a mere doubt, goes to the full check, which then decides, with the
    same reason as ever. ``columns_in``: see ``loads_validated``."""
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    elif json.detect_encoding(data) == "utf-8":
        raw = data
    else:
        return _DOUBT
    digits = raw.translate(_NUMBER_TEXT)
    if _LONG_DIGITS in digits:
        return _DOUBT
    floats = _long_exponent(raw, digits)
    try:
        obj = json.loads(data, parse_constant=_constant)
    except Exception:
        return _DOUBT
    t = type(obj)
    if t is not dict and t is not list:
        return obj if t is not float or obj - obj == 0 else _DOUBT
    if columns_in and t is dict and not floats:
        # the values of the objects listed in obj[name] are left to the caller's schema;
        # their members are counted (an object nested in them shows as a colon too many)
        counted = len(obj)
        top: list[Any] = []
        for k, v in obj.items():
            if k in columns_in and type(v) is list:
                if not {dict}.issuperset(map(type, v)):
                    return _DOUBT  # not a list the schema could take: the full check decides
                counted += sum(map(len, v))
            elif type(v) is dict or type(v) is list:
                top.append(v)
        members = _members_if_within(top, 2, max_depth, False, counted)
    else:
        members = _members_if_within([obj], 1, max_depth, floats)
    if members is None:
        return _DOUBT
    if members == raw.count(b":"):
        return obj
    if members == raw.count(b'":') and not any(q in raw for q in _QUOTE_SPACE):
        return obj
    return _DOUBT


def loads(data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` under the contract's rules; raise a ``StrictJsonError`` on the first fault.

    ``max_bytes`` bounds the input before parsing (reason ``too_large``). A message that
    is certainly clean takes a fast path; every other one gets the full check, so a
    rejection and its reason never depend on which path ran.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonTooLarge(f"{len(data)} bytes exceed the {max_bytes} byte limit")
    obj = _fast_loads(data, max_depth)
    if obj is _DOUBT:
        return _strict_loads(data, max_depth)
    return obj


def loads_validated(
    data: bytes,
    validate: Callable[[Any], T],
    *,
    columns_in: tuple[str, ...],
    max_bytes: int | None = None,
) -> T:
    """``validate(loads(data))``, sparing the walk over the objects listed in the top-level
    members ``columns_in`` (a payload's series and readings: most of its values).

    ``validate`` must reject the message unless each value of those objects is a scalar or
    an array of scalars (or of arrays of scalars); an object nested in them is caught here,
    by the member count. When ``validate`` raises, the full check runs first, so a fault the
    walk would have found keeps its reason."""
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonTooLarge(f"{len(data)} bytes exceed the {max_bytes} byte limit")
    obj = _fast_loads(data, MAX_DEPTH, columns_in)
    if obj is _DOUBT:
        return validate(_strict_loads(data, MAX_DEPTH))
    try:
        return validate(obj)
    except Exception:
        _strict_loads(data, MAX_DEPTH)  # raises if the text breaks a rule of its own
        raise
