"""The parameter catalogue an agent announces in its birth message.

One entry per parameter id the agent publishes: unit, English and Chinese names, how it
aggregates over a month, and where it comes from (a Modbus point or a derived kind). Names
and aggregation default to ``protocols.catalogue`` when the id is a known key parameter;
the config may override them (and must name anything the shared catalogue does not know).
"""

from __future__ import annotations

from typing import Any

from agent.config import AgentConfig
from protocols import catalogue as shared


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


def build_catalogue(cfg: AgentConfig) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for dev, pt in cfg.all_points():
        entries.append(
            _entry(
                pt.id,
                f"modbus:{dev.name}",
                unit=pt.unit,
                name_en=pt.name_en,
                name_zh=pt.name_zh,
                aggregation=pt.aggregation,
            )
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
            entries.append(_entry(out, f"derived:{spec.kind}", **given))
    return entries
