"""``mrv-collector token add/list/revoke``: API and web UI tokens.

Mounted into ``collector/cli.py`` with ``app.add_typer(token_app, name="token")``. Tokens
live hashed in the evidence store (``store.tokens``); the secret is printed once by
``add`` and can never be shown again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from collector.cli_common import ConfigOpt, JsonOpt, config_path
from collector.cli_common import fail as _fail

token_app = typer.Typer(
    help="Manage API / web UI tokens (roles: viewer, verifier, admin).", no_args_is_help=True
)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Evidence store URL, sqlite:///PATH or postgresql://… (instead of the config's)",
    ),
]


def _tokens(config: Path | None, database: str | None) -> Any:
    from collector.store import StoreError, open_store, parse_url
    from collector.web.tokens import TokenStore

    if database is None:
        from collector.config import ConfigError, load_config

        path = config_path(config, alternative=", --database URL")
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            _fail(str(exc))
        database = cfg.database_url
        try:  # the collector's own data_dir: create it as `mrv-collector run` would
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"cannot create {cfg.data_dir}: {exc.strerror or exc}")
    assert database is not None
    try:
        url = parse_url(database)
        if url.path is not None and not url.path.parent.exists():
            _fail(f"--database: directory {url.path.parent} does not exist")
        return TokenStore(open_store(url).tokens)
    except StoreError as exc:
        _fail(f"--database: {exc}")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@token_app.command("add")
def add(
    role: Annotated[str, typer.Option("--role", help="viewer, verifier or admin")],
    name: Annotated[str, typer.Option("--name", help="Who or what holds the token")],
    site: Annotated[
        list[str] | None,
        typer.Option("--site", help="A site the token may read (repeat; not for admin)"),
    ] = None,
    config: ConfigOpt = None,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token and print it once."""
    from collector.web.tokens import TokenError
    from protocols.errors import InvalidId

    store = _tokens(config, database)
    if role == "admin" and site:
        _fail("an admin token reads every site; drop --site")
    try:
        token, info = store.add(name, role, site or [])
    except (TokenError, InvalidId) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({"token": token, **info.as_dict()}))
        return
    typer.echo(token)
    sites = "all sites" if info.role == "admin" else ", ".join(info.sites)
    typer.echo(
        f"token {info.id} '{info.name}': {info.role} of {sites}. Store it now: it is not shown again.",
        err=True,
    )


@token_app.command("list")
def list_(
    config: ConfigOpt = None,
    database: DatabaseOpt = None,
    active: Annotated[bool, typer.Option("--active", help="Hide revoked tokens")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List tokens (never their secrets)."""
    tokens = _tokens(config, database).list(include_revoked=not active)
    if as_json:
        typer.echo(json.dumps({"tokens": [t.as_dict() for t in tokens]}))
        return
    if not tokens:
        typer.echo("no tokens; create one with: mrv-collector token add --role admin --name NAME")
        return
    typer.echo(
        f"{'id':>4}  {'name':<20} {'role':<9} {'sites':<24} {'hint':<11} {'created':<21} state"
    )
    for t in tokens:
        sites = "*" if t.role == "admin" else ",".join(t.sites)
        state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
        typer.echo(
            f"{t.id:>4}  {t.name[:20]:<20} {t.role:<9} {sites[:24]:<24} {t.hint + '…':<11} "
            f"{_when(t.created_at):<21} {state}"
        )


@token_app.command("revoke")
def revoke(
    token: Annotated[str, typer.Argument(help="Token id (from `token list`) or its name")],
    config: ConfigOpt = None,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: it stops working at once, for the API and signed-in browsers."""
    from collector.web.tokens import TokenError

    try:
        info = _tokens(config, database).revoke(token)
    except TokenError as exc:
        _fail(str(exc), 1)
    if as_json:
        typer.echo(json.dumps(info.as_dict()))
    else:
        typer.echo(f"revoked token {info.id} '{info.name}' ({info.role})")
