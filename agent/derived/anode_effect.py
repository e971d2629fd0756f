"""``anode_effect``: anode effects and AE minutes per batch interval.

Two sources, as plants have them:

* ``source: voltages`` — cell voltages sampled at ≥ 1 Hz go through
  ``protocols.methods.anode_effect.AnodeEffectDetector`` (trigger voltage, minimum duration,
  merge gap, missing-sample hold). One ``anode_effect`` event per effect (cell, start, end,
  peak voltage, trigger and durations used); effects crossing an interval boundary are split.
* ``source: counters`` — pot controllers' cumulative AE count and AE-seconds registers,
  through ``ControllerAeCounters`` (counter rules: rollover, reset, glitch).

Outputs per interval: ``id`` = AE minutes, ``count_id`` = number of effects, and, when
``operating_cells`` is given, ``cell_days_id`` = operating cell-days (step-held integral of
cells in operation) — the two sums AEM is made of.
"""

from __future__ import annotations

import contextlib
import fnmatch
from typing import Any, Literal

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
from protocols.methods.errors import MethodError

_GLOB = set("*?[")


def _expand(patterns: list[str], ctx: DerivedContext) -> list[str]:
    """Parameter ids matching each entry (a glob like cell_*_voltage_v), in sorted order."""
    out: list[str] = []
    for p in patterns:
        if _GLOB & set(p):
            out.extend(sorted(i for i in ctx.points if fnmatch.fnmatchcase(i, p)))
        else:
            out.append(p)
    return out


class AnodeEffectSpec(DerivedSpecBase):
    kind: Literal["anode_effect"] = "anode_effect"
    source: Literal["voltages", "counters"] = "voltages"
    cells: list[str] = Field(
        default_factory=list, description="Cell voltage ids or globs (source: voltages)"
    )
    ae_count_inputs: list[str] = Field(default_factory=list, description="source: counters")
    ae_seconds_inputs: list[str] = Field(default_factory=list, description="source: counters")
    trigger_v: float = Field(default=8.0, gt=0)
    min_duration_s: float = Field(default=2.0, ge=0)
    merge_gap_s: float = Field(default=10.0, ge=0)
    max_missing_s: float = Field(default=10.0, ge=0)
    count_id: ParamId | None = Field(default=None, description="Default: {id}_count")
    operating_cells: ParamId | None = Field(default=None, description="Cells in operation")
    cell_days_id: ParamId = "operating_cell_days"

    def input_ids(self) -> list[str]:
        names = [*self.cells, *self.ae_count_inputs, *self.ae_seconds_inputs]
        plain = [n for n in names if not (_GLOB & set(n))]
        return plain + ([self.operating_cells] if self.operating_cells else [])

    def output_ids(self) -> list[str]:
        outs = [self.id, self.count_id or f"{self.id}_count"]
        return outs + ([self.cell_days_id] if self.operating_cells else [])


@register
class AnodeEffectDerived(Derived):
    kind = "anode_effect"
    spec_model = AnodeEffectSpec

    def __init__(self, spec: AnodeEffectSpec, ctx: DerivedContext) -> None:
        # The method code is loaded when this kind is used: agents without it never import it.
        from protocols.methods.anode_effect import (
            AnodeEffectConfig,
            AnodeEffectDetector,
            ControllerAeCounters,
        )
        from protocols.methods.counters import CounterSpec
        from protocols.methods.timeweighted import TimeWeighted

        super().__init__(spec, ctx)
        self.count_id = spec.output_ids()[1]
        self.cells = _expand(spec.cells, ctx)
        self.counts = _expand(spec.ae_count_inputs, ctx)
        self.seconds = _expand(spec.ae_seconds_inputs, ctx)
        self.cfg = AnodeEffectConfig(
            trigger_v=spec.trigger_v,
            min_duration_ms=int(spec.min_duration_s * 1000),
            merge_gap_ms=int(spec.merge_gap_s * 1000),
            max_missing_ms=int(spec.max_missing_s * 1000),
        )
        self.index = {c: i for i, c in enumerate(self.cells)}
        self.detector = (
            AnodeEffectDetector(len(self.cells), ctx.start_ms, self.cfg) if self.cells else None
        )
        self.scan_ts: int | None = None
        self.scan: list[float | None] = [None] * len(self.cells)
        # counters source
        self.cidx = {c: i for i, c in enumerate(self.counts)}
        self.sidx = {c: i for i, c in enumerate(self.seconds)}
        self.controller = (
            ControllerAeCounters(
                len(self.counts), CounterSpec(width_bits=32), CounterSpec(width_bits=32)
            )
            if self.counts and len(self.counts) == len(self.seconds)
            else None
        )
        self.ctr_ts: int | None = None
        self.ctr_counts: list[float | None] = [None] * len(self.counts)
        self.ctr_secs: list[float | None] = [None] * len(self.seconds)
        self.ctr_minutes = 0.0
        self.ctr_n = 0.0
        self.ctr_samples = 0
        self.cell_days = (
            TimeWeighted(ctx.start_ms, ctx.interval_ms, mode="step")
            if spec.operating_cells
            else None
        )
        self.cells_last_ts = -1

    def inputs(self) -> list[str]:
        spec: AnodeEffectSpec = self.spec  # type: ignore[assignment]
        extra = [spec.operating_cells] if spec.operating_cells else []
        return [*self.cells, *self.counts, *self.seconds, *extra]

    # -- samples ---------------------------------------------------------------------------

    def _flush_scan(self) -> None:
        if self.detector is not None and self.scan_ts is not None:
            with contextlib.suppress(MethodError):  # a scan older than a closed boundary
                self.detector.update(self.scan_ts, self.scan)
        self.scan = [None] * len(self.cells)
        self.scan_ts = None

    def _flush_counters(self) -> None:
        if self.controller is not None and self.ctr_ts is not None:
            try:
                d = self.controller.update(self.ctr_ts, self.ctr_counts, self.ctr_secs)
            except MethodError:
                return
            self.ctr_minutes += d.ae_minutes
            self.ctr_n += d.ae_count
            self.ctr_samples += 1
        self.ctr_counts = [None] * len(self.counts)
        self.ctr_secs = [None] * len(self.seconds)
        self.ctr_ts = None

    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        v = None if quality == "bad" else value
        i = self.index.get(param)
        if i is not None:
            if self.scan_ts is not None and ts_ms != self.scan_ts:
                if ts_ms < self.scan_ts:
                    return  # a late sample from an older scan: the detector moved on
                self._flush_scan()
            self.scan_ts = ts_ms
            self.scan[i] = v
            return
        j, k = self.cidx.get(param), self.sidx.get(param)
        if j is not None or k is not None:
            if self.ctr_ts is not None and ts_ms != self.ctr_ts:
                if ts_ms < self.ctr_ts:
                    return
                self._flush_counters()
            self.ctr_ts = ts_ms
            if j is not None:
                self.ctr_counts[j] = v
            else:
                self.ctr_secs[k] = v  # type: ignore[index]
            return
        if self.cell_days is not None and ts_ms > self.cells_last_ts:
            self.cells_last_ts = ts_ms
            self.cell_days.add(ts_ms, v)

    # -- intervals -------------------------------------------------------------------------

    def close(self, interval: Interval) -> Output:
        spec: AnodeEffectSpec = self.spec  # type: ignore[assignment]
        end = interval.end_ms
        out = Output()
        if self.detector is not None:
            if self.scan_ts is not None and self.scan_ts < end:
                self._flush_scan()
            iv = self.detector.close_interval(end)
            for ev in iv.events:
                d = ev.to_dict()
                d["cell"] = self.cells[ev.cell]
                out.events.append({"type": "anode_effect", "ts": ev.end_ms, **d})
            out.readings.append((spec.id, end, iv.ae_minutes, "good", None, None))
            out.readings.append((self.count_id, end, float(iv.ae_count), "good", None, None))
        elif self.controller is not None:
            if self.ctr_ts is not None and self.ctr_ts < end:
                self._flush_counters()
            q, r = ("good", None) if self.ctr_samples else ("bad", "no_samples")
            out.readings.append(
                (spec.id, end, self.ctr_minutes if self.ctr_samples else None, q, r, None)
            )
            out.readings.append(
                (self.count_id, end, self.ctr_n if self.ctr_samples else None, q, r, None)
            )
            self.ctr_minutes = self.ctr_n = 0.0
            self.ctr_samples = 0
        if self.cell_days is not None:
            for a in self.cell_days.flush(end):
                q, r = interval_quality(a.covered_ms, a.end_ms - a.start_ms)
                value = a.integral_h / 24.0 if a.covered_ms else None
                out.readings.append((spec.cell_days_id, a.end_ms, value, q, r, None))
            self.cells_last_ts = max(self.cells_last_ts, end - 1)
        return out

    def state(self) -> dict[str, Any]:
        return {}
