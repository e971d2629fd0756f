"""``mrv-verify``: offline verification of an evidence bundle, and the accounting formulas.

Two forms share one console script:

* ``mrv-verify BUNDLE_DIR`` — verify a bundle (added with issue 7; see :func:`verify_bundle`);
* ``mrv-verify calc faraday|aem|pfc ...`` — the methods of ``protocols.methods`` on the
  command line, each with ``--json`` printing exactly one object.

:func:`main` dispatches on the first argument: ``calc`` goes to the typer ``calc`` group,
anything else is the bundle form. Usage errors print one line to stderr and exit 2; no
tracebacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from protocols.methods.aem import aem as aem_method
from protocols.methods.errors import MethodError
from protocols.methods.faraday import faraday_production
from protocols.methods.gwp import DEFAULT_GWP_SET
from protocols.methods.pfc import pfc as pfc_method
from protocols.methods.pfc import smelter_specific_coefficients

__all__ = ["bundle_app", "calc_app", "main"]

PROG = "mrv-verify"

calc_app = typer.Typer(
    help="Accounting formulas (Faraday, AEM, PFC) as the agent, records and verifier use them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

bundle_app = typer.Typer(
    help="Verify a monthly evidence bundle offline: exit 0 only if everything checks. "
    "Use `mrv-verify calc --help` for the accounting formulas.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


class PfcMethodName(StrEnum):
    slope = "slope"
    china = "china"
    tier1 = "tier1"


class CoefficientTable(StrEnum):
    ipcc2006 = "ipcc2006"
    ipcc2019 = "ipcc2019"


class GwpName(StrEnum):
    SAR = "SAR"
    AR4 = "AR4"
    AR5 = "AR5"
    AR6 = "AR6"


class UsageFailure(Exception):
    """A bad argument value found after parsing (e.g. CE above 1)."""


def _emit(as_json: bool, payload: dict[str, Any], title: str, rows: list[tuple[str, str]]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    table = Table(title=title, show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    Console().print(table)


def _g(x: float | None) -> str:
    return "—" if x is None else f"{x:.6g}"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")]


@calc_app.command("faraday")
def calc_faraday(
    current_ka: Annotated[float, typer.Option("--current-ka", help="Line current, kA")],
    ce: Annotated[float, typer.Option("--ce", help="Current efficiency as a fraction, e.g. 0.93")],
    cells: Annotated[float, typer.Option("--cells", help="Operating cells")],
    days: Annotated[float, typer.Option("--days", help="Days")],
    as_json: JsonOpt = False,
) -> None:
    """Aluminium (t) = 0.00805375 × I(kA) × CE × cells × days."""
    try:
        r = faraday_production(current_ka, ce, cells, days)
    except MethodError as exc:
        raise UsageFailure(str(exc)) from None
    _emit(
        as_json,
        r.to_dict(),
        "Faraday production",
        [
            ("current (kA)", _g(r.current_ka)),
            ("current efficiency", _g(r.current_efficiency)),
            ("cells", _g(r.cells)),
            ("days", _g(r.days)),
            ("t per kA·day", _g(r.constant_t_per_ka_day)),
            ("aluminium (t)", _g(r.aluminium_t)),
        ],
    )


@calc_app.command("aem")
def calc_aem(
    ae_minutes: Annotated[float, typer.Option("--ae-minutes", help="Σ anode-effect minutes")],
    cell_days: Annotated[float, typer.Option("--cell-days", help="Σ operating cell-days")],
    as_json: JsonOpt = False,
) -> None:
    """AEM = Σ AE minutes ÷ Σ operating cell-days."""
    try:
        r = aem_method(ae_minutes, cell_days)
    except MethodError as exc:
        raise UsageFailure(str(exc)) from None
    _emit(
        as_json,
        r.to_dict(),
        "Anode-effect minutes per cell-day",
        [
            ("AE minutes", _g(r.ae_minutes)),
            ("cell-days", _g(r.cell_days)),
            ("AEM (min/cell-day)", _g(r.aem)),
        ],
    )


@calc_app.command("pfc")
def calc_pfc(
    method: Annotated[PfcMethodName, typer.Option("--method", help="slope, china or tier1")],
    production_t: Annotated[
        float, typer.Option("--production-t", help="Metal production MP, t Al")
    ],
    aem: Annotated[
        float | None,
        typer.Option("--aem", help="AE minutes per cell-day (slope: required; china: optional)"),
    ] = None,
    technology: Annotated[
        str | None,
        typer.Option("--technology", help="CWPB, SWPB, VSS, HSS, PFPB-L, PFPB-M, PFPB-MW"),
    ] = None,
    coefficients: Annotated[
        CoefficientTable,
        typer.Option("--coefficients", help="Slope coefficient table"),
    ] = CoefficientTable.ipcc2006,
    s_cf4: Annotated[
        float | None, typer.Option("--s-cf4", help="Smelter-specific slope S_CF4")
    ] = None,
    f_c2f6: Annotated[
        float | None, typer.Option("--f-c2f6", help="Smelter-specific F_C2F6/CF4")
    ] = None,
    measured_on: Annotated[
        str | None,
        typer.Option("--measured-on", help="Date of the smelter-specific measurement"),
    ] = None,
    gwp: Annotated[GwpName, typer.Option("--gwp", help="GWP set")] = GwpName(DEFAULT_GWP_SET),
    as_json: JsonOpt = False,
) -> None:
    """CF4, C2F6 and CO2e by the slope method, the China guideline form or IPCC Tier 1."""
    try:
        coeffs: Any = coefficients.value
        smelter = (s_cf4, f_c2f6, measured_on)
        if any(x is not None for x in smelter):
            if method is not PfcMethodName.slope:
                raise MethodError("--s-cf4/--f-c2f6/--measured-on apply to --method slope only")
            if s_cf4 is None or f_c2f6 is None or measured_on is None:
                raise MethodError(
                    "smelter-specific coefficients need --s-cf4, --f-c2f6 and --measured-on"
                )
            coeffs = smelter_specific_coefficients(
                s_cf4, f_c2f6, measured_on, technology=technology
            )
        r = pfc_method(
            method.value,
            production_t=production_t,
            aem=aem,
            technology=technology,
            coefficients=coeffs,
            gwp=gwp.value,
        )
    except MethodError as exc:
        raise UsageFailure(str(exc)) from None
    rows = [
        ("method", r.method),
        ("technology", r.technology or "—"),
        ("coefficient set", r.coefficient_set),
    ]
    rows += [(c.name, _g(c.value)) for c in r.coefficients]
    rows += [
        ("AEM (min/cell-day)", _g(r.aem)),
        ("production (t Al)", _g(r.production_t)),
        ("GWP set", f"{r.gwp_set} (CF4 {r.gwp_cf4:g}, C2F6 {r.gwp_c2f6:g})"),
        ("CF4 (t)", _g(r.cf4_t)),
        ("C2F6 (t)", _g(r.c2f6_t)),
        ("CO2e (t)", _g(r.co2e_t)),
    ]
    _emit(as_json, r.to_dict(), "PFC emissions", rows)


def verify_bundle(bundle_dir: str, *, as_json: bool = False, **kw: Any) -> int:
    """Verify a bundle; returns the exit code (logic in ``collector.verify_bundle``)."""
    from collector.verify_bundle import run_cli

    return run_cli(bundle_dir, as_json=as_json, **kw)


@bundle_app.command()
def _bundle(
    bundle_dir: Annotated[str, typer.Argument(help="Evidence bundle directory")],
    as_json: JsonOpt = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="CPU processes (default: all cores)")
    ] = None,
    collector_kid: Annotated[
        str | None,
        typer.Option("--collector-kid", help="Require the record to be signed by this key id"),
    ] = None,
) -> None:
    """Verify BUNDLE_DIR: signatures, chains, evidence ranges, and every value recomputed."""
    raise typer.Exit(
        verify_bundle(bundle_dir, as_json=as_json, workers=workers, collector_kid=collector_kid)
    )


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """The click exception class ``name`` as typer raises it.

    Recent typer releases vendor click (``typer._click``); older ones use ``click`` itself.
    Find the class typer actually uses through ``typer.BadParameter``'s MRO, plus click's own.
    """
    found: list[type[BaseException]] = [c for c in typer.BadParameter.__mro__ if c.__name__ == name]
    own = getattr(click.exceptions, name, None)
    if isinstance(own, type) and own not in found:
        found.append(own)
    return tuple(found)


_USAGE_ERRORS = _click_classes("UsageError")
_CLICK_ERRORS = _click_classes("ClickException")
_EXITS: tuple[type[BaseException], ...] = (typer.Exit, click.exceptions.Exit)
_ABORTS: tuple[type[BaseException], ...] = (typer.Abort, click.exceptions.Abort)


def _run(app: typer.Typer, args: list[str], prog: str) -> int:
    """Run a typer app without click's standalone handling: one-line errors, exit codes."""
    cmd = typer.main.get_command(app)
    try:
        rv = cmd.main(args=args, prog_name=prog, standalone_mode=False)
    except UsageFailure as exc:
        typer.echo(f"{prog}: error: {exc}", err=True)
        return 2
    except _USAGE_ERRORS as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())  # no arguments: show the help, exit 2 like click
            return 2
        where = ctx.command_path if ctx is not None else prog
        msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"{where}: error: {msg}", err=True)
        return 2
    except _EXITS as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _ABORTS:
        typer.echo(f"{prog}: aborted", err=True)
        return 1
    except _CLICK_ERRORS as exc:
        msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        typer.echo(f"{prog}: error: {msg}", err=True)
        return int(getattr(exc, "exit_code", 1))
    return int(rv) if isinstance(rv, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns (and exits with) the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "calc":
        code = _run(calc_app, args[1:], f"{PROG} calc")
    else:
        code = _run(bundle_app, args, PROG)
    if argv is None:
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    main()
