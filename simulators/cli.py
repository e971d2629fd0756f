"""``mrv-sim``: run a simulated plant over Modbus TCP, or print its register map."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from protocols.version import package_version

from .faults import FaultError, parse_fault, parse_instant_ms
from .plant import KINDS, PlantSimulator, describe

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Plant simulators over Modbus TCP or OPC UA (aluminium potline, cement kiln, steelworks, meter).",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mrv-sim {package_version()}")
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


KIND_HELP = f"plant kind: {', '.join(KINDS)}"


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"mrv-sim: error: {message}", err=True)
    raise typer.Exit(code)


def _check_kind(kind: str) -> str:
    k = kind.strip().lower()
    if k == "aluminum":
        k = "aluminium"
    if k not in KINDS:
        _fail(f"unknown plant kind {kind!r} (one of: {', '.join(KINDS)})")
    return k


@app.command()
def run(
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Modbus TCP port (0: pick a free one)")] = 5020,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same plant")] = 1,
    speed: Annotated[float, typer.Option(help="plant seconds per wall second")] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="plant time at the anchor, ISO 8601 (default: now)")
    ] = None,
    anchor_wall: Annotated[
        float | None,
        typer.Option("--anchor-wall", help="wall-clock epoch seconds of the anchor (default: now)"),
    ] = None,
    cells: Annotated[int, typer.Option(help="aluminium: number of cells")] = 24,
    current_efficiency: Annotated[
        float, typer.Option(help="aluminium: current efficiency, a fraction")
    ] = 0.94,
    ae_rate: Annotated[float, typer.Option(help="aluminium: anode effects per cell-day")] = 0.05,
    faults: Annotated[
        list[str] | None,
        typer.Option(
            "--faults",
            help="fault spec MODE[:unit=N][:at=ISO|+DUR][:for=DUR][:delay=DUR][:code=N]"
            "[:register=NAME][:margin=N]; repeat the option or separate specs with spaces "
            "(see config/simulators/README.md)",
        ),
    ] = None,
    control_port: Annotated[
        int | None, typer.Option(help="JSON control endpoint port on the same host (0: free)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the ready line as JSON")] = False,
    protocol: Annotated[
        str, typer.Option(help="modbus (Modbus TCP) or opcua (OPC UA, the same plant model)")
    ] = "modbus",
    security: Annotated[
        str, typer.Option(help="opcua: none or basic256sha256 (Sign / SignAndEncrypt)")
    ] = "none",
    cert_dir: Annotated[
        Path | None,
        typer.Option(help="opcua: directory for the server certificate (made if missing)"),
    ] = None,
) -> None:
    """Run a plant simulator until interrupted; prints one line once it is listening."""
    kind = _check_kind(kind)
    if protocol not in ("modbus", "opcua"):
        _fail(f"--protocol must be modbus or opcua, got {protocol!r}")
    if security not in ("none", "basic256sha256"):
        _fail(f"--security must be none or basic256sha256, got {security!r}")
    if security != "none" and cert_dir is None:
        _fail("--security basic256sha256 needs --cert-dir DIR (the server certificate)")
    if not 0 <= port <= 65535:
        _fail("port must be 0..65535")
    if control_port is not None and not 0 <= control_port <= 65535:
        _fail("control port must be 0..65535")
    if speed <= 0:
        _fail("speed must be positive")
    anchor = time.time() if anchor_wall is None else anchor_wall
    specs = [spec for text in faults or [] for spec in text.split()]
    try:
        start_ms = parse_instant_ms(start) if start else int(anchor * 1000)
        parsed = [parse_fault(spec, start_ms) for spec in specs]
    except FaultError as exc:
        _fail(str(exc))
    try:
        sim = PlantSimulator(
            kind,
            host=host,
            port=port,
            seed=seed,
            speed=speed,
            start_ms=start_ms,
            anchor_wall_s=anchor,
            cells=cells,
            current_efficiency=current_efficiency,
            ae_per_cell_day=ae_rate,
            faults=parsed,
            control_port=control_port,
        )
    except (ValueError, FaultError) as exc:
        _fail(str(exc))
    try:
        if protocol == "opcua":
            asyncio.run(_serve_opcua(sim, host, port, security, cert_dir, as_json))
        else:
            asyncio.run(_serve(sim, as_json))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)  # port taken
    except KeyboardInterrupt:
        pass


async def _serve(sim: PlantSimulator, as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        clock: Any = sim.clock
        ready = {
            "listening": f"{sim.host}:{sim.port}",
            "kind": sim.kind,
            "port": sim.port,
            "units": sim.map.units,
            "control": None if sim.control_port is None else f"{sim.host}:{sim.control_port}",
            "seed": sim.seed,
            "start_ms": sim.start_ms,
            "speed": getattr(clock, "speed", 1.0),
            "anchor_wall_s": getattr(clock, "anchor_wall_s", None),
            "faults": [f["spec"] for f in sim.faults()],
        }
        if as_json:
            print(json.dumps(ready), flush=True)
        else:
            start = datetime.fromtimestamp(sim.start_ms / 1000, UTC).isoformat()
            control = f", control on {ready['control']}" if ready["control"] else ""
            print(
                f"mrv-sim: {sim.kind} listening on {ready['listening']} "
                f"(units {', '.join(map(str, sim.map.units))}; plant time from {start} "
                f"at {ready['speed']}x{control})",
                flush=True,
            )
        await stop.wait()


async def _serve_opcua(
    sim: PlantSimulator, host: str, port: int, security: str, cert_dir: Path | None, as_json: bool
) -> None:
    from .opcua_server import OpcuaPlantServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with OpcuaPlantServer(
        sim, host=host, port=port, security=security, cert_dir=cert_dir
    ) as srv:
        clock: Any = sim.clock
        ready = {
            "listening": f"{host}:{srv.port}",
            "endpoint": srv.endpoint,
            "protocol": "opcua",
            "security": security,
            "kind": sim.kind,
            "port": srv.port,
            "seed": sim.seed,
            "start_ms": sim.start_ms,
            "speed": getattr(clock, "speed", 1.0),
            "anchor_wall_s": getattr(clock, "anchor_wall_s", None),
        }
        if as_json:
            print(json.dumps(ready), flush=True)
        else:
            print(
                f"mrv-sim: {sim.kind} OPC UA server on {srv.endpoint} (security {security}; "
                "nodes ns=2;s=DEVICE.REGISTER, see mrv-sim describe --protocol opcua)",
                flush=True,
            )
        await stop.wait()


@app.command("describe")
def describe_cmd(
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    cells: Annotated[int, typer.Option(help="aluminium: number of cells")] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="print the register map as JSON")] = False,
    protocol: Annotated[
        str, typer.Option(help="opcua: add each register's OPC UA node_id")
    ] = "modbus",
) -> None:
    """Print a simulator's register map: unit ids, registers, types, byte orders, ranges."""
    kind = _check_kind(kind)
    if protocol not in ("modbus", "opcua"):
        _fail(f"--protocol must be modbus or opcua, got {protocol!r}")
    try:
        data = describe(kind, cells)
    except ValueError as exc:
        _fail(str(exc))
    if protocol == "opcua":
        from .opcua_server import node_id

        for dev in data["devices"]:
            for r in dev["registers"]:
                r["node_id"] = node_id(dev["name"], r["name"])
    if as_json:
        print(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for dev in data["devices"]:
        table = Table(title=f"{data['kind']} unit {dev['unit']} ({dev['name']})")
        cols = ("name", "table", "address", "type", "byte_order", "scale", "unit", "min", "max")
        for col in cols:
            table.add_column(col)
        for r in dev["registers"]:
            table.add_row(*(str(r[c]) for c in cols))
        console.print(table)


@app.command()
def demo(
    broker: Annotated[
        str | None,
        typer.Option(help="use this MQTT broker HOST:PORT (default: start Mosquitto or amqtt)"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="new or empty directory for everything (default: demo-data/TIME)"),
    ] = None,
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: last calendar month, Asia/Shanghai)")
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(help="simulate only the first N days of the month (quick runs)"),
    ] = None,
    speed: Annotated[float, typer.Option(help="plant seconds per wall second")] = 15000.0,
    seed: Annotated[int, typer.Option(help="random seed of the plants")] = 1,
    exit_: Annotated[
        bool,
        typer.Option("--exit", help="stop after the records are built and verified"),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help='print {"bundles": [...], "verified": BOOL} on stdout (progress: stderr)'
        ),
    ] = False,
    database: Annotated[
        str | None,
        typer.Option(
            help="evidence store: 'postgresql' starts Debian's PostgreSQL in the data dir; "
            "or a postgresql:// URL (default: SQLite)"
        ),
    ] = None,
    collectors: Annotated[
        int, typer.Option(help="collectors in one shared-subscription group (needs --database)")
    ] = 1,
) -> None:
    """Simulated plants → agents → broker → collector → a month's verified records + web UI."""
    from .demo import DemoOptions, run_demo

    code = run_demo(
        DemoOptions(
            broker=broker,
            data_dir=data_dir,
            month=month,
            days=days,
            speed=speed,
            seed=seed,
            exit=exit_,
            json=as_json,
            database=database,
            collectors=collectors,
        )
    )
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
