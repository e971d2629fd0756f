"""What every ``mrv-collector`` subcommand group shares: options, errors, config lookup.

One place so that ``-c`` means the same everywhere (``-c FILE``, else
``$MRV_COLLECTOR_CONFIG``, else ``./collector.yaml``) and every error is one line on stderr
with the contract's exit codes (2 usage/config, 1 a check failed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from collector.config import CollectorConfig

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c",
        "--config",
        help="Collector YAML config (default: $MRV_COLLECTOR_CONFIG, else ./collector.yaml)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit (2: usage/config, 1: a check failed)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def config_path(path: Path | None, *, alternative: str = "") -> Path:
    """The config file a command should read; fails with a hint when there is none."""
    if path is not None:
        return path
    env = os.environ.get("MRV_COLLECTOR_CONFIG")
    found = Path(env) if env else Path("collector.yaml")
    if not found.exists():
        fail(f"no collector config: pass -c FILE{alternative} or set MRV_COLLECTOR_CONFIG")
    return found


def load_collector_config(path: Path | None) -> CollectorConfig:
    """Load and validate the collector config named by ``-c`` (or its defaults)."""
    from collector.config import ConfigError, load_config

    try:
        return load_config(config_path(path))
    except ConfigError as exc:
        fail(str(exc))
