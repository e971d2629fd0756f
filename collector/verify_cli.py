"""``mrv-verify``: offline verification of an evidence bundle, and the accounting formulas.

Two forms share one console script:

* ``mrv-verify BUNDLE_DIR`` — verify a bundle (added with issue 7; see :func:`verify_bundle`);
* ``mrv-verify calc faraday|aem|pfc|anode-co2|fuel-co2|clinker-co2|carbonate-co2|carbon-balance`` — the methods of ``protocols.methods`` on the
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
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from protocols.emissions import formulas
from protocols.methods.aem import aem as aem_method
from protocols.methods.errors import MethodError
from protocols.methods.faraday import faraday_production
from protocols.methods.gwp import DEFAULT_GWP_SET
from protocols.methods.pfc import pfc as pfc_method
from protocols.methods.pfc import smelter_specific_coefficients
from protocols.version import package_version

__all__ = ["bundle_app", "calc_app", "main"]

PROG = "mrv-verify"

calc_app = typer.Typer(
    help="Accounting formulas (Faraday, AEM, PFC, anode/fuel/clinker/carbonate CO2, carbon balance) as the agent, records and verifier use them.",
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


def _inputs_row(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v if isinstance(v, str) else _g(v)) for k, v in inputs.items()]


def _co2(title: str, method: str, inputs: dict[str, Any], fn: Any, as_json: bool) -> None:
    try:
        co2 = fn()
    except MethodError as exc:
        raise UsageFailure(str(exc)) from None
    payload = {"co2_t": co2, "method": method, "inputs": inputs}
    _emit(as_json, payload, title, [*_inputs_row(inputs), ("CO2 (t)", _g(co2))])


@calc_app.command("anode-co2")
def calc_anode_co2(
    net_anode_t_per_t: Annotated[
        float, typer.Option("--net-anode-t-per-t", help="Net anode consumption, t per t Al")
    ],
    production_t: Annotated[float, typer.Option("--production-t", help="Liquid aluminium, t")],
    sulphur: Annotated[float, typer.Option("--sulphur", help="Anode sulphur, fraction")],
    ash: Annotated[float, typer.Option("--ash", help="Anode ash, fraction")],
    as_json: JsonOpt = False,
) -> None:
    """Anode CO2 = NC × P × (1 − S − A) × 44/12 (CETS-AG-04.01-V01-2024)."""
    inputs = {
        "net_anode_t_per_t": net_anode_t_per_t,
        "production_t": production_t,
        "sulphur": sulphur,
        "ash": ash,
    }
    _co2(
        "Anode CO2",
        "NC × P × (1 − S − A) × 44/12",
        inputs,
        lambda: formulas.anode_co2(net_anode_t_per_t, production_t, sulphur, ash),
        as_json,
    )


@calc_app.command("fuel-co2")
def calc_fuel_co2(
    quantity: Annotated[float, typer.Option("--quantity", help="Fuel burnt, t or 10^4 Nm3")],
    ncv: Annotated[float, typer.Option("--ncv", help="Net calorific value, GJ per unit")],
    carbon_content: Annotated[
        float, typer.Option("--carbon-content", help="Carbon content, t C/GJ")
    ],
    oxidation: Annotated[float, typer.Option("--oxidation", help="Oxidation, fraction")],
    as_json: JsonOpt = False,
) -> None:
    """Fuel CO2 = FC × NCV × CC × OF × 44/12."""
    inputs = {
        "quantity": quantity,
        "ncv": ncv,
        "carbon_content": carbon_content,
        "oxidation": oxidation,
    }
    _co2(
        "Fuel combustion CO2",
        "FC × NCV × CC × OF × 44/12",
        inputs,
        lambda: formulas.fuel_co2(quantity, ncv, carbon_content, oxidation),
        as_json,
    )


@calc_app.command("clinker-co2")
def calc_clinker_co2(
    clinker_t: Annotated[float, typer.Option("--clinker-t", help="Clinker produced, t")],
    cao: Annotated[
        float | None, typer.Option("--cao", help="Clinker CaO content, fraction")
    ] = None,
    mgo: Annotated[
        float | None, typer.Option("--mgo", help="Clinker MgO content, fraction")
    ] = None,
    cao_noncarbonate: Annotated[
        float | None, typer.Option("--cao-noncarbonate", help="Non-carbonate CaO, fraction")
    ] = None,
    mgo_noncarbonate: Annotated[
        float | None, typer.Option("--mgo-noncarbonate", help="Non-carbonate MgO, fraction")
    ] = None,
    ef: Annotated[
        float | None, typer.Option("--ef", help="Emission factor, t CO2/t clinker")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Clinker CO2 = Q × ((CaO − CaO₀) × 44/56 + (MgO − MgO₀) × 44/40), or Q × EF."""
    measured = (cao, mgo, cao_noncarbonate, mgo_noncarbonate)
    if ef is not None:
        if any(x is not None for x in measured):
            raise UsageFailure("--ef replaces --cao/--mgo: give one or the other")
        inputs: dict[str, Any] = {"clinker_t": clinker_t, "ef": ef}
        _co2(
            "Clinker process CO2",
            "Q × EF",
            inputs,
            lambda: formulas.clinker_co2_ef(clinker_t, ef),
            as_json,
        )
        return
    if cao is None or mgo is None:
        raise UsageFailure("give --cao and --mgo (fractions), or --ef")
    x0 = cao_noncarbonate or 0.0
    y0 = mgo_noncarbonate or 0.0
    inputs = {
        "clinker_t": clinker_t,
        "cao": cao,
        "mgo": mgo,
        "cao_noncarbonate": x0,
        "mgo_noncarbonate": y0,
    }
    _co2(
        "Clinker process CO2",
        "Q × ((CaO − CaO₀) × 44/56 + (MgO − MgO₀) × 44/40)",
        inputs,
        lambda: formulas.clinker_co2(clinker_t, cao, mgo, x0, y0),
        as_json,
    )


class CarbonateKind(StrEnum):
    limestone = "limestone"
    dolomite = "dolomite"


@calc_app.command("carbonate-co2")
def calc_carbonate_co2(
    quantity: Annotated[float, typer.Option("--quantity", help="Carbonate used, t")],
    purity: Annotated[float, typer.Option("--purity", help="Carbonate purity, fraction")],
    kind: Annotated[CarbonateKind, typer.Option("--kind", help="limestone or dolomite")],
    as_json: JsonOpt = False,
) -> None:
    """Carbonate CO2 = Q × P × F (F: IPCC 2006 Vol 3 Table 2.1)."""
    inputs: dict[str, Any] = {"quantity": quantity, "purity": purity, "kind": kind.value}
    _co2(
        "Carbonate CO2",
        f"Q × P × {formulas.CARBONATE_FACTORS[kind.value].value}",
        inputs,
        lambda: formulas.carbonate_co2(quantity, purity, kind.value),
        as_json,
    )


def _flows(values: list[str], option: str) -> list[formulas.CarbonFlow]:
    out = []
    for v in values:
        name, sep, rest = v.partition("=")
        qty, sep2, frac = rest.partition(":")
        try:
            if not (name and sep and sep2):
                raise ValueError
            out.append(formulas.CarbonFlow(name, float(qty), float(frac)))
        except ValueError:
            raise UsageFailure(
                f"{option} {v!r}: write NAME=QUANTITY:CARBON_FRACTION, e.g. coke=1000:0.83"
            ) from None
    return out


@calc_app.command("carbon-balance")
def calc_carbon_balance(
    inputs_: Annotated[
        list[str] | None,
        typer.Option("--input", help="NAME=QUANTITY:CARBON_FRACTION (repeat)"),
    ] = None,
    outputs: Annotated[
        list[str] | None,
        typer.Option("--output", help="NAME=QUANTITY:CARBON_FRACTION (repeat)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """CO2 = (Σ in Q × C − Σ out Q × C) × 44/12 (CETS-AG-03.01-V01-2024)."""
    fin = _flows(inputs_ or [], "--input")
    fout = _flows(outputs or [], "--output")
    if not fin:
        raise UsageFailure("give at least one --input NAME=QUANTITY:CARBON_FRACTION")

    def js(fs: list[formulas.CarbonFlow]) -> list[dict[str, Any]]:
        return [
            {"name": f.name, "quantity": f.quantity, "carbon_fraction": f.carbon_fraction}
            for f in fs
        ]

    try:
        co2 = formulas.carbon_balance_co2(fin, fout)
    except MethodError as exc:
        raise UsageFailure(str(exc)) from None
    payload = {
        "co2_t": co2,
        "method": "(Σ in Q × C − Σ out Q × C) × 44/12",
        "inputs": {"in": js(fin), "out": js(fout)},
    }
    rows = [(f"in {f.name}", f"{_g(f.quantity)} × {_g(f.carbon_fraction)}") for f in fin]
    rows += [(f"out {f.name}", f"{_g(f.quantity)} × {_g(f.carbon_fraction)}") for f in fout]
    _emit(as_json, payload, "Carbon balance CO2", [*rows, ("CO2 (t)", _g(co2))])


def verify_bundle(bundle_dir: str, *, as_json: bool = False, **kw: Any) -> int:
    """Verify a bundle; returns the exit code (logic in ``collector.verify_bundle``)."""
    from collector.verify_bundle import run_cli

    return run_cli(bundle_dir, as_json=as_json, **kw)


@bundle_app.command(
    epilog="Other forms: mrv-verify calc FORMULA ... (the accounting formulas: faraday, aem, "
    "pfc, anode-co2, fuel-co2, clinker-co2, carbonate-co2, carbon-balance; "
    "mrv-verify calc --help) · mrv-verify year ... (mrv-verify year --help) · "
    "mrv-verify --version."
)
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
    trust: Annotated[
        str | None,
        typer.Option(
            "--trust",
            help="JSON list of public JWKs obtained out of band: refuse a bundle whose "
            "collector or agent keys are not among them",
        ),
    ] = None,
) -> None:
    """Verify BUNDLE_DIR: every file against the collector's signed manifest, signatures,
    chains, evidence ranges, and every value recomputed."""
    raise typer.Exit(
        verify_bundle(
            bundle_dir, as_json=as_json, workers=workers, collector_kid=collector_kid, trust=trust
        )
    )


year_app = typer.Typer(add_completion=False)


@year_app.command()
def _year(
    summary: Annotated[Path, typer.Argument(help="Annual summary JSON (mrv-collector year)")],
    bundles: Annotated[list[Path], typer.Argument(help="The month bundle directories it names")],
    as_json: JsonOpt = False,
) -> None:
    """Check an annual summary against the month bundles it names (each verified in full)."""
    from collector.records.year import check_year, check_year_signature

    try:
        data = summary.read_bytes()
        doc = json.loads(data)
    except (OSError, ValueError) as exc:
        raise UsageFailure(f"cannot read {summary}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageFailure(f"{summary} is not an annual summary")
    jws_path = summary.with_suffix(".jws")
    jws = jws_path.read_bytes() if jws_path.is_file() else None
    problems = check_year_signature(data, jws, bundles) + check_year(doc, bundles)
    if as_json:
        typer.echo(json.dumps({"ok": not problems, "problems": problems}, ensure_ascii=False))
    else:
        for p in problems:
            typer.echo(f"FAIL {p}")
        months = len(doc.get("months") or [])
        typer.echo("OK" if not problems else "FAILED", nl=False)
        typer.echo(f": {doc.get('site')} {doc.get('year')}, {months} month(s)")
    raise typer.Exit(0 if not problems else 1)


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
    if args and args[0] == "--version":
        typer.echo(f"{PROG} {package_version()}")
        code = 0
    elif args and args[0] == "year":
        code = _run(year_app, args[1:], f"{PROG} year")
    elif args and args[0] == "calc":
        code = _run(calc_app, args[1:], f"{PROG} calc")
    else:
        code = _run(bundle_app, args, PROG)
    if argv is None:
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    main()
