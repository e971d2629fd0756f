"""``expression``: small, safe arithmetic over other parameters, e.g.
``power_import_mwh - power_export_mwh`` or ``clinker_t / (coal_kiln_t + coal_calciner_t)``.

Parsed once with ``ast`` and evaluated by walking the tree: numbers, parameter names,
``+ - * / // % **``, unary ``-``, and ``min``/``max``/``abs``/``sqrt``. No ``eval``, no
attribute access, no other calls. Evaluated when a batch interval closes on the last value
each input had in it; the quality is the worst of the inputs' qualities.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator

from agent.derived.base import (
    Derived,
    DerivedContext,
    DerivedSpecBase,
    Interval,
    Output,
    register,
)

_BINOPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCS: dict[str, Callable[..., float]] = {"min": min, "max": max, "abs": abs, "sqrt": math.sqrt}
_RANK = {"good": 0, "uncertain": 1, "bad": 2}


class ExpressionError(ValueError):
    pass


def compile_expression(text: str) -> tuple[ast.expr, list[str]]:
    """Parse and vet ``text``; return the tree and the parameter names it uses."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"not an arithmetic expression: {exc.msg}") from None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in _FUNCS and node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS or node.keywords:
                raise ExpressionError(f"only {', '.join(_FUNCS)} may be called")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float) or isinstance(node.value, bool):
                raise ExpressionError(f"only numbers are allowed, not {node.value!r}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        elif not isinstance(node, ast.Load | ast.operator | ast.unaryop):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    return tree, names


def evaluate(node: ast.expr, values: dict[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # parse admits numbers only
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](evaluate(node.left, values), evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        v = evaluate(node.operand, values)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return float(_FUNCS[node.func.id](*(evaluate(a, values) for a in node.args)))
    raise ExpressionError(f"{type(node).__name__} is not allowed")


class ExpressionSpec(DerivedSpecBase):
    kind: Literal["expression"] = "expression"
    expr: str = Field(description="Arithmetic over parameter ids, e.g. a - b")

    @field_validator("expr")
    @classmethod
    def _vet(cls, v: str) -> str:
        compile_expression(v)
        return v

    def input_ids(self) -> list[str]:
        return compile_expression(self.expr)[1]


@register
class ExpressionDerived(Derived):
    kind = "expression"
    spec_model = ExpressionSpec

    def __init__(self, spec: ExpressionSpec, ctx: DerivedContext) -> None:
        super().__init__(spec, ctx)
        self.tree, self.names = compile_expression(spec.expr)
        self.last: dict[str, tuple[float | None, str]] = {}

    def observe(self, param: str, ts_ms: int, value: float | None, quality: str) -> None:
        self.last[param] = (value, quality)

    def close(self, interval: Interval) -> Output:
        ts = interval.end_ms
        out = Output()
        missing = [n for n in self.names if self.last.get(n, (None, "bad"))[0] is None]
        if missing:
            reason: str | None = ("input_missing:" + ",".join(missing))[:200]
            out.readings.append((self.spec.id, ts, None, "bad", reason, None))
        else:
            values = {n: float(self.last[n][0]) for n in self.names}  # type: ignore[arg-type]
            quality = max(
                (self.last[n][1] for n in self.names), key=_RANK.__getitem__, default="good"
            )
            try:
                v = evaluate(self.tree, values)
                if not math.isfinite(v):
                    raise ArithmeticError("not finite")
                reason = None if quality == "good" else "input_" + quality
                out.readings.append((self.spec.id, ts, v, quality, reason, None))
            except (ArithmeticError, ValueError) as exc:
                out.readings.append((self.spec.id, ts, None, "bad", f"math:{exc}"[:200], None))
        return out

    def state(self) -> dict[str, Any]:
        return {}
