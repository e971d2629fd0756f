"""Same seed and same plant time give the same values, whatever the read pattern."""

from __future__ import annotations

import pytest

from simulators import KINDS, ManualClock, PlantSimulator, build_plant

from .helpers import START_MS, client, read_device

DAY_MS = 86_400_000
INSTANTS = [
    START_MS + 1234,
    START_MS + DAY_MS // 3,
    START_MS + 2 * DAY_MS + 777,
    START_MS + 9 * DAY_MS,
]


async def _snapshot(kind: str, seed: int, order: list[int]) -> dict[int, dict[str, float]]:
    clock = ManualClock(START_MS)
    out: dict[int, dict[str, float]] = {}
    async with PlantSimulator(kind, clock=clock, seed=seed, ae_per_cell_day=2.0) as sim:
        c = client(sim.port)
        await c.connect()
        for t in order:
            clock.set_ms(t)
            values: dict[str, float] = {}
            for d in reversed(sim.map.devices) if t % 2 else sim.map.devices:
                values.update({f"{d.unit}.{k}": v for k, v in (await read_device(c, d)).items()})
            out[t] = values
        c.close()
    return out


@pytest.mark.parametrize("kind", KINDS)
async def test_same_seed_same_values_in_any_read_order(kind: str) -> None:
    forward = await _snapshot(kind, 42, INSTANTS)
    # the other plant is first asked about the far future, then goes back and forth
    shuffled = await _snapshot(kind, 42, [INSTANTS[3], INSTANTS[0], INSTANTS[2], INSTANTS[1]])
    assert forward == shuffled
    other = await _snapshot(kind, 43, INSTANTS)
    changed = [k for k, v in other[INSTANTS[2]].items() if v != forward[INSTANTS[2]][k]]
    assert len(changed) > len(forward[INSTANTS[2]]) // 3  # a different seed is a different plant


def test_potline_truth_is_independent_of_how_far_it_was_asked_before() -> None:
    a, _ = build_plant("aluminium", 8, START_MS)
    b, _ = build_plant("aluminium", 8, START_MS)
    b.truth(START_MS + 20 * DAY_MS)  # b has already run three weeks ahead
    t = START_MS + 2 * DAY_MS + 12_345
    assert a.truth(t) == b.truth(t)
