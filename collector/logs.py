"""Structured logs: one JSON object per line, so plant log shippers can index the fields.

Call sites pass their fields as ``extra={"fields": {...}}``; the line is
``protocols.logformat``'s, the same as the agent's.
"""

from __future__ import annotations

import logging
import sys

from protocols.logformat import JsonLogFormatter

#: the shared JSON line (``protocols.logformat``): the same keys as the agent's
JsonFormatter = JsonLogFormatter


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paho/aiomqtt and urllib3 are chatty at DEBUG; keep them at WARNING unless asked.
    for name in ("mqtt", "urllib3", "influxdb_client"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
