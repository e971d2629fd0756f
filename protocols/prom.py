"""The Prometheus text exposition format (version 0.0.4), written from plain values.

Agent and collector both serve ``/metrics``; scrapers (Prometheus, VictoriaMetrics, Telegraf)
read this format, so one pure writer keeps the two sides' output alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metric:
    name: str
    help: str
    type: str = "gauge"  # counter | gauge
    samples: list[tuple[Mapping[str, str], float]] = field(default_factory=list)

    def add(self, value: float | int | None, **labels: str) -> Metric:
        if value is not None:
            self.samples.append((labels, float(value)))
        return self


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def render(metrics: Iterable[Metric]) -> str:
    """Every metric with its HELP and TYPE lines, one sample per line."""
    out: list[str] = []
    for m in metrics:
        out.append(f"# HELP {m.name} {m.help}")
        out.append(f"# TYPE {m.name} {m.type}")
        for labels, value in m.samples:
            lab = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            out.append(
                f"{m.name}{{{lab}}} {_number(value)}" if lab else f"{m.name} {_number(value)}"
            )
    return "\n".join(out) + "\n"
