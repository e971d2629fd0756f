"""``mrv-collector record build|list``: monthly records from the evidence store.

Settings of a record come from the collector config's ``sites.SITE`` (time zone, industry
and its ``records:`` section) and an optional ``--settings FILE`` that overrides them (YAML
or JSON mapping with any ``RecordSettings`` field: ``interval_s``, ``counters``,
``aggregation``, the industry block ``aluminium: {pfc, faraday_ce, fuels}`` / ``cement`` /
``steel`` (merged key by key), ...). They are written
into record.json so the verifier needs nothing else.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from collector.cli_common import ConfigOpt, JsonOpt
from collector.cli_common import fail as _fail
from collector.cli_common import load_collector_config as _config

__all__ = ["record_app"]

record_app = typer.Typer(
    help="Monthly verification records (月度存证): build, sign, version, list.",
    no_args_is_help=True,
)


_BLOCKS = ("aluminium", "cement", "steel")


def _load_settings_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read settings {path}: {exc.strerror or exc}")
    except yaml.YAMLError as exc:
        _fail(f"settings {path} is not YAML/JSON: {exc}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        _fail(f"settings {path} must be a mapping")
    return data


@record_app.command("build")
def build(
    site: Annotated[str, typer.Option("--site", help="Site id")],
    month: Annotated[str, typer.Option("--month", help="Calendar month YYYY-MM (site time zone)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Bundle parent directory (default DATA_DIR/records)"),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why this version is built (required to rebuild)")
    ] = None,
    settings_file: Annotated[
        Path | None, typer.Option("--settings", help="YAML/JSON with record settings")
    ] = None,
    interval_s: Annotated[
        int | None, typer.Option("--interval-s", help="Record interval in seconds (default 3600)")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="CPU processes")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build, sign and store the next version of a site-month; write SITE_MONTH_vN/."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from collector.records.builder import build_record
    from collector.store import StoreError, store_for
    from protocols.errors import KeyFileError
    from protocols.keys import load_private_key
    from protocols.methods.errors import MethodError
    from protocols.record import RecordError, RecordSettings

    cfg = _config(config)
    if cfg.signing_key is None:
        _fail(
            "the collector config has no signing_key (the collector's Ed25519 key that signs "
            "records); create one with `mrv-agent keygen --out DIR` and set signing_key"
        )
    try:
        key = load_private_key(cfg.signing_key)
    except KeyFileError as exc:
        _fail(str(exc))
    data: dict[str, Any] = {}
    site_cfg = cfg.sites.get(site)
    if site_cfg is not None:
        data.update(site_cfg.record_settings())
    if settings_file is not None:
        for k, v in _load_settings_file(settings_file).items():
            # an industry block (``aluminium: {...}``) merges key by key into the config's
            both = isinstance(v, dict) and isinstance(data.get(k), dict) and k in _BLOCKS
            data[k] = {**data[k], **v} if both else v
    if interval_s is not None:
        data["interval_s"] = interval_s
    data["site"], data["month"] = site, month
    try:
        settings = RecordSettings.from_dict(data)
    except (RecordError, MethodError) as exc:
        _fail(str(exc))
    out_dir = out if out is not None else cfg.data_dir / "records"
    try:
        store = store_for(cfg, must_exist=True)
    except StoreError as exc:
        _fail(str(exc))
    versions = store.records
    try:
        prev = versions.latest(site, month)
        if prev is not None and not reason:
            _fail(f"{site} {month} already has v{prev.version}; rebuilding needs --reason TEXT")
        err = Console(stderr=True)
        show = not as_json and sys.stderr.isatty()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not show,
        ) as bar:
            task = bar.add_task("selecting batches", total=None, info="")

            def progress(phase: str, x: float) -> None:
                if phase == "select":
                    bar.update(task, description="selecting batches", info=f"{int(x)} batches")
                elif phase == "compute":
                    bar.update(task, description="computing", total=1.0, completed=x, info="")
                else:
                    bar.update(task, description="writing bundle", total=None, info="")

            res = build_record(
                store,
                versions,
                settings,
                signing_key=key,
                out_dir=out_dir,
                reason=reason or "initial build",
                workers=workers,
                progress=progress,
                documents=store.documents,
            )
    except (RecordError, MethodError) as exc:
        _fail(str(exc), 1 if getattr(exc, "reason", "") == "batch" else 2)
    finally:
        store.close()
    rec = res.record
    flagged = [p["id"] for p in rec["parameters"] if p["flags"]]
    summary = {
        "bundle": str(res.bundle_dir),
        "site": site,
        "month": month,
        "version": res.version,
        "record_sha256": res.record_sha256,
        "batches": rec["summary"]["batches"],
        "readings": rec["summary"]["readings"],
        "parameters": len(rec["parameters"]),
        "flags": [f["code"] for f in rec["flags"]],
        "parameters_flagged": flagged,
        "timings": {k: round(v, 3) for k, v in res.timings.items()},
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    typer.echo(f"built {site} {month} v{res.version}: {res.bundle_dir}")
    typer.echo(
        f"  {summary['batches']} batches, {summary['readings']} readings, "
        f"{summary['parameters']} parameters, record sha256 {res.record_sha256[:16]}…"
    )
    if summary["flags"]:
        typer.echo(f"  record flags: {', '.join(sorted(set(summary['flags'])))}")
    typer.echo(f"  verify with: mrv-verify {res.bundle_dir}")


@record_app.command("list")
def list_records(
    site: Annotated[str | None, typer.Option("--site", help="Only this site")] = None,
    month: Annotated[str | None, typer.Option("--month", help="Only this month")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every built record version (never deleted), oldest first."""
    from collector.store import StoreError, store_for

    cfg = _config(config)
    try:
        store = store_for(cfg, must_exist=True)
    except StoreError as exc:
        _fail(str(exc))
    with store:
        rows = store.records.list(site, month)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "site": r.site,
                        "month": r.month,
                        "version": r.version,
                        "created": datetime.fromtimestamp((r.created or 0) / 1000, UTC).isoformat(),
                        "reason": r.reason,
                        "record_sha256": r.record_sha256,
                        "bundle": r.bundle_dir,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(show_header=True)
    for col in ("site", "month", "version", "created (UTC)", "reason", "sha256", "bundle"):
        t.add_column(col, overflow="fold")  # a path wraps at 80 columns, it is never cut
    for r in rows:
        t.add_row(
            r.site,
            r.month,
            f"v{r.version}",
            datetime.fromtimestamp((r.created or 0) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            r.reason or "",
            (r.record_sha256 or "")[:12] + "…",
            r.bundle_dir or "",
        )
    Console().print(t if rows else "no records yet")
