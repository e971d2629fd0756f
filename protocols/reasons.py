"""Why a reading is bad, in words: the reason codes agents put on ``bad`` readings.

Agents write short machine codes (``timeout``, ``connection``, ``exception:04``,
``backoff:timeout``, ``poll_overrun``, ``decode``...); the UI, the report and
``mrv-agent check`` show them with this text. Modbus exception codes are those of the
Modbus Application Protocol Specification V1.1b3, §7 "MODBUS Exception Responses".
"""

from __future__ import annotations

#: Modbus exception code → meaning (Modbus Application Protocol V1.1b3, §7).
MODBUS_EXCEPTIONS: dict[int, str] = {
    1: "illegal function (the device does not support this read)",
    2: "illegal data address (no such register: check address and table)",
    3: "illegal data value (e.g. too many registers in one request)",
    4: "server device failure (the device could not perform the read)",
    5: "acknowledge (long operation accepted; not answered yet)",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable (the gateway has no route to the unit)",
    11: "gateway target device failed to respond (unit behind the gateway is silent)",
}

REASONS: dict[str, str] = {
    "timeout": "device timeout (no answer within the configured timeout)",
    "connection": "no connection to the device (refused, unreachable or closed)",
    "short_response": "the device answered with fewer registers than asked",
    "decode": "the registers could not be decoded as the configured type",
    "poll_overrun": "poll slot missed: the previous poll took longer than the interval",
    "frozen": "value frozen: unchanged for the configured number of polls",
    "out_of_range": "value outside the configured min/max",
}


def describe_reason(reason: str | None) -> str:
    """``exception:11`` → ``Modbus exception 11: gateway target device failed to respond``;
    ``backoff:timeout`` → ``not polled (back-off after: device timeout ...)``."""
    if not reason:
        return "unknown"
    if reason.startswith("backoff:"):
        return f"not polled: back-off after failures ({describe_reason(reason[8:])})"
    if reason.startswith("exception:"):
        code = reason[10:].split(":", 1)[0]
        try:
            n = int(code)
        except ValueError:
            return f"Modbus exception {code}"
        return f"Modbus exception {n}: {MODBUS_EXCEPTIONS.get(n, 'unknown exception code')}"
    return REASONS.get(reason, reason)
