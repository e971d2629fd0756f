"""The agent's one clock: every timestamp and every poll schedule goes through it.

Plant time comes from ``protocols.plant_clock.PlantClock`` (a real plant: the system clock;
a simulated plant: start + (wall − anchor) × speed). The agent also watches the system clock
against the monotonic clock: a step beyond a threshold (an NTP step, an operator setting the
date) is remembered and reported in the next batch's ``clock`` object and as a
``clock_jump`` event. Seq and chain do not depend on time, so they stay valid across a jump.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass
from typing import Any

from agent.config import ClockConfig
from protocols.plant_clock import PlantClock


@dataclass(slots=True)
class ClockJump:
    at_ms: int  # plant time after the jump
    jump_ms: int  # positive: the wall clock moved forward


def kernel_clock_synced() -> bool | None:
    """Whether the kernel says the system clock is NTP-synchronised (Linux adjtimex).

    Returns None where this cannot be asked; the batch then says ``synced: null``.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex is < 512 bytes on every ABI
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return bool(state != 5)  # TIME_ERROR: clock not synchronised


class AgentClock:
    """Plant time plus jump detection. ``now_ms`` is cheap enough for the hot path."""

    def __init__(self, cfg: ClockConfig) -> None:
        self.cfg = cfg
        start_ms = cfg.start_ms()
        if cfg.source == "simulated":
            assert cfg.anchor_wall is not None
            self.plant = PlantClock(
                start_ms=start_ms, speed=cfg.speed, anchor_wall_s=cfg.anchor_wall
            )
        else:
            self.plant = PlantClock(start_ms=None, speed=1.0)
        self.speed = self.plant.speed
        self._offset = time.time() - time.monotonic()
        self._jumps: list[ClockJump] = []
        self._synced = kernel_clock_synced() if cfg.source == "system" else True
        self._synced_checked = time.monotonic()

    def now_ms(self) -> int:
        return self.plant.plant_ms(time.time())

    def wall_delay_s(self, plant_ms: int) -> float:
        """Wall seconds from now until the plant reaches ``plant_ms`` (≥ 0)."""
        return max(0.0, self.plant.wall_s(plant_ms) - time.time())

    def check_jump(self) -> ClockJump | None:
        """Compare wall and monotonic clocks; record and return a step beyond the threshold."""
        offset = time.time() - time.monotonic()
        delta_ms = round((offset - self._offset) * 1000)
        if abs(delta_ms) < self.cfg.jump_threshold_ms:
            # Follow slow slewing so it never accumulates into a false jump.
            self._offset = offset
            return None
        self._offset = offset
        jump = ClockJump(at_ms=self.now_ms(), jump_ms=int(delta_ms * self.speed))
        self._jumps.append(jump)
        return jump

    def take_jumps(self) -> list[ClockJump]:
        jumps, self._jumps = self._jumps, []
        return jumps

    def state(self, jumps: list[ClockJump] | None = None) -> dict[str, Any]:
        """The batch/birth ``clock`` object."""
        if self.cfg.source == "system" and time.monotonic() - self._synced_checked > 60:
            self._synced = kernel_clock_synced()
            self._synced_checked = time.monotonic()
        out: dict[str, Any] = {"source": self.cfg.source, "synced": self._synced}
        if self.cfg.source == "simulated":
            out["speed"] = self.speed
            out["start_ms"] = self.plant.start_ms
            out["anchor_wall"] = self.plant.anchor_wall_s
        if jumps:
            out["jump_ms"] = sum(j.jump_ms for j in jumps)
            out["jumps"] = len(jumps)
        return out
