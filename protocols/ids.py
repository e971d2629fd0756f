"""Site and agent identifiers: ``[A-Za-z0-9_-]{1,64}`` (DESIGN.md, wire contract)."""

from __future__ import annotations

import re

from protocols.errors import InvalidId

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def validate_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid site/agent id, else raise ``InvalidId`` saying why."""
    if not isinstance(value, str):
        raise InvalidId(f"{what} must be a string, got {type(value).__name__}")
    if not _ID_RE.fullmatch(value):
        raise InvalidId(
            f"{what} {value!r} is not valid: use 1 to 64 characters from A-Z a-z 0-9 _ -"
        )
    return value
