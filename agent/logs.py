"""Structured logs: one JSON object per line on stderr, so plant log shippers can parse them.

Call ``log.info("batch_committed", seq=5, readings=1200)``: the first argument is a stable
event name in plant language, the rest are fields. Plain ``logging`` underneath, so library
logs (pymodbus, paho) end up in the same stream.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from protocols.logformat import JsonLogFormatter

_CONFIGURED = False


#: the shared JSON line (``protocols.logformat``): the same keys as the collector's
JsonFormatter = JsonLogFormatter


class EventLogger:
    """A thin wrapper that turns keyword arguments into structured fields."""

    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(name)

    def _emit(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, event, extra={"fields": fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, event, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def configure(level: str = "info") -> None:
    """Route every log record to stderr as JSON lines (idempotent)."""
    global _CONFIGURED
    root = logging.getLogger()
    root.setLevel(level.upper())
    if _CONFIGURED:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    # Third-party libraries are chatty at INFO; keep their warnings and errors only.
    for noisy in ("pymodbus", "asyncio", "aiomqtt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    _CONFIGURED = True
