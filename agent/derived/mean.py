"""``mean``: the time-weighted mean of a parameter over each batch interval.

``protocols.methods.timeweighted.TimeWeighted`` (sample-and-hold by default, trapezoid for
smooth signals), the same class the collector uses. The reading carries ``count`` and
``expected`` samples plus ``min``/``max``, so completeness is known downstream.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.derived.base import (
    Derived,
    DerivedContext,
    DerivedSpecBase,
    Interval,
    Output,
    ParamId,
    interval_quality,
    register,
)


class MeanSpec(DerivedSpecBase):
    kind: Literal["mean"] = "mean"
    input: ParamId
    mode: Literal["step", "trapezoid"] = "step"
    max_gap_s: float | None = Field(
        default=None, gt=0, description="A sample holds at most this long (plant seconds)"
    )

    def input_ids(self) -> list[str]:
        return [self.input]


class TimeWeightedBase(Derived):
    """Shared by ``mean``, ``integral`` and ``aggregate``: one TimeWeighted on the grid."""

    def __init__(self, spec: MeanSpec, ctx: DerivedContext) -> None:
        # The method code is loaded when this kind is used: agents without it never import it.
        from protocols.methods.timeweighted import TimeWeighted

        super().__init__(spec, ctx)
        point = ctx.points.get(spec.input)
        self.expected = ctx.interval_ms // point.interval_ms if point else None
        gap = spec.max_gap_s
        if gap is None and point is not None:
            gap = 3 * point.interval_ms / 1000  # a sample stands for at most 3 poll slots
        self.tw = TimeWeighted(
            ctx.start_ms,
            ctx.interval_ms,
            mode=spec.mode,
            max_gap_ms=int(gap * 1000) if gap else None,
            expected_count=self.expected,
        )
        self.last_ts = -1

    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        if ts_ms <= self.last_ts:
            return
        self.last_ts = ts_ms
        self.tw.add(ts_ms, None if quality == "bad" else value)

    def closed(self, interval: Interval) -> list:
        aggs = [a for a in self.tw.flush(interval.end_ms) if a.end_ms <= interval.end_ms]
        if self.last_ts < interval.end_ms:
            self.last_ts = interval.end_ms - 1
        return aggs


@register
class MeanDerived(TimeWeightedBase):
    kind = "mean"
    spec_model = MeanSpec

    def close(self, interval: Interval) -> Output:
        out = Output()
        for a in self.closed(interval):
            q, reason = interval_quality(a.covered_ms, a.end_ms - a.start_ms)
            extra = {"count": a.count, "expected": a.expected_count, "min": a.min, "max": a.max}
            if a.min is None:
                extra = {"count": a.count, "expected": a.expected_count}
            out.readings.append((self.spec.id, a.end_ms, a.mean, q, reason, extra))
        return out
