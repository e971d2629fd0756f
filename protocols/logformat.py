"""The one JSON log line of agent and collector, so one log shipper config reads both.

    {"ts": "2026-01-01T00:00:00.123Z", "level": "info", "logger": "agent.poller",
     "event": "device_failed", ...fields..., "error": "TimeoutError: ...", "traceback": "..."}

``event`` is the message (a stable name in plant language where the call site gives one);
call sites add fields with ``extra={"fields": {...}}``. ``error`` (type and message) and
``traceback`` appear only when an exception is logged. Pure: a formatter returns a string.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)
