"""Plant time: the instant a simulated (or real) plant is at, in UTC epoch milliseconds.

A real plant runs at speed 1 from the wall clock. A simulated plant runs ``speed`` times faster
than the wall clock from ``start_ms`` at the wall-clock instant ``anchor_wall_s``. Simulators and
agents given the same three numbers agree on plant time without talking to each other, because
both derive it from the same system clock. Pure arithmetic; the caller supplies wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlantClock:
    """Maps wall time (seconds, ``time.time()``) to plant time (epoch ms) and back."""

    start_ms: int | None = None  # plant time at the anchor; None: plant time is wall time
    speed: float = 1.0
    anchor_wall_s: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")

    @property
    def simulated(self) -> bool:
        return self.start_ms is not None

    def plant_ms(self, wall_s: float) -> int:
        if self.start_ms is None:
            return int(wall_s * 1000)
        return self.start_ms + int((wall_s - self.anchor_wall_s) * 1000 * self.speed)

    def wall_s(self, plant_ms: int) -> float:
        """The wall-clock instant at which the plant reaches ``plant_ms``."""
        if self.start_ms is None:
            return plant_ms / 1000
        return self.anchor_wall_s + (plant_ms - self.start_ms) / 1000 / self.speed

    def now_ms(self) -> int:
        return self.plant_ms(time.time())

    def wall_duration_s(self, plant_duration_s: float) -> float:
        return plant_duration_s / self.speed
