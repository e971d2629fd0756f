"""The canonical bytes of v1 messages: what a publisher needs.

``protocols.payload`` holds the message models the collector validates with and re-exports
everything here. An edge agent builds payloads as plain data, so it imports this module and
never builds the payload models; the collector's signed ack is ``protocols.ack``.
"""

from __future__ import annotations

import json
from typing import Any

#: The batch payload version agents emit: 2 is the compact form (``protocols.compact``);
#: readers accept 1 and 2 alike.
PAYLOAD_VERSION = 2


def encode_payload(payload: dict[str, Any] | list[Any]) -> bytes:
    """The bytes that get signed: compact UTF-8 JSON, no NaN/Infinity."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )
