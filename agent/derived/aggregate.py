"""``aggregate``: an interval aggregate of a parameter — min, max, mean and sample count
against the expected count — so completeness (≥ 80 % of expected samples) is known
downstream. The mean is time-weighted (``protocols.methods.timeweighted``); the quality
follows the sample count, the way EU MRR Art. 44(2) judges an hour valid.
"""

from __future__ import annotations

from typing import Literal

from agent.derived.base import Interval, Output, register
from agent.derived.mean import MeanSpec, TimeWeightedBase


class AggregateSpec(MeanSpec):
    kind: Literal["aggregate"] = "aggregate"  # type: ignore[assignment]


@register
class AggregateDerived(TimeWeightedBase):
    kind = "aggregate"
    spec_model = AggregateSpec

    def close(self, interval: Interval) -> Output:
        out = Output()
        for a in self.closed(interval):
            expected = a.expected_count
            if a.count == 0:
                q, reason = "bad", "no_data"
            elif expected and a.count < 0.8 * expected:
                q, reason = "uncertain", "incomplete"
            else:
                q, reason = "good", None
            extra = {"count": a.count, "expected": expected}
            if a.min is not None:
                extra.update(min=a.min, max=a.max)
            out.readings.append((self.spec.id, a.end_ms, a.mean, q, reason, extra))
        return out
