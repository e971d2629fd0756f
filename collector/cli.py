"""``mrv-collector``: the central collector's command line.

Exit codes: 0 ok, 1 a check failed, 2 usage or config error. Commands other than ``run``
open the evidence store named by the config, so they work while the collector runs (WAL).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from collector.cli_common import ConfigOpt, JsonOpt, check_id, fail, load_collector_config
from collector.records.cli import record_app
from protocols.version import package_version

app = typer.Typer(
    help="Plant MRV collector: verify and store signed batches, build monthly records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(help="Inspect rejected messages.", no_args_is_help=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mrv-collector {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    pass


app.add_typer(quarantine_app, name="quarantine")
app.add_typer(record_app, name="record")

from collector.web.cli import token_app  # noqa: E402  (API / web UI tokens, issue 8)

app.add_typer(token_app, name="token")

from collector.records.month_cli import month_app, year  # noqa: E402  (issue 18)

app.add_typer(month_app, name="month")

from collector.store.cli import store_app  # noqa: E402  (issue 19)

app.add_typer(store_app, name="store")
app.command("year")(year)


def _config(path: Path | None) -> Any:
    return load_collector_config(path)


def _store(path: Path | None) -> Any:
    from collector.store import StoreError, store_for

    try:
        return store_for(_config(path))
    except StoreError as exc:
        fail(str(exc))


def _parse_time(text: str | None, what: str) -> int | None:
    """ISO 8601 date or date-time to epoch ms; a time without offset is taken as UTC."""
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{what}: {text!r} is not an ISO 8601 date or date-time")
        raise  # unreachable
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _console() -> Any:
    """A console that does not squeeze tables to 80 columns when piped into a file."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _fold(table: Any) -> Any:
    """Wrap long cells (kids, hashes, paths) at the terminal's width instead of cutting them."""
    for col in table.columns:
        col.overflow = "fold"
    return table


def _fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command()
def run(
    config: Annotated[Path, typer.Option("-c", "--config", help="Collector YAML config")],
) -> None:
    """Ingest from MQTT, store, ack, serve the HTTP API and web UI (until SIGTERM/SIGINT)."""
    from collector import logs
    from collector.config import ConfigError
    from collector.store import StoreError

    cfg = _config(config)
    logs.configure(cfg.log_level)
    import faulthandler

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` dumps every thread's stack
    try:
        code = asyncio.run(_run(cfg))
    except (ConfigError, StoreError) as exc:
        fail(str(exc))
    if code:
        raise typer.Exit(code)


async def _run(cfg: Any) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until ingest cannot go on (exit 1, so that the
    supervisor — systemd ``Restart=on-failure``, the demo — starts a fresh process)."""
    import logging

    from collector.service import Collector

    log = logging.getLogger("collector")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from collector.store import redact

    async with Collector(cfg) as collector:
        log.info(
            "collector running",
            extra={
                "fields": {
                    "database": redact(cfg.database_url),
                    "broker": f"{cfg.broker.host}:{cfg.broker.port}",
                    "influx": cfg.influx.url if cfg.influx.enabled else None,
                    "http_port": collector.http_port,
                }
            },
        )
        stopping = asyncio.create_task(stop.wait())
        failing = asyncio.create_task(collector.failed.wait())
        await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failing.cancel()
        if collector.failed.is_set():
            log.critical("ingest cannot go on: exiting with status 1 for a restart")
        else:
            log.info("stopping: finishing the group in progress")
    log.info("collector stopped")
    return 1 if collector.failed.is_set() else 0


@app.command()
def key(
    config: ConfigOpt = None,
) -> None:
    """Print the collector's public JWK (every agent's ``collector_key``: acks are signed)."""
    from collector.config import ConfigError
    from collector.identity import collector_key
    from protocols.keys import public_jwk

    cfg = _config(config)
    try:
        k = collector_key(cfg)
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(json.dumps(public_jwk(k), indent=2))


@app.command()
def enroll(
    site: Annotated[str, typer.Option("--site", help="Site id")],
    agent: Annotated[str, typer.Option("--agent", help="Agent id")],
    key: Annotated[Path, typer.Option("--key", help="The agent's public JWK file")],
    valid_from: Annotated[
        str | None,
        typer.Option("--valid-from", help="ISO 8601; batches created earlier are refused"),
    ] = None,
    valid_to: Annotated[
        str | None,
        typer.Option("--valid-to", help="ISO 8601; batches created from then on are refused"),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an agent's public key, bound to exactly this site and agent."""
    from collector.store import StoreError
    from protocols.errors import InvalidId, KeyFileError
    from protocols.ids import validate_id
    from protocols.keys import load_public_jwk

    try:
        validate_id(site, "site id")
        validate_id(agent, "agent id")
        jwk = load_public_jwk(key)
    except (InvalidId, KeyFileError) as exc:
        fail(str(exc))
    start, end = _parse_time(valid_from, "--valid-from"), _parse_time(valid_to, "--valid-to")
    with _store(config) as store:
        try:
            k = store.enroll_key(site, agent, jwk, valid_from=start, valid_to=end)
        except StoreError as exc:
            fail(str(exc), 1)
    if as_json:
        typer.echo(json.dumps(k.as_dict()))
    else:
        typer.echo(f"enrolled {k.kid} for {k.site}/{k.agent}")


@app.command()
def revoke(
    kid: Annotated[str, typer.Option("--kid", help="Key id to revoke")],
    config: ConfigOpt = None,
) -> None:
    """Revoke an agent key: batches signed with it are quarantined from now on."""
    from collector.store import StoreError

    with _store(config) as store:
        try:
            k = store.revoke_key(kid)
        except StoreError as exc:
            fail(str(exc), 1)
    typer.echo(f"revoked {k.kid} ({k.site}/{k.agent}) at {_fmt_ms(k.revoked_at)}")


@app.command()
def keys(
    site: Annotated[str | None, typer.Option("--site")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List enrolled keys with their validity and revocation."""
    with _store(config) as store:
        ks = store.keys(site)
    if as_json:
        typer.echo(
            json.dumps(
                [k.as_dict() for k in ks],
                indent=2,
            )
        )
        return
    from rich.table import Table

    t = Table("site", "agent", "kid", "valid from", "valid to", "revoked")
    for k in ks:
        t.add_row(
            k.site,
            k.agent,
            k.kid,
            _fmt_ms(k.valid_from),
            _fmt_ms(k.valid_to),
            _fmt_ms(k.revoked_at),
        )
    _console().print(_fold(t))


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Per agent: last contiguous seq, open gaps, quarantined messages, last seen, online."""
    with _store(config) as store:
        summary = store.status_summary()
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    from rich.table import Table

    t = Table(
        "site",
        "agent",
        "contiguous",
        "acked",
        "highest",
        "gaps",
        "quarantined",
        "last seen",
        "online",
    )
    for a in summary.agents:
        gaps = ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in a.gaps) or "-"
        q = str(a.quarantined) + (f" ({a.equivocations} equivocation!)" if a.equivocations else "")
        online = {True: "online", False: "offline", None: "?"}[a.online]
        t.add_row(
            a.site,
            a.agent,
            str(a.contiguous_through),
            str(a.acked_through),
            str(a.highest_seq),
            gaps,
            q,
            _fmt_ms(a.last_seen),
            online,
        )
    console = _console()
    console.print(_fold(t))
    if summary.quarantine_by_reason:
        reasons = ", ".join(f"{r}: {n}" for r, n in summary.quarantine_by_reason.items())
        console.print(f"quarantine by reason: {reasons}")


@quarantine_app.command("list")
def quarantine_list(
    site: Annotated[str | None, typer.Option("--site")] = None,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Newest rejected messages first, with their reason."""
    with _store(config) as store:
        entries = store.quarantine_entries(site=site, agent=agent, reason=reason, limit=limit)
    rows = [e.as_dict() for e in entries]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("id", "received", "topic", "reason", "seq", "size", "message")
    for r in rows:
        t.add_row(
            str(r["id"]),
            _fmt_ms(r["received_at"]),
            r["topic"],
            r["reason"],
            str(r["seq"] or "-"),
            str(r["size"]),
            r["message"][:80],
        )
    _console().print(_fold(t))


@quarantine_app.command("show")
def quarantine_show(
    entry_id: Annotated[int, typer.Argument(help="Quarantine entry id")],
    raw: Annotated[
        Path | None, typer.Option("--raw", help="Write the kept raw bytes to FILE")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """One rejected message in full; ``--raw FILE`` saves its bytes for analysis."""
    check_id(entry_id, "entry id")
    with _store(config) as store:
        e = store.quarantine_entry(entry_id)
    if e is None:
        fail(f"no quarantine entry {entry_id}", 1)
        return
    typer.echo(json.dumps(e.as_dict(), indent=2))
    if raw is not None:
        raw.write_bytes(e.raw)
        typer.echo(f"wrote {len(e.raw)} bytes to {raw}", err=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
