"""``mrv-collector store copy --from URL --to URL``: migrate an evidence store (e.g. a SQLite
file into PostgreSQL), verified by comparing counts and a hash of everything copied."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from collector.cli_common import JsonOpt, fail

store_app = typer.Typer(
    help="The evidence store: copy it to another backend.", no_args_is_help=True
)


@store_app.command("copy")
def copy(
    src: Annotated[str, typer.Option("--from", help="Source store URL (sqlite:///PATH, …)")],
    dst: Annotated[str, typer.Option("--to", help="Destination URL, an empty store")],
    as_json: JsonOpt = False,
) -> None:
    """Copy every key, envelope, document, quarantine entry, record, month event and token; exit 0
    only when both stores then give the same counts and the same SHA-256."""
    from collector.store import StoreError, open_store, redact
    from collector.store.copy import copy_store

    try:
        source = open_store(src, must_exist=True)
    except StoreError as exc:
        fail(f"--from: {exc}")
    try:
        dest = open_store(dst)
    except StoreError as exc:
        source.close()
        fail(f"--to: {exc}")
    try:
        report = copy_store(source, dest)
    except StoreError as exc:
        fail(f"--to: {exc}")
    finally:
        source.close()
        dest.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "from": redact(src),
                    "to": redact(dst),
                    "source": report.source.as_dict(),
                    "destination": report.destination.as_dict(),
                    "problems": report.problems,
                }
            )
        )
    else:
        counts = ", ".join(f"{v} {k}" for k, v in report.source.counts.items())
        verdict = "identical" if report.ok else "DIFFERENT"
        typer.echo(f"copied {counts}")
        typer.echo(
            f"source sha256 {report.source.sha256[:16]}…, destination "
            f"{report.destination.sha256[:16]}…: {verdict}"
        )
        for p in report.problems:
            typer.echo(f"  problem: {p}", err=True)
    raise typer.Exit(0 if report.ok else 1)
