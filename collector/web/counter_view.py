"""Cumulative counters on the parameter page, in the record's units and with its step kinds.

A counter register is stored raw (``ac_energy_mwh`` as a 32-bit count of kWh); the record
applies the site's counter settings (``records.counters.ID.scale``, width, max rate). The
chart must show the same: values times ``scale``, and a marker where the record's own
``protocols.methods.counters.counter_steps`` sees a rollover, reset, rebaseline, suspect
reading or replacement — the same function the record and ``mrv-verify`` run.
"""

from __future__ import annotations

from typing import Any

from protocols.methods.counters import CounterSpec, counter_steps

#: Step kinds worth a marker (ok, first and stale are ordinary).
MARKED = ("rollover", "reset", "replacement", "suspect", "glitch", "rebaseline")
MAX_MARKS = 500


def counter_spec(site_config: Any, param: str, aggregation: str) -> CounterSpec | None:
    """The record's spec for ``param`` when it is a counter, else None."""
    if aggregation != "counter_delta":
        return None
    records = getattr(site_config, "records", None) or {}
    cs = (records.get("counters") or {}).get(param) if isinstance(records, dict) else None
    if not isinstance(cs, dict):
        return CounterSpec()
    return CounterSpec(
        cs.get("width_bits"),
        cs.get("max_raw"),
        float(cs.get("scale", 1.0)),
        cs.get("max_rate_per_s"),
    )


def scale_series(result: dict[str, Any], scale: float) -> None:
    """Raw counts → record units, in place (bucket mean/min/max and flagged readings)."""
    if scale == 1.0:
        return
    for key in ("mean", "min", "max"):
        result[key] = [None if v is None else v * scale for v in result.get(key) or []]
    for f in result.get("flagged_readings") or []:
        if f.get("value") is not None:
            f["value"] = f["value"] * scale


def counter_marks(readings: list[tuple[int, float]], spec: CounterSpec) -> list[dict[str, Any]]:
    """Non-ordinary counter steps in the range: ``{ts, kind, raw}``."""
    out = []
    for st in counter_steps(sorted(readings), spec):
        if st.kind in MARKED:
            out.append({"ts": st.ts_ms, "kind": st.kind, "value": st.raw * spec.scale})
            if len(out) >= MAX_MARKS:
                break
    return out
