"""Runs the configured derived parameters: feeds them samples, closes them per batch interval.

Derived parameters may read other derived parameters (PFC reads AEM and production), so they
are closed in dependency order and each one's outputs are observed by its dependents before
those are closed in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.derived.base import (
    Derived,
    DerivedContext,
    DerivedSpecBase,
    Interval,
    Output,
    ReadingTuple,
)


def dependency_order(specs: Sequence[DerivedSpecBase]) -> list[DerivedSpecBase]:
    """Specs sorted so every spec comes after the derived specs it reads; raise on a cycle."""
    produced = {out: s for s in specs for out in s.output_ids()}
    order: list[DerivedSpecBase] = []
    state: dict[int, int] = {}  # 1: visiting, 2: done

    def visit(s: DerivedSpecBase, trail: list[str]) -> None:
        mark = state.get(id(s))
        if mark == 2:
            return
        if mark == 1:
            raise ValueError(f"derived parameters form a cycle: {' -> '.join([*trail, s.id])}")
        state[id(s)] = 1
        for inp in s.input_ids():
            dep = produced.get(inp)
            if dep is not None:
                visit(dep, [*trail, s.id])
        state[id(s)] = 2
        order.append(s)

    for s in specs:
        visit(s, [])
    return order


class DerivedEngine:
    def __init__(self, specs: Sequence[DerivedSpecBase], ctx: DerivedContext) -> None:
        from agent.derived import create

        ctx.outputs = {o for s in specs for o in s.output_ids()}
        self.items: list[Derived] = [create(s, ctx) for s in dependency_order(specs)]
        self.by_input: dict[str, list[Derived]] = {}
        for d in self.items:
            for inp in d.inputs():
                self.by_input.setdefault(inp, []).append(d)

    def __bool__(self) -> bool:
        return bool(self.items)

    def observe(self, readings: Sequence[ReadingTuple]) -> None:
        by_input = self.by_input
        if not by_input:
            return
        for r in readings:
            targets = by_input.get(r[0])
            if targets:
                for d in targets:
                    d.observe(r[0], r[1], r[2], r[3])

    def close(self, interval: Interval) -> Output:
        total = Output()
        for d in self.items:
            out = d.close(interval)
            total.readings.extend(out.readings)
            total.events.extend(out.events)
            self.observe(out.readings)
        return total

    def state(self) -> dict[str, Any]:
        return {d.spec.id: d.state() for d in self.items}

    def restore(self, states: dict[str, Any]) -> None:
        for d in self.items:
            st = states.get(d.spec.id)
            if st:
                d.restore(st)
