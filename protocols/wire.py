"""The canonical bytes of v1 messages, and the collector's ack: what a publisher needs.

``protocols.payload`` holds the message models the collector validates with and re-exports
everything here. An edge agent builds payloads as plain data and only ever parses the ack,
so it imports this module and never builds the payload models.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PAYLOAD_VERSION = 1


class Ack(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    through: int = Field(ge=0)


def encode_payload(payload: dict[str, Any] | list[Any]) -> bytes:
    """The bytes that get signed: compact UTF-8 JSON, no NaN/Infinity."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def encode_ack(through: int) -> bytes:
    return encode_payload({"through": through})
