"""``mrv-sim demo``: a whole past month through the real system, in a few minutes.

An aluminium smelter, a cement plant and an integrated steelworks (``mrv-sim run``) with
scheduled device faults, an
agent for each (``mrv-agent run``, own key, enrolled), a broker (Mosquitto or embedded amqtt;
MQTT 3.1.1 so either works), and a collector (``mrv-collector run``) with its SQLite evidence
store and web UI — all real processes on 127.0.0.1 (``simulators.stack``). Plant time runs
``speed`` times faster than the wall clock from six hours before the month. When every
agent's evidence past the month end is stored contiguously and every batch its outbox
committed is acked, the plants stop and the collector builds each site's record
(``mrv-collector record build``), which ``mrv-verify`` then checks offline. Exit 0 only if
every bundle verifies.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from protocols.errors import MrvError
from protocols.record.settings import MonthWindow, month_window
from simulators.lab_results import lab_config, submit_lab_results

from .stack import (
    AgentProcess,
    AgentProgress,
    PlantClockSpec,
    SimulatorProcess,
    Stack,
    StackError,
    verify_bundle,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TZ = "Asia/Shanghai"

#: plant seconds: Modbus polls, one signed batch and one record interval per hour
POLL_S = 600.0
PUBLISH_S = 3600.0
RECORD_INTERVAL_S = 3600
#: plant time simulated before the month so counters have a reading before it starts
WARMUP_MS = 6 * HOUR_MS
#: and after its end (two batches: the boundary readings of every counter)
TAIL_MS = 2 * HOUR_MS
#: wall seconds between fixing the plant clock and plant time starting to run: processes
#: start meanwhile (plant time holds still before the anchor)
LEAD_S = 5.0


@dataclass(frozen=True)
class SiteSpec:
    site: str
    kind: str
    agent: str
    name: str
    records: dict[str, Any]
    raw_counters: tuple[str, ...]


SITES = (
    SiteSpec(
        "smelter_1",
        "aluminium",
        "potline_1",
        "aluminium smelter (24-cell potline)",
        {
            "interval_s": RECORD_INTERVAL_S,
            # PFC by the China guideline form (the default); the slope method with the
            # 2019 Refinement's PFPB-M coefficients is computed beside it as a cross-check
            "aluminium": {
                "faraday_ce": 0.94,
                "pfc": {"technology": "PFPB-M", "coefficients": "ipcc2019", "gwp": "AR5"},
            },
            # the AC meter's 32-bit kWh register travels as raw counts: the record scales
            # it to MWh and knows its width (a rollover, not a reset); a jump faster than
            # the potline can draw is a glitch or a preset, never consumption
            "counters": {
                "ac_energy_mwh": {"width_bits": 32, "scale": 0.001, "max_rate_per_s": 0.25}
            },
        },
        ("ac_energy_kwh",),
    ),
    SiteSpec(
        "cement_1",
        "cement",
        "kiln_1",
        "cement plant (kiln line)",
        {
            "interval_s": RECORD_INTERVAL_S,
            "counters": {
                "power_import_mwh": {"width_bits": 32, "scale": 0.0001, "max_rate_per_s": 0.05}
            },
        },
        ("energy_import_kwh",),
    ),
    SiteSpec(
        "steelworks_1",
        "steel",
        "works_1",
        "integrated steelworks (coke ovens, sinter, blast furnace, BOF)",
        # the enterprise carbon balance and the per-process balances use the guideline
        # defaults' carbon contents (no laboratory results yet: origin default)
        {"interval_s": RECORD_INTERVAL_S},
        (),
    ),
)


@dataclass(frozen=True)
class ScheduledFault:
    """A device fault in plant time, in the simulators' fault grammar."""

    site: str
    spec: str
    at_ms: int
    for_ms: int | None
    what: str

    def state(self, plant_ms: int) -> str:
        if plant_ms < self.at_ms:
            return "scheduled"
        if self.for_ms is None or plant_ms < self.at_ms + self.for_ms:
            return "active" if self.for_ms else "done"
        return "done"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def demo_faults(start_ms: int, period_ms: int) -> list[ScheduledFault]:
    """The faults of the demo, placed at fractions of the simulated period (hour-aligned)."""

    def at(frac: float) -> int:
        return start_ms + int(period_ms * frac) // HOUR_MS * HOUR_MS

    def f(site: str, mode: str, frac: float, hours: float | None, what: str) -> ScheduledFault:
        t = at(frac)
        spec = f"{mode}:at={_iso(t)}"
        dur = None if hours is None else int(hours * HOUR_MS)
        if hours is not None:
            spec += f":for={int(hours * 60)}m"
        return ScheduledFault(site, spec, t, dur, what)

    return [
        f(
            "smelter_1",
            "exception:unit=10:code=4",
            0.2,
            2,
            "rectifier answers Modbus exception 4 for 2 h (short gap: SUB1)",
        ),
        f(
            "smelter_1",
            "timeout:unit=22",
            0.4,
            8,
            "pot controller 22 (cells 13-24) silent for 8 h (long gap: look-back tiers)",
        ),
        f(
            "smelter_1",
            "rollover:unit=11:register=ac_energy_kwh:margin=100000",
            0.6,
            None,
            "AC energy meter preset near its top, rolls over 2 h later (32 bit)",
        ),
        f(
            "cement_1",
            "timeout:unit=2",
            0.3,
            4,
            "clinker weigh feeder silent for 4 h (counter keeps the total exact)",
        ),
        f(
            "cement_1",
            "reset:unit=5:register=energy_import_kwh",
            0.5,
            None,
            "power meter replaced (counter restarts from 0)",
        ),
    ]


def previous_month(now: datetime | None = None, tz: str = TZ) -> str:
    """The last complete calendar month in ``tz``."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(tz))
    first = local.replace(day=1)
    prev = first - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


@dataclass
class SiteRun:
    spec: SiteSpec
    sim: SimulatorProcess
    agent: AgentProcess
    bundle: Path | None = None
    verified: bool | None = None
    verify_report: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoOptions:
    broker: str | None = None
    data_dir: Path | None = None
    month: str | None = None
    days: float | None = None
    speed: float = 15000.0
    seed: int = 1
    exit: bool = False
    json: bool = False
    #: evidence store: None = SQLite in the data dir; "postgresql" = start Debian's
    #: PostgreSQL in the data dir; or a postgresql:// URL of an existing database
    database: str | None = None
    collectors: int = 1


@dataclass
class DemoResult:
    bundles: list[str]
    verified: bool
    data_dir: Path
    url: str | None
    token: str | None
    timings: dict[str, float]


class DemoError(Exception):
    """Bad options (exit 2)."""


def _check_data_dir(opts: DemoOptions) -> Path:
    if opts.data_dir is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return (Path("demo-data") / stamp).resolve()
    d = opts.data_dir.resolve()
    if d.exists() and any(d.iterdir()):
        raise DemoError(f"data dir {d} is not empty; give a new or empty --data-dir")
    return d


def _fmt_num(v: Any) -> str:
    """As the web UI and report.html show it (collector.records.explain.number)."""
    from collector.records.explain import number

    return number(v)


class Demo:
    """One demo run; ``run()`` returns the result, ``close()`` tears everything down."""

    def __init__(self, opts: DemoOptions, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.month = opts.month or previous_month()
        self.window: MonthWindow = month_window(self.month, TZ)
        if opts.days is not None and not 0 < opts.days <= self.window.days:
            raise DemoError(f"--days must be in (0, {self.window.days:g}] for {self.month}")
        if opts.speed <= 0 or opts.speed > 100000:
            raise DemoError("--speed must be in (0, 100000]")
        if opts.collectors < 1:
            raise DemoError("--collectors must be at least 1")
        if opts.database not in (None, "postgresql") and not str(opts.database).startswith(
            ("postgresql://", "postgres://")
        ):
            raise DemoError("--database must be postgresql (start one) or a postgresql:// URL")
        if opts.collectors > 1 and opts.database is None:
            raise DemoError("--collectors N > 1 needs a shared store: add --database postgresql")
        self.period_ms = int((opts.days or self.window.days) * DAY_MS)
        self.period_end_ms = self.window.start_ms + self.period_ms
        self.data_dir = _check_data_dir(opts)
        self.stack = Stack(self.data_dir, broker=opts.broker)
        self.faults = demo_faults(self.window.start_ms, self.period_ms)
        self.sites: list[SiteRun] = []
        self.token: str | None = None
        self.timings: dict[str, float] = {}
        self.clock: PlantClockSpec | None = None
        #: per site its lab agent (no devices) submitting the month's lab results
        self.labs: dict[str, AgentProcess] = {}

    # -- phases --------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def setup(self) -> None:
        t0 = time.monotonic()
        st = self.stack
        broker = st.start_broker()
        self._say(f"[bold]broker[/]: {broker.kind} on {broker.address} (MQTT 3.1.1)")
        kinds = {s.site: s.kind for s in SITES}
        if self.opts.database is not None and broker.kind == "amqtt":
            raise DemoError("a collector group needs MQTT 5: install mosquitto (amqtt is 3.1.1)")
        if self.opts.database is None:
            group = [st.add_collector(kinds)]
        else:
            url = st.start_postgres() if self.opts.database == "postgresql" else self.opts.database
            group = st.add_collector_group(self.opts.collectors, url, kinds)
            self._say(
                f"[bold]store[/]: PostgreSQL, {len(group)} collector(s) in one MQTT 5 "
                "shared-subscription group"
            )
        col = group[0]
        for c in group:
            for s in SITES:
                c.config["sites"][s.site]["records"] = s.records
                c.config["sites"][s.site]["name"] = s.name
            c.write_config()
            c.start()  # connects while the agents are prepared
        self.token = col.add_token("admin", "demo")
        prepared = [st.prepare_agent(site=s.site, agent=s.agent) for s in SITES]
        for s in SITES:
            lab = st.prepare_agent(site=s.site, agent=f"lab_{s.site}", name=f"lab-{s.site}")
            lab.write_config(
                lab_config(
                    lab,
                    industry=s.kind,
                    broker=(broker.host, broker.port),
                    collector_key=col.public_jwk,
                )
            )
            self.labs[s.site] = lab
        # Plant time: six hours before the month at LEAD_S from now, then `speed` x wall.
        self.clock = PlantClockSpec.starting_in(
            self.window.start_ms - WARMUP_MS, speed=self.opts.speed, lead_s=LEAD_S
        )
        for s, ag in zip(SITES, prepared, strict=True):
            faults = [f.spec for f in self.faults if f.site == s.site]
            sim = st.add_simulator(s.kind, clock=self.clock, seed=self.opts.seed, faults=faults)
            sim.start()
            self.sites.append(SiteRun(s, sim, ag))
        for run in self.sites:
            run.sim.wait_ready()
            st.add_agent(
                run.sim,
                site=run.spec.site,
                agent=run.spec.agent,
                poll_s=POLL_S,
                publish_s=PUBLISH_S,
                raw_counters=run.spec.raw_counters,
            )
            run.agent.start()
        for c in group:
            c.wait_ready()
        for run in self.sites:
            run.agent.wait_ready()
        self.timings["setup_s"] = time.monotonic() - t0
        from collector.store import redact

        late = self.clock.now_ms() - (self.window.start_ms - HOUR_MS)
        self._say(
            f"[bold]collector[/]: {col.url} · evidence {redact(col.database_url)}\n"
            f"[bold]web UI[/]: {col.url}  log in with token: {self.token}\n"
            f"[bold]plants[/]: {', '.join(f'{r.spec.kind} :{r.sim.port}' for r in self.sites)}"
            f" · agents {', '.join(r.spec.site + '/' + r.spec.agent for r in self.sites)}"
            f" enrolled · plant clock {self.opts.speed:g}x"
        )
        if late > 0:
            self._say(
                f"[yellow]warning[/]: the agents came up {late / HOUR_MS:.1f} plant hours late; "
                "the record will show a gap at the start of the month"
            )

    def _progress_view(self, plant_ms: int, stored: dict[tuple[str, str], AgentProgress]) -> Group:
        frac = min(1.0, max(0.0, (plant_ms - self.window.start_ms) / self.period_ms))
        head = Table.grid(padding=(0, 1))
        head.add_row(
            "[bold]plant time[/]",
            self.window.iso(plant_ms),
            f"[cyan]{'█' * int(frac * 30)}{'·' * (30 - int(frac * 30))}[/] {frac:5.1%}",
        )
        t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("site/agent", "batches committed", "stored (contiguous)", "acked", "quar."):
            t.add_column(col, justify="right" if col != "site/agent" else "left")
        for run in self.sites:
            ob = run.agent.outbox()
            p = stored.get((run.spec.site, run.spec.agent))
            t.add_row(
                f"{run.spec.site}/{run.spec.agent}",
                str(ob.head_seq if ob else 0),
                str(p.contiguous_through if p else 0),
                str(ob.acked_through if ob else 0),
                str(p.quarantined if p else 0),
            )
        ft = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("fault (plant time)", "site", "state", "what"):
            ft.add_column(col)
        for f in self.faults:
            state = f.state(plant_ms)
            style = {"scheduled": "dim", "active": "bold red", "done": "green"}[state]
            ft.add_row(self.window.iso(f.at_ms)[:16], f.site, f"[{style}]{state}[/]", f.what)
        return Group(head, t, ft)

    def simulate(self) -> None:
        """Run until each agent's evidence through the period end (+ tail) is stored."""
        assert self.clock is not None
        t0 = time.monotonic()
        target = self.period_end_ms + TAIL_MS
        wall_needed = max(0.0, self.clock.wall_s(target) - time.time())
        deadline = time.monotonic() + wall_needed * 2 + 120
        col = self.stack.collector
        assert col is not None
        watch = self.stack.processes
        tty = self.console.is_terminal
        last_line = -1

        def done(stored: dict[tuple[str, str], AgentProgress]) -> bool:
            return all(
                (p := stored.get((r.spec.site, r.spec.agent))) is not None
                and (p.covered_ms or 0) >= target
                for r in self.sites
            )

        with Live(console=self.console, refresh_per_second=4, transient=False) as live:
            if not tty:
                live.stop()
            while True:
                stored = col.progress()
                plant_ms = self.clock.now_ms()
                if tty:
                    live.update(self._progress_view(plant_ms, stored))
                else:
                    day = int((plant_ms - self.window.start_ms) // DAY_MS)
                    if day != last_line and plant_ms >= self.window.start_ms:
                        last_line = day
                        self._say(self._progress_line(plant_ms, stored))
                if done(stored):
                    break
                for p in watch:
                    if p.started and not p.running:
                        raise StackError(f"{p.name} exited with code {p.returncode}\n{p.tail()}")
                if time.monotonic() > deadline:
                    raise StackError("the plants' evidence did not reach the period end in time")
                time.sleep(0.25)
        self._say(self._progress_line(self.clock.now_ms(), col.progress()))
        heads = self.stack.wait_drained([r.agent for r in self.sites], timeout=120)
        self._say(
            "[bold]all evidence stored[/]: "
            + ", ".join(f"{n} through seq {s}" for n, s in heads.items())
            + " (collector contiguous = agent outbox head, acked)"
        )
        for run in self.sites:  # the month is in; free the CPU for the records
            run.agent.stop(30)
        for run in self.sites:
            run.sim.stop(30)
        self.timings["simulate_s"] = time.monotonic() - t0

    def _progress_line(self, plant_ms: int, stored: dict[tuple[str, str], AgentProgress]) -> str:
        parts = []
        for run in self.sites:
            ob = run.agent.outbox()
            p = stored.get((run.spec.site, run.spec.agent))
            parts.append(
                f"{run.spec.agent} committed {ob.head_seq if ob else 0}"
                f" stored {p.contiguous_through if p else 0}"
            )
        active = [f.what.split(" (")[0] for f in self.faults if f.state(plant_ms) == "active"]
        faults = f" · faults active: {'; '.join(active)}" if active else ""
        return f"plant {self.window.iso(plant_ms)} · " + " · ".join(parts) + faults

    def lab_results(self) -> None:
        """The month's laboratory results and settlement slip, with PDF reports, submitted
        by each site's lab agent (``mrv-agent submit``); one value corrected once."""
        t0 = time.monotonic()
        for run in self.sites:
            subs = submit_lab_results(
                self.labs[run.spec.site], kind=run.spec.kind, month=self.month
            )
            if subs:
                self._say(
                    f"[bold]lab results[/] {run.spec.site}: "
                    + ", ".join(f"{x['param']} {x['value']:g}" for x in subs)
                    + " (signed, with PDF reports, acknowledged)"
                )
        self.timings["lab_s"] = time.monotonic() - t0

    def records(self) -> None:
        t0 = time.monotonic()
        col = self.stack.collector
        assert col is not None
        for run in self.sites:
            self._say(f"building the {self.month} record of {run.spec.site} …")
            out = col.record_build(run.spec.site, self.month)
            run.bundle = Path(out["bundle"])
            run.record = json.loads((run.bundle / "record.json").read_text(encoding="utf-8"))
        self.timings["records_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        for run in self.sites:
            assert run.bundle is not None
            run.verified, run.verify_report = verify_bundle(run.bundle)
        self.timings["verify_s"] = time.monotonic() - t0

    # -- report --------------------------------------------------------------------------
    def summary(self) -> None:
        for run in self.sites:
            self.console.print(self._site_table(run))
        col = self.stack.collector
        assert col is not None
        lines = ["[bold]bundles[/] (verify again with `mrv-verify DIR`):"]
        for run in self.sites:
            ok = "[green]verified[/]" if run.verified else "[red]NOT verified[/]"
            lines.append(f"  {run.bundle}  {ok}  (report: {run.bundle}/report.html)")
        lines.append(f"[bold]web UI[/]: {col.url}  log in with token: {self.token}")
        lines.append(f"[bold]data dir[/]: {self.data_dir} (logs/ has every process's log)")
        t = self.timings
        lines.append(
            f"[bold]wall time[/]: setup {t.get('setup_s', 0):.0f} s, simulate+collect "
            f"{t.get('simulate_s', 0):.0f} s, records {t.get('records_s', 0):.0f} s, "
            f"verify {t.get('verify_s', 0):.0f} s"
        )
        self._say("\n".join(lines))

    def _site_table(self, run: SiteRun) -> Table:
        rec = run.record
        params = {p["id"]: p for p in rec.get("parameters", [])}
        ok = run.verified
        title = f"{run.spec.site} · {run.spec.name} · {self.month} v{rec.get('version')} · " + (
            "[green]mrv-verify: OK[/]" if ok else "[red]mrv-verify: FAILED[/]"
        )
        t = Table(title=title, title_justify="left", header_style="bold")
        for c in ("key parameter", "value", "unit", "complete", "substituted", "flags"):
            t.add_column(
                c,
                justify="right" if c in ("value", "complete", "substituted") else "left",
                overflow="fold",  # ids and rule names wrap at 80 columns, never cut
            )
        for p in params.values():
            if p.get("aggregation") == "derived":
                continue  # AEM, PFC and CE follow from record.derived below
            pid = p["id"]
            if any(f["code"] == "not_measured" for f in p.get("flags", [])):
                t.add_row(
                    f"{p.get('name_en') or pid} [dim]{pid}[/]",
                    "[dim]not measured[/]",
                    p.get("unit") or "",
                    "—",
                    "—",
                    "[dim]not_measured[/]",
                )
                continue
            subs = p.get("substituted_intervals") or 0
            rules = sorted({s["rule"] for s in p.get("substitutions", [])})
            flags = sorted({f["code"] for f in p.get("flags", [])})
            counter = p.get("counter") or {}
            kinds = sorted(set(counter.get("kinds") or []))
            if counter.get("replacements"):
                kinds.append("meter_replacement")
            t.add_row(
                f"{p.get('name_en') or pid} [dim]{pid}[/]",
                _fmt_num(p.get("value")),
                p.get("unit") or "",
                f"{(p.get('completeness') or 0):.1%}",
                f"{subs} h " + ",".join(rules) if subs else "0",
                ", ".join(flags + kinds),
            )
        d = rec.get("derived") or {}
        if d.get("aem"):
            from collector.records.explain import ae_count

            t.add_row(
                "Anode effects (as the record counts them)", _fmt_num(ae_count(rec)), "", "", "", ""
            )
        aem = (d.get("aem") or {}).get("aem")
        if aem is not None:
            t.add_row(
                "AEM (AE-min per cell-day) [dim]aem[/]", _fmt_num(aem), "min/cell·d", "", "", ""
            )
        pfc = d.get("pfc")
        if pfc:
            t.add_row(
                f"PFC ({pfc['method']}, {pfc.get('technology')}, {pfc['coefficient_set']}, "
                f"{pfc['gwp_set']}) [dim]pfc_co2e_t[/]",
                _fmt_num(pfc.get("co2e_t")),
                "t CO2e",
                "",
                "",
                "",
            )
        prod = d.get("production") or {}
        if prod.get("implied_ce") is not None:
            t.add_row(
                "Current efficiency implied by measured metal",
                _fmt_num(prod["implied_ce"]),
                "",
                "",
                "",
                "",
            )
        em = rec.get("emissions") or {}
        for src in em.get("sources") or []:
            defaults = sorted(
                k
                for k, v in (src.get("inputs") or {}).items()
                if isinstance(v, dict)
                and v.get("origin") == "default"
                and not isinstance(v.get("value"), str)  # method/GWP names are settings
            )
            t.add_row(
                f"emission {src['id']} [dim]{src['kind']}[/]",
                _fmt_num(src.get("co2e_t")),
                "t CO2e",
                "",
                "",
                f"defaults: {', '.join(defaults)}" if defaults else "",
            )
        if em:
            t.add_row(
                "[bold]direct emissions total[/]",
                _fmt_num(em.get("total_co2e_t")),
                "t CO2e",
                "",
                "",
                "",
            )
        codes = sorted({f["code"] for f in rec.get("flags", [])})
        if codes:
            t.caption = f"record flags: {', '.join(codes)}"
        return t

    # -- all -----------------------------------------------------------------------------
    def run(self) -> DemoResult:
        start = time.monotonic()
        self._say(
            f"[bold]Plant MRV demo[/]: {self.month} ({TZ}), "
            + (
                f"first {self.opts.days:g} days"
                if self.opts.days
                else f"whole month ({self.window.days:g} days)"
            )
            + f", plant clock {self.opts.speed:g}x, data in {self.data_dir}"
        )
        self.setup()
        self.simulate()
        self.lab_results()
        self.records()
        self.timings["total_s"] = time.monotonic() - start
        self.summary()
        col = self.stack.collector
        return DemoResult(
            bundles=[str(r.bundle) for r in self.sites],
            verified=all(r.verified for r in self.sites),
            data_dir=self.data_dir,
            url=col.url if col else None,
            token=self.token,
            timings=self.timings,
        )

    def serve_until_interrupted(self) -> None:
        """Keep the collector (web UI) and broker up until Ctrl-C / SIGTERM."""
        col = self.stack.collector
        self._say("serving the web UI; press Ctrl-C to stop")
        stop = {"now": False}

        def _handler(signum: int, frame: Any) -> None:
            stop["now"] = True

        old = signal.signal(signal.SIGTERM, _handler)
        try:
            while not stop["now"]:
                if col is not None and not col.running:
                    raise StackError(f"the collector exited ({col.returncode})\n{col.tail()}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, old)

    def close(self) -> None:
        for line in self.stack.close():
            self._say(f"[yellow]teardown[/]: {line}")


def run_demo(opts: DemoOptions, *, out: Callable[[str], None] = print) -> int:
    """The ``mrv-sim demo`` command: 0 verified, 1 not verified or a process failed,
    2 bad options."""
    console = Console(stderr=True)
    if not console.is_terminal:  # piped or logged: wide enough for the summary tables
        console = Console(stderr=True, width=140)
    try:
        demo = Demo(opts, console)
    except (DemoError, StackError, ValueError, MrvError) as exc:
        console.print(f"mrv-sim demo: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return 2
    result: DemoResult | None = None
    code = 1
    try:
        result = demo.run()
        code = 0 if result.verified else 1
        if opts.json:
            out(json.dumps({"bundles": result.bundles, "verified": result.verified}))
            sys.stdout.flush()
        if not opts.exit:
            demo.serve_until_interrupted()
    except StackError as exc:
        console.print(f"mrv-sim demo: failed: {exc}", highlight=False, markup=False, soft_wrap=True)
        console.print(
            f"logs: {demo.data_dir / 'logs'}", highlight=False, markup=False, soft_wrap=True
        )
        if opts.json:
            out(json.dumps({"bundles": [], "verified": False}))
        code = 1
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        code = 130 if result is None else code
    finally:
        demo.close()
    return code
