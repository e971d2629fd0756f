"""``counter``: a cumulative register → interval delta and running total.

Uses ``protocols.methods.counters.Counter`` (rollover at 16/32/64 bit, reset or meter
replacement, glitches, frozen counters), so the agent, the collector and the verifier count
the same way. The input is the point's engineering value; the raw count is recovered with
the point's scale, and the width defaults to the point's integer type.

Outputs per batch interval: ``id`` = the interval's delta (good; uncertain with the reason
when the counter reset, was replaced or looked implausible; bad when no sample came) and
``total_id`` = running total since the agent was first started (persisted with the batch).
"""

from __future__ import annotations

import math
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

_WIDTH = {"UINT16": 16, "INT16": 16, "UINT32": 32, "INT32": 32, "UINT64": 64, "INT64": 64}
_NOTABLE = {"reset", "replacement", "suspect", "rebaseline", "invalid"}


class CounterDerivedSpec(DerivedSpecBase):
    kind: Literal["counter"] = "counter"
    input: ParamId = Field(description="The cumulative point, e.g. energy_import_kwh")
    total_id: ParamId | None = Field(default=None, description="Default: {id}_total")
    width_bits: Literal[16, 32, 64] | None = Field(
        default=None, description="Register width; default from the point's type"
    )
    scale: float | None = Field(
        default=None, gt=0, description="Units per raw count; default the point's scale"
    )
    max_rate_per_s: float | None = Field(default=None, gt=0)
    frozen_after_s: float | None = Field(default=None, gt=0)
    factor: float = Field(default=1.0, gt=0, description="Output units per input unit")

    def input_ids(self) -> list[str]:
        return [self.input]

    def output_ids(self) -> list[str]:
        return [self.id, self.total_id or f"{self.id}_total"]


@register
class CounterDerived(Derived):
    kind = "counter"
    spec_model = CounterDerivedSpec

    def __init__(self, spec: CounterDerivedSpec, ctx: DerivedContext) -> None:
        # The method code is loaded when this kind is used: agents without it never import it.
        from protocols.methods.counters import Counter, CounterSpec

        super().__init__(spec, ctx)
        point = ctx.points.get(spec.input)
        self.scale = spec.scale or (point.scale if point else 1.0)
        width = spec.width_bits or (_WIDTH.get(point.type) if point else None)
        self.integer = width is not None
        self.counter_spec = CounterSpec(
            width_bits=width,
            scale=self.scale,
            max_rate_per_s=spec.max_rate_per_s,
            frozen_after_ms=int(spec.frozen_after_s * 1000) if spec.frozen_after_s else None,
        )
        self.counter = Counter(self.counter_spec)
        self.total_id = spec.output_ids()[1]
        self.total = 0.0
        self.delta = 0.0
        self.samples = 0
        self.kinds: set[str] = set()
        self.frozen = False
        self.last: tuple[int, float] | None = None  # (ts, raw) for restarts

    def _raw(self, value: float) -> float:
        raw = value / self.scale
        return round(raw) if self.integer else raw

    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        if value is None or quality == "bad" or not math.isfinite(value):
            return
        raw = self._raw(value)
        step = self.counter.update(ts_ms, raw)
        if step.kind == "stale":
            return
        self.samples += 1
        self.delta += step.delta * self.spec.factor  # type: ignore[attr-defined]
        self.total += step.delta * self.spec.factor  # type: ignore[attr-defined]
        self.frozen = step.frozen
        if step.kind in _NOTABLE:
            self.kinds.add(step.kind)
        if step.kind not in ("suspect", "invalid"):
            self.last = (ts_ms, raw)

    def close(self, interval: Interval) -> Output:
        ts = interval.end_ms
        out = Output()
        if self.samples == 0:
            out.readings.append((self.spec.id, ts, None, "bad", "no_samples", None))
        elif self.kinds:
            reason = "counter_" + "_".join(sorted(self.kinds))
            out.readings.append((self.spec.id, ts, self.delta, "uncertain", reason, None))
            out.events.append(
                {
                    "type": "counter_anomaly",
                    "ts": ts,
                    "param": self.spec.id,
                    "kinds": sorted(self.kinds),
                }
            )
        elif self.frozen:
            out.readings.append((self.spec.id, ts, self.delta, "uncertain", "frozen", None))
        else:
            out.readings.append((self.spec.id, ts, self.delta, "good", None, None))
        out.readings.append((self.total_id, ts, self.total, "good", None, None))
        self.delta = 0.0
        self.samples = 0
        self.kinds = set()
        return out

    def state(self) -> dict[str, Any]:
        return {"total": self.total, "last": list(self.last) if self.last else None}

    def restore(self, state: dict[str, Any]) -> None:
        self.total = float(state.get("total", 0.0))
        last = state.get("last")
        if last:
            # Re-seed the counter so the first reading after a restart counts from here.
            self.counter.update(int(last[0]), last[1])
            self.last = (int(last[0]), last[1])
