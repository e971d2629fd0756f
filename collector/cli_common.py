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
        cfg = load_config(config_path(path))
        check_data_dir(cfg.data_dir)
    except ConfigError as exc:
        fail(str(exc))
    return cfg


#: Largest id an SQLite INTEGER holds (quarantine entries, envelope ids).
MAX_ID = 2**63 - 1


def check_id(value: int, what: str) -> int:
    """An id given on the command line, bounded before it reaches the store."""
    if not 1 <= value <= MAX_ID:
        fail(f"{what}: {value} is out of range; ids are 1..{MAX_ID}")
    return value


def check_data_dir(data_dir: Path) -> None:
    """data_dir must be (or become) a directory this process can write."""
    from collector.config import ConfigError

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"data_dir: {data_dir} is not usable ({exc.strerror or exc}); "
            "set data_dir to a writable directory"
        ) from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ConfigError(
            f"data_dir: {data_dir} is not writable by this user; "
            "set data_dir to a writable directory"
        )
