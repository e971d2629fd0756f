"""The batch payload and the other v1 messages (pydantic models) and their canonical bytes.

The agent builds payloads as plain dicts on its hot path and serializes them once with
``encode_payload``; the collector validates the received bytes with ``parse_payload``.
A reading is ``{"id", "ts", "value", "quality"}`` plus ``"reason"`` when quality is not good,
and ``"count"``/``"expected"``/``"min"``/``"max"`` for interval aggregates.
"""

from __future__ import annotations

import contextlib
import re
from operator import itemgetter, methodcaller
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocols import strict_json
from protocols.compact import (
    AGGREGATES,
    MAX_EPOCH_MS,
    PARAM_ID_PATTERN,
    BatchReadings,
    SeriesColumns,
    series_columns,
)
from protocols.errors import FieldOutOfRange, PayloadInvalid, WrongType
from protocols.ids import ID_PATTERN
from protocols.wire import PAYLOAD_VERSION, encode_payload

__all__ = [
    "PAYLOAD_VERSION",
    "BatchPayload",
    "ClockState",
    "Event",
    "Reading",
    "Status",
    "encode_payload",
    "parse_payload",
    "parse_status",
    "validate_payload",
]

SiteId = Annotated[str, Field(pattern=ID_PATTERN)]
ParamId = Annotated[str, Field(pattern=PARAM_ID_PATTERN)]
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS)]  # until year 3000
Quality = Literal["good", "uncertain", "bad"]
Origin = Literal["meter", "lab", "manual", "invoice"]


class DocumentRef(BaseModel):
    """A supporting document bound into the signed payload by its SHA-256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: Hash
    name: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0, le=20 * 1024 * 1024)
    media_type: str = Field(max_length=100)


class SubmissionEvidence(BaseModel):
    """What a lab/manual/invoice reading carries besides its value (protocols.submission)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submission: str = Field(min_length=1, max_length=200)
    lab: str | None = Field(default=None, max_length=500)
    accreditation: Literal["CMA", "CNAS"] | None = None
    report_no: str | None = Field(default=None, max_length=500)
    sampled_from: EpochMs | None = None
    sampled_to: EpochMs | None = None
    note: str | None = Field(default=None, max_length=500)
    documents: list[DocumentRef] = Field(default_factory=list, max_length=50)
    replaces: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=500)


#: Integers a double holds exactly (DESIGN.md: "the sample count (an integer below 2^53)").
Count = Annotated[int, Field(ge=0, le=strict_json.MAX_SAFE_INT)]


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ParamId
    ts: EpochMs
    value: float | None
    quality: Quality
    reason: str | None = Field(default=None, max_length=500)
    count: Count | None = None
    expected: Count | None = None
    min: float | None = None
    max: float | None = None
    origin: Origin | None = None
    unit: str | None = Field(default=None, max_length=32)
    period: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None
    evidence: SubmissionEvidence | None = None

    @model_validator(mode="after")
    def _reason_when_not_good(self) -> Reading:
        if self.quality != "good" and not self.reason:
            raise ValueError("a reading whose quality is not good needs a reason")
        if (self.origin not in (None, "meter")) != (self.evidence is not None):
            raise ValueError("a lab/manual/invoice reading carries evidence, a meter one none")
        return self


class Event(BaseModel):
    """An event in a batch; ``anode_effect`` events must carry cell, start, end and peak."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
    ts: EpochMs | None = None
    cell: int | str | None = None
    start: EpochMs | None = None
    end: EpochMs | None = None
    peak_v: float | None = None

    @model_validator(mode="after")
    def _anode_effect_fields(self) -> Event:
        if self.type == "anode_effect":
            missing = [f for f in ("cell", "start", "end", "peak_v") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"anode_effect event lacks {', '.join(missing)}")
            assert self.start is not None and self.end is not None
            if self.end < self.start:
                raise ValueError("anode_effect event ends before it starts")
        return self


class ClockState(BaseModel):
    """How far the gateway's clock can be trusted while this batch was made."""

    model_config = ConfigDict(extra="allow", frozen=True)

    source: str = "system"
    synced: bool | None = None
    offset_ms: float | None = None


class BatchPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1, 2]  # 2: readings grouped per parameter (protocols.compact)
    site: SiteId
    agent: SiteId
    seq: int = Field(ge=1, le=strict_json.MAX_SAFE_INT)
    prev: Hash | None
    created: EpochMs
    clock: ClockState
    readings: list[Reading]
    events: list[Event] = Field(default_factory=list)

    @model_validator(mode="after")
    def _prev_only_null_at_start(self) -> BatchPayload:
        if (self.prev is None) != (self.seq == 1):
            raise ValueError("prev must be null exactly when seq is 1")
        return self


class Status(BaseModel):
    """Birth (``online`` true, with details) or death (``{"online": false}``, the MQTT will)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    online: bool
    agent_version: str | None = None
    config_hash: str | None = None
    kid: str | None = None
    catalogue: list[dict[str, Any]] | None = None
    clock: ClockState | None = None
    ts: EpochMs | None = None


_BOUNDS = {"less_than", "less_than_equal", "greater_than", "greater_than_equal"}


def _invalid(exc: ValidationError, what: str) -> PayloadInvalid:
    """The first error, located; a JSON value of the wrong type (no coercion: strict mode)
    gets its own reason ``wrong_type``, an integer out of its field's range (a count of 2^53,
    seq 0) ``number_range``, every other schema fault ``schema``."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or what
    kind = err.get("type", "")
    cls: type[PayloadInvalid] = PayloadInvalid
    if kind.endswith("_type"):
        cls = WrongType
    elif kind in _BOUNDS and isinstance(err.get("input"), int):
        cls = FieldOutOfRange
    return cls(f"{what} invalid at {where}: {err.get('msg')} ({exc.error_count()} error(s))")


_PLAIN_KEYS = frozenset({"id", "ts", "value", "quality", "reason", *AGGREGATES})
_QUALITY_SET = frozenset({"good", "uncertain", "bad"})
_PARAM_ID = re.compile(PARAM_ID_PATTERN)
_FLOAT = frozenset({float, int, type(None)})
_COUNT = frozenset({int, type(None)})
_OPTIONAL = tuple(methodcaller("get", k) for k in ("reason", *AGGREGATES))
_REQUIRED = tuple(itemgetter(k) for k in ("id", "ts", "value", "quality"))


def _floats(col: list[Any]) -> list[Any] | None:
    """A ``float | None`` column as the model gives it (integers as floats), or None."""
    types = set(map(type, col))
    if not _FLOAT.issuperset(types):
        return None
    return [float(x) if type(x) is int else x for x in col] if int in types else col


def _counts_ok(col: list[Any]) -> bool:
    if not _COUNT.issuperset(map(type, col)):
        return False
    present = [x for x in col if x is not None] if None in col else col
    return not present or (min(present) >= 0 and max(present) <= strict_json.MAX_SAFE_INT)


def _plain_readings(rs: Any) -> SeriesColumns | None:
    """v1 meter readings (no origin, unit, period or evidence) checked a column at a time
    under ``Reading``'s rules, in payload order; None when any reading is not plainly
    valid — then the model decides, with its own message."""
    if type(rs) is not list or not rs or not {dict}.issuperset(map(type, rs)):
        return None
    if not all(map(_PLAIN_KEYS.issuperset, rs)):
        return None
    try:
        ids, ts, value, quality = (list(map(g, rs)) for g in _REQUIRED)
    except KeyError:
        return None
    reason, count, expected, low, high = (list(map(g, rs)) for g in _OPTIONAL)
    if not {str}.issuperset(map(type, ids)) or not all(map(_PARAM_ID.fullmatch, set(ids))):
        return None
    if not {int}.issuperset(map(type, ts)) or min(ts) < 0 or max(ts) > MAX_EPOCH_MS:
        return None
    if not {str}.issuperset(map(type, quality)) or not _QUALITY_SET.issuperset(quality):
        return None
    reasons = [r for r in reason if r is not None] if None in reason else reason
    if reasons and (not {str}.issuperset(map(type, reasons)) or max(map(len, reasons)) > 500):
        return None
    if set(quality) != {"good"} and not all(
        r for q, r in zip(quality, reason, strict=True) if q != "good"
    ):
        return None
    if not _counts_ok(count) or not _counts_ok(expected):
        return None
    value, low, high = _floats(value), _floats(low), _floats(high)  # type: ignore[assignment]
    if value is None or low is None or high is None:
        return None
    return SeriesColumns(
        ids, ts, value, quality, reason, count, expected, low, high, min(ts), max(ts)
    )


def validate_payload(obj: Any) -> BatchPayload:
    """Validate a strictly parsed payload (``strict_json.loads``) without type coercion.

    Readings are checked a column at a time (a v2 series, and plain v1 meter readings);
    the model checks the rest, and every reading whenever a plain check refuses one, so
    a fault is always reported by the model, as ever."""
    if not isinstance(obj, dict):
        raise WrongType("payload is not a JSON object")
    if type(obj.get("v")) is not int:  # strict mode still takes true for the literal 1
        raise WrongType(f"payload invalid at v: {obj.get('v')!r} is not the integer 1 or 2")
    columns: list[SeriesColumns] = []
    if obj["v"] == 2:  # the compact form: series checked column by column, under v1's rules
        columns = series_columns(obj)
        obj = {k: x for k, x in obj.items() if k != "series"}
        obj.setdefault("readings", [])
    plain = _plain_readings(obj.get("readings"))
    payload = None
    if plain is not None:
        with contextlib.suppress(ValidationError):  # the full check below says why
            payload = BatchPayload.model_validate(obj | {"readings": []}, strict=True)
    if payload is None:
        try:
            payload = BatchPayload.model_validate(obj, strict=True)
        except ValidationError as exc:
            raise _invalid(exc, "payload") from None
        plain = None
    if plain is not None:
        columns.append(plain)
    if columns:
        # The readings as columns (validated above) ahead of any v1 reading models; no
        # object per reading (the collector's ingest builds its rows from the columns).
        # (a shallow copy with the readings replaced: ≈ 5 µs, a new model_construct ≈ 30)
        readings = BatchReadings(columns, [] if plain else list(payload.readings))
        payload = payload.model_copy(update={"readings": readings})
    return payload


def parse_payload(data: bytes, *, max_bytes: int | None = None) -> BatchPayload:
    """Strictly parse and validate payload bytes; raise an ``EnvelopeError`` whose ``reason``
    names the fault (``malformed``, ``too_deep``, ``duplicate_member``, ``non_finite``,
    ``number_range``, ``wrong_type``, ``schema``)."""
    return strict_json.loads_validated(
        data, validate_payload, columns_in=("series", "readings"), max_bytes=max_bytes
    )


def parse_status(data: bytes, *, max_bytes: int | None = None) -> tuple[Status, dict[str, Any]]:
    """Strictly parse a status (birth/death) message: the model and the plain data."""
    obj = strict_json.loads(data, max_bytes=max_bytes)
    if not isinstance(obj, dict):
        raise WrongType("status is not a JSON object")
    try:
        return Status.model_validate(obj, strict=True), obj
    except ValidationError as exc:
        raise _invalid(exc, "status") from None
