"""``mrv-agent``: the edge agent's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from protocols.errors import MrvError
from protocols.keys import write_key_pair

app = typer.Typer(
    help="Plant MRV edge agent: read Modbus devices, compute key parameters, publish signed batches.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit (2: usage/config, 1: a check failed)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for agent.key and agent.pub.jwk")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing key pair")] = False,
) -> None:
    """Write an Ed25519 key pair: agent.key (mode 0600) and agent.pub.jwk."""
    try:
        key_path, jwk_path = write_key_pair(out, overwrite=force)
    except (MrvError, OSError) as exc:
        fail(str(exc))
    import json

    kid = json.loads(jwk_path.read_text())["kid"]
    typer.echo(f"wrote {key_path} (private, mode 0600) and {jwk_path}\nkid {kid}")


@app.command()
def run(config: Annotated[Path, typer.Option("-c", "--config", help="Agent YAML config")]) -> None:
    """Run the agent from a YAML config."""
    fail("mrv-agent run: not yet available (issue 4)")


@app.command()
def check(
    config: Annotated[Path, typer.Option("-c", "--config", help="Agent YAML config")],
) -> None:
    """Validate the config and try each device once."""
    fail("mrv-agent check: not yet available (issue 4)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
