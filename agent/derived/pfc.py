"""``pfc``: running CF4, C2F6 and CO2e for the month so far, from AEM and production.

Sums AE minutes, operating cell-days and aluminium production since the start of the
current month (plant time, at ``utc_offset_h``, China: +8) and applies
``protocols.methods.pfc.pfc`` with the configured method (slope with ``ipcc2006`` /
``ipcc2019`` coefficients and a technology, the China 2024 guideline form, or Tier 1) and
GWP set. Outputs are month-to-date estimates; the monthly record recomputes the final
figures from the evidence. Sums are persisted with each batch, so a restart continues them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from protocols.methods.errors import MethodError


class PfcSpec(DerivedSpecBase):
    """``id`` is the CO2e output; ``cf4_id``/``c2f6_id`` the gas masses."""

    kind: Literal["pfc"] = "pfc"
    method: Literal["slope", "china", "tier1"] = "slope"
    technology: str | None = Field(default=None, description="CWPB, SWPB, VSS, HSS, PFPB-L ...")
    coefficients: Literal["ipcc2006", "ipcc2019"] = "ipcc2006"
    gwp: Literal["SAR", "AR4", "AR5", "AR6"] = "AR5"
    ae_minutes: ParamId | None = Field(default=None, description="AE minutes per interval")
    cell_days: ParamId | None = Field(default=None, description="Operating cell-days per interval")
    production: ParamId = Field(description="Aluminium tonnes per interval")
    cf4_id: ParamId = "cf4_t"
    c2f6_id: ParamId = "c2f6_t"
    utc_offset_h: float = Field(default=8.0, ge=-14, le=14)

    def input_ids(self) -> list[str]:
        return [i for i in (self.ae_minutes, self.cell_days, self.production) if i]

    def output_ids(self) -> list[str]:
        return [self.id, self.cf4_id, self.c2f6_id]


@register
class PfcDerived(Derived):
    kind = "pfc"
    spec_model = PfcSpec

    def __init__(self, spec: PfcSpec, ctx: DerivedContext) -> None:
        super().__init__(spec, ctx)
        self.month = ""
        self.sums = {"ae_minutes": 0.0, "cell_days": 0.0, "production": 0.0}
        self.incomplete = False

    def _month(self, ts_ms: int) -> str:
        spec: PfcSpec = self.spec  # type: ignore[assignment]
        local = datetime.fromtimestamp(ts_ms / 1000, UTC) + timedelta(hours=spec.utc_offset_h)
        return local.strftime("%Y-%m")

    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        spec: PfcSpec = self.spec  # type: ignore[assignment]
        month = self._month(ts_ms - 1)  # an interval ending at midnight belongs to the old month
        if month != self.month:
            self.month = month
            self.sums = dict.fromkeys(self.sums, 0.0)
            self.incomplete = False
        if value is None or quality == "bad":
            self.incomplete = True
            return
        key = {
            spec.ae_minutes: "ae_minutes",
            spec.cell_days: "cell_days",
            spec.production: "production",
        }.get(param)
        if key:
            self.sums[key] += value

    def close(self, interval: Interval) -> Output:
        # The method code is loaded when this kind is used: agents without it never import it.
        from protocols.methods.aem import aem_value
        from protocols.methods.pfc import pfc

        spec: PfcSpec = self.spec  # type: ignore[assignment]
        ts = interval.end_ms
        out = Output()
        aem = None
        if spec.ae_minutes and spec.cell_days and self.sums["cell_days"] > 0:
            aem = aem_value(self.sums["ae_minutes"], self.sums["cell_days"])
        try:
            r = pfc(
                spec.method,
                production_t=self.sums["production"],
                aem=aem,
                technology=spec.technology,
                coefficients=spec.coefficients,
                gwp=spec.gwp,
            )
        except MethodError as exc:
            reason: str | None = f"method:{exc}"[:200]
            for pid in spec.output_ids():
                out.readings.append((pid, ts, None, "bad", reason, None))
            return out
        q, reason = ("uncertain", "incomplete_inputs") if self.incomplete else ("good", None)
        out.readings.append((spec.id, ts, r.co2e_t, q, reason, None))
        out.readings.append((spec.cf4_id, ts, r.cf4_t, q, reason, None))
        out.readings.append((spec.c2f6_id, ts, r.c2f6_t, q, reason, None))
        return out

    def state(self) -> dict[str, Any]:
        return {"month": self.month, "sums": self.sums, "incomplete": self.incomplete}

    def restore(self, state: dict[str, Any]) -> None:
        self.month = state.get("month", "")
        self.sums.update(state.get("sums", {}))
        self.incomplete = bool(state.get("incomplete", False))
