"""``mrv-agent``: the edge agent's command line."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated

import typer

from agent.config import AgentConfig, ConfigError, collector_jwk, load_config
from agent.core import Agent
from agent.logs import configure as configure_logs
from agent.modbus_io import ReadFailed, read_once
from agent.outbox import OutboxError
from protocols.errors import MrvError
from protocols.keys import load_private_key, write_key_pair
from protocols.version import package_version

app = typer.Typer(
    help="Plant MRV edge agent: read Modbus and OPC UA devices, compute key parameters, publish signed batches.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mrv-agent {package_version()}")
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

    kid = json.loads(jwk_path.read_text())["kid"]
    typer.echo(f"wrote {key_path} (private, mode 0600) and {jwk_path}\nkid {kid}")


def _load(config: Path) -> AgentConfig:
    try:
        return load_config(config)
    except ConfigError as exc:
        for line in exc.lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None


@app.command("opcua-cert")
def opcua_cert(
    out: Annotated[Path, typer.Option("--out", help="Directory for agent-cert.der, agent-key.pem")],
    uri: Annotated[
        str, typer.Option(help="Application URI (the config's security.application_uri)")
    ] = "urn:plant-mrv:agent",
    host: Annotated[str | None, typer.Option(help="Host name in the certificate")] = None,
) -> None:
    """Write a self-signed OPC UA client certificate and key (Basic256Sha256)."""
    import socket

    from agent.drivers.opcua import make_certificate

    try:
        cert, key = asyncio.run(make_certificate(out, uri, host or socket.gethostname()))
    except OSError as exc:
        fail(f"cannot write the certificate to {out}: {exc.strerror or exc}")
        return
    typer.echo(f"wrote {cert} (give it to the OPC UA server to trust) and {key} (mode 0600)")


@app.command()
def run(
    config: Annotated[Path, typer.Option("-c", "--config", help="Agent YAML config")],
) -> None:
    """Run the agent from a YAML config until SIGTERM/SIGINT."""
    cfg = _load(config)
    configure_logs(cfg.log_level)
    from agent.lock import DataDirLock

    lock = DataDirLock(Path(cfg.data_dir))
    if not lock.acquire(60.0):  # a submit publishing its entries holds it for seconds
        fail(f"data_dir {cfg.data_dir} is in use by another mrv-agent run (agent.lock)")
    try:
        agent = Agent(cfg)
    except (MrvError, OSError) as exc:
        fail(str(exc))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.request_stop)
        await agent.run()

    try:
        asyncio.run(main())
    except OutboxError as exc:
        fail(str(exc))


@app.command()
def submit(
    config: Annotated[Path, typer.Option("-c", "--config", help="Agent YAML config")],
    param: Annotated[str | None, typer.Option("--param", help="Parameter id")] = None,
    value: Annotated[str | None, typer.Option("--value", help="The value")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Unit (checked)")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Month YYYY-MM")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Time (ISO 8601 or epoch ms)")] = None,
    origin: Annotated[str, typer.Option("--origin", help="lab, manual or invoice")] = "lab",
    lab: Annotated[str | None, typer.Option("--lab", help="Laboratory name")] = None,
    accreditation: Annotated[
        str | None, typer.Option("--accreditation", help="CMA or CNAS")
    ] = None,
    report_no: Annotated[str | None, typer.Option("--report-no", help="Report number")] = None,
    sampled_from: Annotated[str | None, typer.Option("--sampled-from", help="Time")] = None,
    sampled_to: Annotated[str | None, typer.Option("--sampled-to", help="Time")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text")] = None,
    document: Annotated[
        list[Path] | None, typer.Option("--document", help="PDF/image/spreadsheet, <= 20 MB")
    ] = None,
    replaces: Annotated[
        str | None, typer.Option("--replaces", help="Submission id or report no. corrected")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (with --replaces)")] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Submit many rows (one column per option)")
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Publish now when no mrv-agent run holds the data dir")
    ] = True,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the ack")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Submit a lab result, settlement-slip quantity or manual entry as a signed batch."""
    from agent.submit import csv_rows
    from agent.submit import submit as do_submit
    from protocols.submission import SubmissionError

    cfg = _load(config)
    configure_logs("error")
    try:
        if csv_file is not None:
            if param is not None or value is not None:
                fail("give either --csv or --param/--value, not both")
            rows = csv_rows(csv_file)
        else:
            if param is None or value is None:
                fail("--param and --value are required (or --csv FILE)")
            rows = [
                {
                    "param": param,
                    "value": value,
                    "unit": unit,
                    "period": period,
                    "at": at,
                    "origin": origin,
                    "lab": lab,
                    "accreditation": accreditation,
                    "report_no": report_no,
                    "sampled_from": sampled_from,
                    "sampled_to": sampled_to,
                    "note": note,
                    "replaces": replaces,
                    "reason": reason,
                    "document_paths": list(document or ()),
                }
            ]
        result = do_submit(cfg, rows, label_rows=csv_file is not None, publish=publish, wait_s=wait)
    except (SubmissionError, MrvError, OutboxError, OSError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    for s in result.submissions[:20]:
        typer.echo(f"submitted {s['param']} = {s['value']:g} {s['unit']}  ({s['submission']})")
    if len(result.submissions) > 20:
        typer.echo(f"... {len(result.submissions) - 20} more")
    how = {
        "published": "published; the collector's ack covers it",
        "handed_to_running_agent": "committed; the running mrv-agent publishes it",
        "kept_in_outbox": "committed; not acked yet, kept in the outbox until it is",
    }[result.mode]
    typer.echo(f"seq {result.first_seq}..{result.last_seq}, {result.documents} document(s): {how}")


@app.command()
def check(
    config: Annotated[Path, typer.Option("-c", "--config", help="Agent YAML config")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    broker: Annotated[bool, typer.Option(help="Also try to connect to the broker")] = True,
) -> None:
    """Validate the config and try each device once; print what was read (exit 1 on failure)."""
    from agent.check import check_devices, print_check  # rich tables: not in `run`'s memory

    cfg = _load(config)
    try:
        load_private_key(cfg.key_file)
        collector_jwk(cfg)
    except MrvError as exc:
        fail(str(exc))
    report = asyncio.run(check_devices(cfg, broker=broker))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        print_check(report)
    raise typer.Exit(0 if report["ok"] else 1)


@app.command()
def probe(
    host: Annotated[str, typer.Option(help="Device host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Device TCP port")] = 502,
    unit: Annotated[int, typer.Option(help="Modbus unit id")] = 1,
    table: Annotated[str, typer.Option(help="holding or input")] = "holding",
    address: Annotated[int, typer.Option(help="0-based protocol address")] = 0,
    count: Annotated[int, typer.Option(help="Registers to read (1..125)")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    endpoint: Annotated[
        str | None,
        typer.Option(help="OPC UA instead: the server, opc.tcp://HOST:PORT (with --node)"),
    ] = None,
    node: Annotated[
        list[str] | None, typer.Option(help='OPC UA node id to read, e.g. "ns=2;s=Kiln.T"')
    ] = None,
) -> None:
    """Read raw registers and print every decoding (u16..f64 x ABCD/BADC/CDAB/DCBA);
    with --endpoint, read OPC UA nodes and print value, type, status and source time."""
    from agent.check import print_probe, probe_decodings

    if endpoint is not None or node:
        _probe_opcua(endpoint, node or [], timeout, as_json)
        return
    if table not in ("holding", "input"):
        fail(f"--table must be holding or input, got {table!r}")
    if not 1 <= count <= 125:
        fail(f"--count must be 1..125, got {count}")
    if not 0 <= address <= 65535 or address + count > 65536:
        fail(f"--address {address} with --count {count} does not fit 0..65535")
    try:
        regs = asyncio.run(read_once(host, port, unit, table, address, count, timeout))  # type: ignore[arg-type]
    except ReadFailed as exc:
        typer.echo(f"error: reading {host}:{port} unit {unit}: {exc}", err=True)
        raise typer.Exit(1) from None
    result = probe_decodings(regs, address)
    if as_json:
        typer.echo(json.dumps({"host": host, "port": port, "unit": unit, "table": table, **result}))
    else:
        print_probe(result)


def _probe_opcua(endpoint: str | None, nodes: list[str], timeout: float, as_json: bool) -> None:
    from agent.config import check_node_id, check_opc_url

    if endpoint is None or not nodes:
        fail("OPC UA probe needs --endpoint opc.tcp://HOST:PORT and at least one --node")
        return
    try:
        check_opc_url(endpoint)
        for n in nodes:
            check_node_id(n)
    except ValueError as exc:
        fail(str(exc))
    from agent.drivers.opcua import read_nodes

    try:
        values = asyncio.run(read_nodes(endpoint, nodes, timeout))
    except ReadFailed as exc:
        typer.echo(f"error: reading {endpoint}: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"endpoint": endpoint, "nodes": values}))
        return
    for v in values:
        typer.echo(
            f"{v['node_id']}: {v['value']!r} ({v['type']}) status {v['status']}"
            f" source_timestamp {v['source_timestamp']}"
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
