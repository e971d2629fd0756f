"""The monthly record (月度存证): the one pure computation behind ``record build`` and
``mrv-verify``.

``compute_record(settings, payloads)`` turns batch payload bytes and :class:`RecordSettings`
into the body of ``record.json``; :func:`canonical_bytes` fixes its bytes. No I/O here: the
collector selects, signs and writes; the verifier reads, checks signatures and compares.
"""

from __future__ import annotations

import json
from typing import Any

from protocols.record.accumulate import BatchMeta, Partial, accumulate, merge_partials
from protocols.record.compute import (
    ParameterResult,
    RecordComputation,
    compute_record,
    evidence_of,
    finish_record,
)
from protocols.record.settings import (
    COMPUTATION_VERSION,
    MonthWindow,
    RecordError,
    RecordSettings,
    month_window,
)

__all__ = [
    "COMPUTATION_VERSION",
    "METADATA_KEYS",
    "BatchMeta",
    "MonthWindow",
    "ParameterResult",
    "Partial",
    "RecordComputation",
    "RecordError",
    "RecordSettings",
    "accumulate",
    "canonical_bytes",
    "compute_record",
    "evidence_of",
    "finish_record",
    "merge_partials",
    "month_window",
]

#: Members of record.json that are about the version, not computed from the batches; the
#: verifier compares everything else.
METADATA_KEYS = frozenset({"version", "reason", "created", "previous", "collector"})


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """record.json's bytes: UTF-8 JSON, keys sorted, 2-space indent, no NaN, final newline.

    Floats are written by ``repr`` (shortest round-trip form), so parsing gives back the very
    same doubles and the verifier can compare exactly.
    """
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")
