"""Benchmark: time-series queries of the web API over a month of one-minute data.

Fills a real evidence store (signed batches through the verification pipeline, as in the
web tests) with a month of 1-minute readings for several parameters, then times:

* the SQL downsampling query alone (``WebSource.timeseries``) for a month at 1000 buckets,
  a week at 1000 buckets, a day (raw, 1440 readings), an hour (raw);
* the same month request end to end through the HTTP API (FastAPI over ASGI, JSON encoded);
* the site overview's completeness query (every parameter, whole month).

Not a test: it prints figures, nothing is asserted. Run from the repository root:

    .venv/bin/python bench/timeseries_query.py [--params 8] [--repeat 20] [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARAMS = (
    "line_current_ka",
    "cell_voltage_avg_v",
    "active_power_mw",
    "operating_cells",
    "line_charge_ka_h",
    "dc_energy_mwh",
    "ac_energy_mwh",
    "ae_minutes",
    "anode_consumption_t",
    "al_production_t",
    "power_import_mwh",
    "power_export_mwh",
)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float, Any]:
    """Median and max wall time and median CPU time (this process) in ms over ``repeat``
    runs (after one warm-up): on a shared machine the CPU figure is the steadier one."""
    result = fn()
    times = []
    cpu = []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(times), max(times), statistics.median(cpu), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=int, default=8, help="parameters (series) in the month")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per query")
    ap.add_argument("--db", type=Path, help="reuse/keep this store file (filled if absent)")
    args = ap.parse_args()
    params = PARAMS[: max(1, min(args.params, len(PARAMS)))]

    import httpx

    from collector.config import SiteConfig
    from collector.store.sqlite import SqliteEvidenceStore
    from collector.web import create_app
    from tests.web.simdata import MONTH, MONTH_END, MONTH_START, SITE, fill_store

    tmp = tempfile.TemporaryDirectory(prefix="mrv-bench-")
    db = args.db or Path(tmp.name) / "evidence.sqlite"
    if not db.exists():
        t0 = time.perf_counter()
        c0 = time.process_time()
        filled = fill_store(db, params=params)
        print(
            f"filled {db}: {filled.readings:,} readings in {filled.batches} signed batches, "
            f"{len(params)} parameters, one month at 1 min ({time.perf_counter() - t0:.1f} s, "
            f"{time.process_time() - c0:.1f} CPU-s)"
        )
    store = SqliteEvidenceStore(db)
    app = create_app(store, sites={SITE: SiteConfig(industry="aluminium")})
    src = app.state.source
    token, _ = app.state.tokens.add("bench", "admin")
    day = 86_400_000
    week_start = MONTH_START + 7 * day
    rows: list[tuple[str, float, float, float, str]] = []

    def q(label: str, fn: Callable[[], Any], describe: Callable[[Any], str]) -> None:
        med, worst, cpu, res = timed(fn, args.repeat)
        rows.append((label, med, worst, cpu, describe(res)))

    def pts(r: Any) -> str:
        kind = f"{r.series.bucket_ms // 1000} s buckets" if r.series.downsampled else "raw"
        return f"{r.readings:,} readings -> {len(r.series.t):,} points ({kind}), {len(r.gaps)} gaps"

    p0 = params[0]
    q(
        "month, 1000 buckets (SQL)",
        lambda: src.timeseries(SITE, p0, MONTH_START, MONTH_END, buckets=1000),
        pts,
    )
    q(
        "month, 5000 buckets (SQL)",
        lambda: src.timeseries(SITE, p0, MONTH_START, MONTH_END, buckets=5000),
        pts,
    )
    q(
        "week, 1000 buckets (SQL)",
        lambda: src.timeseries(SITE, p0, week_start, week_start + 7 * day, buckets=1000),
        pts,
    )
    q(
        "day, raw (SQL)",
        lambda: src.timeseries(SITE, p0, week_start, week_start + day, buckets=2000),
        pts,
    )
    q(
        "completeness, all parameters, month",
        lambda: src.completeness(SITE, MONTH, now=MONTH_END),
        lambda r: f"{len(r)} parameters",
    )

    async def http_month(param: str) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            r = await client.get(
                f"/api/v1/sites/{SITE}/parameters/{param}/series",
                params={"month": MONTH, "buckets": 1000},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
            return len(r.content)

    q(
        "month, 1000 buckets, HTTP API end to end",
        lambda: asyncio.run(http_month(p0)),
        lambda n: f"{n:,} bytes of JSON",
    )
    q(
        f"month, 1000 buckets, HTTP, all {len(params)} parameters",
        lambda: [asyncio.run(http_month(p)) for p in params],
        lambda ns: f"{sum(ns):,} bytes of JSON",
    )
    store.close()

    print(
        f"\nCommand: .venv/bin/python bench/timeseries_query.py --params {len(params)} --repeat {args.repeat}"
    )
    print(
        f"Store: {db.stat().st_size / 1e6:.1f} MB SQLite (WAL); median / max of {args.repeat} runs\n"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'query':<{width}}  {'median ms':>9}  {'max ms':>8}  {'CPU ms':>8}  result")
    for label, med, worst, cpu, what in rows:
        print(f"{label:<{width}}  {med:>9.1f}  {worst:>8.1f}  {cpu:>8.1f}  {what}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
