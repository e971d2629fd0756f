"""``mrv-collector``: the central collector's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Plant MRV collector: verify and store signed batches, build monthly records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def run(
    config: Annotated[Path, typer.Option("-c", "--config", help="Collector YAML config")],
) -> None:
    """Ingest from MQTT, store, ack, serve the HTTP API and web UI."""
    fail("mrv-collector run: not yet available (issue 6)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
