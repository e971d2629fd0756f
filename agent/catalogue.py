"""The parameter catalogue an agent announces in its birth message.

One entry per parameter id the agent publishes: unit, English and Chinese names, how it
aggregates over a month, and where it comes from (a Modbus point or a derived kind). Names
and aggregation default to ``protocols.catalogue`` when the id is a known key parameter;
the config may override them (and must name anything the shared catalogue does not know).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.config import AgentConfig
from protocols import catalogue as shared
from protocols.wire import encode_payload


def _defaults(pid: str) -> dict[str, Any]:
    try:
        p = shared.parameter(pid)
    except KeyError:
        return {}
    return {
        "unit": p.unit,
        "name_en": p.name_en,
        "name_zh": p.name_zh,
        "aggregation": p.aggregation.value,
        "key_parameter": True,
    }


def _entry(pid: str, source: str, **given: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": pid, **_defaults(pid)}
    for k, v in given.items():
        if v is not None:
            out[k] = v
    out.setdefault("aggregation", "time_weighted_mean")
    out.setdefault("key_parameter", False)
    out["source"] = source
    return out


def iter_catalogue(cfg: AgentConfig) -> Iterator[dict[str, Any]]:
    """The catalogue entries one by one, in announcement order."""
    for dev in cfg.devices:
        source = f"{dev.driver}:{dev.name}"
        for pt in dev.points:
            yield _entry(
                pt.id,
                source,
                unit=pt.unit,
                name_en=pt.name_en,
                name_zh=pt.name_zh,
                aggregation=pt.aggregation,
            )
    for spec in cfg.derived:
        for out in spec.output_ids():
            given = (
                {
                    "unit": spec.unit,
                    "name_en": spec.name_en,
                    "name_zh": spec.name_zh,
                    "aggregation": spec.aggregation,
                }
                if out == spec.id
                else {}
            )
            yield _entry(out, f"derived:{spec.kind}", **given)


def build_catalogue(cfg: AgentConfig) -> list[dict[str, Any]]:
    return list(iter_catalogue(cfg))


_PIECE_ENTRIES = 256


def catalogue_json(cfg: AgentConfig) -> bytes:
    """``encode_payload(build_catalogue(cfg))``, without every entry's dict at once.

    The birth message carries one entry per parameter: with thousands of points the dicts
    would be megabytes for a moment; here each entry is encoded as it is made.
    """
    pieces: list[bytes] = []
    entries: list[bytes] = []
    for entry in iter_catalogue(cfg):
        entries.append(encode_payload(entry))
        if len(entries) == _PIECE_ENTRIES:
            pieces.append(b",".join(entries))
            entries = []
    if entries:
        pieces.append(b",".join(entries))
    return b"[" + b",".join(pieces) + b"]"
