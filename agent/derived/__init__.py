"""Derived-parameter kinds: one module per kind, discovered here and registered by name."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any, Union

from pydantic import Field

from agent.derived.base import (
    REGISTRY,
    Derived,
    DerivedContext,
    DerivedSpecBase,
    Interval,
    Output,
    PointInfo,
    register,
)

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _mod.name not in {"base", "engine"}:
        importlib.import_module(f"{__name__}.{_mod.name}")


def spec_union() -> Any:
    """The discriminated union of every registered kind's spec (for the config model)."""
    models = tuple(cls.spec_model for cls in REGISTRY.values())
    if not models:
        return DerivedSpecBase
    if len(models) == 1:
        return Annotated[models[0], Field(discriminator="kind")]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


def create(spec: DerivedSpecBase, ctx: DerivedContext) -> Derived:
    return REGISTRY[spec.kind](spec, ctx)


__all__ = [
    "REGISTRY",
    "Derived",
    "DerivedContext",
    "DerivedSpecBase",
    "Interval",
    "Output",
    "PointInfo",
    "create",
    "register",
    "spec_union",
]
