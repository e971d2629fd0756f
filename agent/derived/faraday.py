"""``faraday``: aluminium (t) per interval from potline charge by Faraday's law.

Input is a charge parameter in kA·h per interval (an ``integral`` of line current);
cells in series are a fixed number or another parameter (its last value in the interval).
The formula is ``protocols.methods.faraday.production_from_charge_t`` at the configured
current efficiency (a fraction, e.g. 0.94).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agent.derived.base import (
    Derived,
    DerivedContext,
    DerivedSpecBase,
    Interval,
    Output,
    ParamId,
    register,
)


class FaradaySpec(DerivedSpecBase):
    kind: Literal["faraday"] = "faraday"
    charge: ParamId = Field(description="Charge per interval, kA·h (an integral)")
    ce: float = Field(gt=0, le=1, description="Current efficiency as a fraction")
    cells: float | ParamId = Field(description="Cells in series: a number or a parameter id")
    total_id: ParamId | None = None

    def input_ids(self) -> list[str]:
        return [self.charge] + ([self.cells] if isinstance(self.cells, str) else [])

    def output_ids(self) -> list[str]:
        return [self.id] + ([self.total_id] if self.total_id else [])


@register
class FaradayDerived(Derived):
    kind = "faraday"
    spec_model = FaradaySpec

    def __init__(self, spec: FaradaySpec, ctx: DerivedContext) -> None:
        super().__init__(spec, ctx)
        self.charge: list[tuple[int, float | None, str]] = []
        self.cells: float | None = spec.cells if isinstance(spec.cells, float | int) else None
        self.total = 0.0

    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        spec: FaradaySpec = self.spec  # type: ignore[assignment]
        if param == spec.charge:
            self.charge.append((ts_ms, value, quality))
        elif value is not None and quality != "bad":
            self.cells = value

    def close(self, interval: Interval) -> Output:
        # The method code is loaded when this kind is used: agents without it never import it.
        from protocols.methods.faraday import production_from_charge_t

        spec: FaradaySpec = self.spec  # type: ignore[assignment]
        out = Output()
        for ts, q_ka_h, quality in self.charge:
            if q_ka_h is None or self.cells is None:
                out.readings.append((spec.id, ts, None, "bad", "input_missing", None))
                continue
            t = production_from_charge_t(q_ka_h, spec.ce, self.cells)
            self.total += t
            reason = None if quality == "good" else "input_" + quality
            out.readings.append((spec.id, ts, t, quality, reason, None))
            if spec.total_id:
                out.readings.append((spec.total_id, ts, self.total, "good", None, None))
        self.charge = []
        return out

    def state(self) -> dict[str, Any]:
        return {"total": self.total}

    def restore(self, state: dict[str, Any]) -> None:
        self.total = float(state.get("total", 0.0))
