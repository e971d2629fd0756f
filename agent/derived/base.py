"""The one narrow interface every derived-parameter kind implements.

A kind is one module in ``agent/derived/`` that defines a pydantic ``Spec`` (its YAML shape,
with ``kind: NAME`` as the discriminator) and a ``Derived`` subclass decorated with
``@register``. The engine feeds each instance the samples of its inputs as they are polled
(``observe``) and asks for its readings and events when a batch interval closes (``close``).
State that must survive a restart (running totals, an open anode effect) goes through
``state``/``restore`` and is committed atomically with the batch that reflects it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

ParamId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]

#: A reading on the hot path: (id, ts_ms, value, quality, reason, extra-or-None).
#: ``extra`` carries interval-aggregate fields (count, expected, min, max).
ReadingTuple = tuple[str, int, float | None, str, str | None, dict[str, Any] | None]


class DerivedSpecBase(BaseModel):
    """Fields every derived parameter has: its id, unit and catalogue names."""

    model_config = ConfigDict(extra="forbid")
    if TYPE_CHECKING:  # each kind declares its own ``kind`` literal (the union's tag)
        kind: str

    id: ParamId = Field(description="Parameter id of the output, e.g. potline_energy_kwh")
    unit: str | None = Field(default=None, description="Engineering unit of the output")
    name_en: str | None = None
    name_zh: str | None = None
    aggregation: str | None = Field(
        default=None, description="How the value aggregates over a month (catalogue)"
    )

    def input_ids(self) -> list[str]:
        """Parameter ids this kind reads (raw points or other derived parameters)."""
        return []

    def output_ids(self) -> list[str]:
        """Parameter ids this kind writes; by default just ``id``."""
        return [self.id]


@dataclass(frozen=True, slots=True)
class PointInfo:
    """What a derived kind may need to know about an input that is a Modbus point."""

    scale: float
    type: str
    interval_ms: int  # the point's poll interval (plant ms)


@dataclass(slots=True)
class DerivedContext:
    """The grid derived kinds aggregate on: batch intervals of ``interval_ms`` from
    ``start_ms`` (plant time), and the points of the agent by parameter id."""

    start_ms: int
    interval_ms: int
    points: dict[str, PointInfo] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)  # every derived output id


@dataclass(slots=True)
class Interval:
    """The batch interval being closed, in plant time (epoch ms), ``start`` exclusive."""

    start_ms: int
    end_ms: int


@dataclass(slots=True)
class Output:
    readings: list[ReadingTuple] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class Derived(ABC):
    """A derived parameter instance. Subclasses set ``kind`` and ``spec_model``."""

    kind: ClassVar[str]
    spec_model: ClassVar[type[DerivedSpecBase]]

    def __init__(self, spec: DerivedSpecBase, ctx: DerivedContext) -> None:
        self.spec = spec
        self.ctx = ctx

    def inputs(self) -> list[str]:
        """The parameter ids this instance observes (patterns resolved)."""
        return self.spec.input_ids()

    @abstractmethod
    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        """Take one sample of one of ``spec.input_ids()``."""

    @abstractmethod
    def close(self, interval: Interval) -> Output:
        """Return the readings/events for the interval and start the next one."""

    def state(self) -> dict[str, Any]:
        """JSON-able state to persist with the batch (default: stateless)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what ``state`` returned before a restart."""
        return None


def interval_quality(covered_ms: int, length_ms: int) -> tuple[str, str | None]:
    """Quality of an interval value from its time coverage: ≥ 80 % good (EU MRR Art. 44(2)
    style validity), some coverage uncertain, none bad."""
    if covered_ms <= 0 or length_ms <= 0:
        return "bad", "no_data"
    if covered_ms >= 0.8 * length_ms:
        return "good", None
    return "uncertain", "low_coverage"


REGISTRY: dict[str, type[Derived]] = {}


def register(cls: type[Derived]) -> type[Derived]:
    """Class decorator: make a kind available under ``cls.kind`` in configs."""
    if cls.kind in REGISTRY:
        raise RuntimeError(f"derived kind {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls
    return cls
