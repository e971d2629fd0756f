"""``integral``: the time integral of a parameter per batch interval, and its running total.

Power (kW) → energy (kWh), line current (kA) → charge (kA·h); ``factor`` converts units
(e.g. 0.001 for kWh → MWh). Integration is ``protocols.methods.timeweighted`` (value·hours),
so the collector and verifier integrate identically. Feed a ``faraday`` parameter from the
charge to get aluminium at a configured current efficiency.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agent.derived.base import Interval, Output, ParamId, interval_quality, register
from agent.derived.mean import MeanSpec, TimeWeightedBase


class IntegralSpec(MeanSpec):
    kind: Literal["integral"] = "integral"  # type: ignore[assignment]
    factor: float = Field(default=1.0, description="Multiplies value·hours, e.g. 0.001")
    total_id: ParamId | None = Field(default=None, description="Running total output, if any")

    def output_ids(self) -> list[str]:
        return [self.id] + ([self.total_id] if self.total_id else [])


@register
class IntegralDerived(TimeWeightedBase):
    kind = "integral"
    spec_model = IntegralSpec

    def __init__(self, spec: IntegralSpec, ctx: Any) -> None:
        super().__init__(spec, ctx)
        self.total = 0.0

    def close(self, interval: Interval) -> Output:
        spec: IntegralSpec = self.spec  # type: ignore[assignment]
        out = Output()
        for a in self.closed(interval):
            q, reason = interval_quality(a.covered_ms, a.end_ms - a.start_ms)
            value = a.integral_h * spec.factor
            self.total += value
            extra = {"count": a.count, "expected": a.expected_count}
            out.readings.append(
                (spec.id, a.end_ms, value if a.covered_ms else None, q, reason, extra)
            )
            if spec.total_id:
                out.readings.append((spec.total_id, a.end_ms, self.total, "good", None, None))
        return out

    def state(self) -> dict[str, Any]:
        return {"total": self.total}

    def restore(self, state: dict[str, Any]) -> None:
        self.total = float(state.get("total", 0.0))
