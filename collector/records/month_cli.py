"""``mrv-collector month status|seal|submit`` and ``mrv-collector year``: the monthly upload.

A reporting person sees where each month stands and when it is due; the collector operator
seals a built record version (after which it changes only as a new version with a reason)
and records its upload to the national platform with the receipt number.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from collector.cli_common import ConfigOpt, JsonOpt
from collector.cli_common import fail as _fail
from collector.cli_common import load_collector_config as _config

__all__ = ["month_app", "year"]

month_app = typer.Typer(
    help="Month status, seal and submission (月度存证上报): open → complete → record_built → "
    "sealed → submitted, with the platform and internal deadlines.",
    no_args_is_help=True,
)

STATE_ZH = {
    "open": "未完成 open",
    "complete": "数据齐全 complete",
    "record_built": "已生成 record built",
    "sealed": "已封存 sealed",
    "submitted": "已上报 submitted",
}


@contextmanager
def _open(config: Path | None) -> Iterator[tuple[Any, Any, Any, Any]]:
    from collector.store import StoreError, store_for

    cfg = _config(config)
    try:
        store = store_for(cfg, must_exist=True)
    except StoreError as exc:
        _fail(f"{exc} (start mrv-collector run first)")
    try:
        yield cfg, store, store.records, store.month_events
    finally:
        store.close()


def _site_cfg(cfg: Any, site: str) -> Any:
    from collector.config import SiteConfig

    return cfg.sites.get(site) or SiteConfig()


def statuses(
    cfg: Any, store: Any, versions: Any, events: Any, site: str | None, now_ms: int
) -> list[Any]:
    """Every site's months (or one site's), as ``MonthStatus`` objects."""
    from collector.records.month_status import site_months

    sites = [site] if site else sorted(set(store.sites()) | set(cfg.sites))
    out = []
    for s in sites:
        sc = _site_cfg(cfg, s)
        out += site_months(
            store,
            versions,
            events,
            s,
            timezone=sc.timezone,
            submission=sc.submission,
            now_ms=now_ms,
            warn_days=cfg.alarms.deadline_days,
        )
    return out


@month_app.command("status")
def status(
    site: Annotated[str | None, typer.Option("--site", help="Only this site")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Where each month stands, what is missing, and its deadlines (site time zone)."""
    now = int(time.time() * 1000)
    with _open(config) as (cfg, store, versions, events):
        rows = statuses(cfg, store, versions, events, site, now)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(show_header=True)
    for col in ("site", "month", "state", "ver", "internal", "platform"):
        t.add_column(col, no_wrap=True)
    t.add_column("to do", overflow="fold")
    for r in rows:
        todo = "; ".join(r.facts.why_not_complete()) if r.state == "open" else ""
        if r.state == "complete":
            todo = "mrv-collector record build"
        elif r.state == "record_built":
            todo = "mrv-collector month seal"
        elif r.state == "sealed":
            todo = "upload, then mrv-collector month submit"
        due = {n for n, _ in r.due}
        t.add_row(
            r.facts.site,
            r.facts.month,
            STATE_ZH[r.state],
            "" if r.facts.latest_version is None else f"v{r.facts.latest_version}",
            r.deadlines.internal_date + (" !" if "internal" in due else ""),
            r.deadlines.platform_date + (" !" if "platform" in due else ""),
            todo,
        )
    Console(width=max(80, Console().width)).print(t if rows else "no months yet")


def _latest_record(versions: Any, site: str, month: str, version: int | None) -> Any:
    rows = versions.list(site, month)
    if not rows:
        _fail(f"no record built for {site} {month} (mrv-collector record build first)")
    if version is None:
        return rows[-1]
    for r in rows:
        if r.version == version:
            return r
    _fail(
        f"{site} {month} has no version {version} (versions: {', '.join(str(r.version) for r in rows)})"
    )


@month_app.command("seal")
def seal(
    site: Annotated[str, typer.Option("--site", help="Site id")],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    by: Annotated[str, typer.Option("--by", help="Who confirms the record (name or staff id)")],
    version: Annotated[int | None, typer.Option("--version", min=1, help="Default: latest")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (required to seal again)")] = "",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Seal a built record version: the month's figures as confirmed for upload."""
    from collector.models import MonthEvent

    with _open(config) as (_cfg, _store, versions, events):
        rec = _latest_record(versions, site, month, version)
        latest = versions.list(site, month)[-1]
        if rec.version != latest.version:
            _fail(f"v{rec.version} is not the latest version of {site} {month} (v{latest.version})")
        prev = events.latest(site, month, "sealed")
        if prev is not None and prev.version == rec.version:
            _fail(f"{site} {month} v{rec.version} is already sealed (by {prev.by})")
        if prev is not None and not reason.strip():
            _fail(f"{site} {month} was sealed before (v{prev.version}): --reason is required")
        ev = MonthEvent(site, month, "sealed", rec.version, rec.record_sha256,
                        int(time.time() * 1000), by, reason)  # fmt: skip
        events.add(ev)
    typer.echo(json.dumps(ev.as_dict(), ensure_ascii=False) if as_json
               else f"sealed {site} {month} v{rec.version} ({rec.record_sha256[:12]}…) by {by}")  # fmt: skip


@month_app.command("submit")
def submit(
    site: Annotated[str, typer.Option("--site", help="Site id")],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    by: Annotated[str, typer.Option("--by", help="Who uploaded it to the platform")],
    receipt: Annotated[
        str | None, typer.Option("--receipt", help="The platform's receipt number, if any")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that the sealed version was uploaded to the national platform."""
    from collector.models import MonthEvent

    with _open(config) as (_cfg, _store, versions, events):
        sealed = events.latest(site, month, "sealed")
        latest = versions.latest(site, month)
        if sealed is None or latest is None or sealed.version != latest.version:
            _fail(
                f"{site} {month}: seal the latest record version first (mrv-collector month seal)"
            )
        ev = MonthEvent(site, month, "submitted", sealed.version, sealed.record_sha256,
                        int(time.time() * 1000), by, "", receipt)  # fmt: skip
        events.add(ev)
    typer.echo(json.dumps(ev.as_dict(), ensure_ascii=False) if as_json
               else f"submitted {site} {month} v{ev.version} by {by}"
               + (f", receipt {receipt}" if receipt else ""))  # fmt: skip


def year(
    site: Annotated[str, typer.Option("--site", help="Site id")],
    year_: Annotated[int, typer.Option("--year", min=2000, max=2100, help="Calendar year")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default DATA_DIR/years)")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The year so far: sealed months summed as the guideline sums them (JSON + xlsx)."""
    from collector.records.year import YearError, write_year
    from protocols.errors import KeyFileError
    from protocols.keys import load_private_key

    with _open(config) as (cfg, _store, versions, events):
        if cfg.signing_key is None:
            _fail("the collector config has no signing_key (it signs the annual summary too)")
        try:
            key = load_private_key(cfg.signing_key)
        except KeyFileError as exc:
            _fail(str(exc))
        try:
            res = write_year(versions, events, site, year_, out or cfg.data_dir / "years", key)
        except YearError as exc:
            _fail(str(exc))
    jws = res[0].with_suffix(".jws")
    typer.echo(json.dumps({"json": str(res[0]), "jws": str(jws), "xlsx": str(res[1])}) if as_json
               else f"wrote {res[0]} (signed: {jws.name}) and {res[1]}")  # fmt: skip
