"""Why a reading is bad, in words: the reason codes agents put on ``bad`` readings.

Agents write short machine codes (``timeout``, ``connection``, ``exception:04``,
``backoff:timeout``, ``poll_overrun``, ``decode``, ``opcua:BadNodeIdUnknown``...); the UI, the report and
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
    "not_finite": "the device sent NaN or infinity",
    "not_numeric": "the OPC UA node holds no number (text, array or empty)",
}

#: OPC UA status codes agents report as ``opcua:NAME``: names from the OPC Foundation's code
#: table (Opc.Ua.StatusCodes.csv, as shipped by asyncua), meanings paraphrased from its
#: descriptions (OPC 10000-4 "StatusCode"; section number not checked); others by name.
OPCUA_STATUS: dict[str, str] = {
    "BadNodeIdUnknown": "no such node on the server (check the point's node_id)",
    "BadNodeIdInvalid": "the node id is not valid on this server",
    "BadNotReadable": "the node cannot be read",
    "BadUserAccessDenied": "the agent's session may not read this node",
    "BadWaitingForInitialData": "subscribed, no value reported yet",
    "BadSensorFailure": "the sensor behind the value has failed",
    "BadCommunicationError": "the server lost contact with the device behind the value",
    "BadOutOfService": "the source of the value is out of service",
    "UncertainLastUsableValue": "the server shows the last usable value (source stopped)",
    "UncertainSensorNotAccurate": "the sensor reports it is not accurate",
    "UncertainEngineeringUnitsExceeded": "outside the source's engineering range",
}


def describe_reason(reason: str | None) -> str:
    """``exception:11`` → ``Modbus exception 11: gateway target device failed to respond``;
    ``backoff:timeout`` → ``not polled (back-off after: device timeout ...)``."""
    if not reason:
        return "unknown"
    if reason.startswith("backoff:"):
        return f"not polled: back-off after failures ({describe_reason(reason[8:])})"
    if reason.startswith("opcua:"):
        name = reason[6:]
        meaning = OPCUA_STATUS.get(name)
        return f"OPC UA status {name}" + (f": {meaning}" if meaning else "")
    if reason.startswith("exception:"):
        code = reason[10:].split(":", 1)[0]
        try:
            n = int(code)
        except ValueError:
            return f"Modbus exception {code}"
        return f"Modbus exception {n}: {MODBUS_EXCEPTIONS.get(n, 'unknown exception code')}"
    return REASONS.get(reason, reason)
