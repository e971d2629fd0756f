"""Modbus TCP plant simulators with fault injection, for tests and the end-to-end demo.

Public API::

    from simulators import PlantSimulator, Fault, FaultMode, ManualClock, parse_fault

    async with PlantSimulator("aluminium", seed=7, speed=15000, start_ms=...) as sim:
        sim.port, sim.clock, sim.describe(), sim.truth()
        f = sim.inject(Fault("timeout", unit=10, for_ms=600_000))
        sim.clear(f)
"""

from .faults import Fault, FaultError, FaultMode, parse_fault
from .plant import KINDS, Clock, ManualClock, PlantSimulator, build_plant, describe

__all__ = [
    "KINDS",
    "Clock",
    "Fault",
    "FaultError",
    "FaultMode",
    "ManualClock",
    "PlantSimulator",
    "build_plant",
    "describe",
    "parse_fault",
]
