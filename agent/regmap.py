"""Register map (``mrv-sim describe KIND --json`` format) → agent device configs.

A register map lists, per unit id, every register with table, address, type, byte order,
unit and the range it stays in. A plant engineer who has such a map (from a vendor, or the
simulators) gets a first agent config from it instead of typing hundreds of points; the
``min``/``max`` become the out-of-range bounds that mark a reading ``uncertain``.
"""

from __future__ import annotations

from typing import Any

_MAX_SENSIBLE = 1e15  # a max this large is just the type's limit, not a plausibility bound


def devices_from_map(
    regmap: dict[str, Any],
    *,
    host: str,
    port: int,
    transport: str = "tcp",
    poll_group: str = "default",
    units: list[int] | None = None,
    ranges: bool = True,
) -> list[dict[str, Any]]:
    """One device entry per unit id of the map, every register a point (plain dicts)."""
    out: list[dict[str, Any]] = []
    for dev in regmap["devices"]:
        if units is not None and dev["unit"] not in units:
            continue
        points = []
        for r in dev["registers"]:
            pt: dict[str, Any] = {
                "id": r["name"],
                "table": r["table"],
                "address": r["address"],
                "type": r["type"],
                "byte_order": r.get("byte_order", "ABCD"),
                "unit": r.get("unit"),
                "poll_group": poll_group,
            }
            if r.get("scale", 1.0) != 1.0:
                pt["scale"] = r["scale"]
            if ranges and r.get("max") is not None and abs(r["max"]) < _MAX_SENSIBLE:
                pt["min"], pt["max"] = r.get("min"), r["max"]
            points.append(pt)
        name = dev.get("name") or f"unit_{dev['unit']}"
        out.append(
            {
                "name": name,
                "transport": transport,
                "host": host,
                "port": port,
                "unit_id": dev["unit"],
                "points": points,
            }
        )
    return out
