"""Fault-injection scenarios (issue 10): real processes on loopback, a fault, recovery, record.

Four stacks (each: Mosquitto, ``mrv-collector run``, ``mrv-sim run aluminium`` at 600× plant
speed, ``mrv-agent run`` with its production outbox setting ``synchronous: FULL``), shared by
the scenarios that can run one after another on the same plant:

* infrastructure — broker stopped and restarted; collector SIGKILLed mid-ingest; agent
  SIGKILLed with committed batches not yet published;
* power loss — agent SIGKILL plus a torn SQLite WAL tail;
* devices — a unit timing out for 10 plant minutes while another drops its connections
  again and again, a meter replaced (counter reset), a counter wrapping, VictoriaMetrics down;
* clock — the gateway's wall clock stepped forward, then back.

After each: no batch lost, none with two contents anywhere (monitor on the wire, collector
store, quarantine, agent outbox), the chain verified by ``mrv-verify`` on the built bundle,
and the record's gaps only where a device was faulty or the agent was not running.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.outbox import read_head
from simulators.stack import wait_until
from tests.faults.harness import MIN, Plant, gaps_in, outbox_batches, window_indices
from tests.faults.summary import record_outcome

pytestmark = pytest.mark.faults

# Flags every record of these runs carries because a scenario covers hours of a month, not
# because of a fault: low completeness, counters without boundary readings at the month's
# ends, and raw register ids that are not catalogue parameters.
FLAG_CODES_OF_PARTIAL_MONTH = {
    "low_completeness",
    "no_data",
    "start_not_bracketed",
    "end_not_bracketed",
    "uncatalogued",
}


def produced(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in record["parameters"] if (p.get("valid_intervals") or 0) > 0]


def fault_flags(record: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(parameter, code) → flag, for the flags a partial month does not explain."""
    return {
        (p["id"], f["code"]): f
        for p in produced(record)
        for f in p["flags"]
        if f["code"] not in FLAG_CODES_OF_PARTIAL_MONTH
    }


def restart_flag(flag: dict[str, Any], restarts: int) -> bool:
    """A flag an agent (re)start explains: the derived interval it was not running in is
    ``bad`` (no_samples/no_data) or, when partly covered, ``uncertain``; at most one per
    start (the first start included)."""
    if flag["code"] == "uncertain_quality":
        return bool(flag["readings"] <= restarts + 1)
    return (
        flag["code"] == "bad_quality"
        and flag["readings"] <= restarts + 1
        and {r["reason"] for r in flag["reasons"]} <= {"no_samples", "no_data"}
    )


def assert_clean(plant: Plant) -> dict[str, Any]:
    ev = plant.evidence()
    assert ev.problems() == []
    return {"batches": ev.head_seq, "quarantined": len(ev.quarantine)}


def assert_record(
    plant: Plant,
    root: Path,
    *,
    allowed: list[tuple[int, int]] = (),  # type: ignore[assignment]
    params: set[str] | None = None,
    **settings: Any,
) -> tuple[dict[str, Any], dict[str, list[tuple[int, int]]]]:
    """Build + verify; every gap inside the observed window lies in an allowed window."""
    stored = plant.stack.stored(plant.agent)  # before the build: the record holds at least this
    assert stored is not None and stored.covered_ms is not None
    record, ok, report = plant.record(root, **settings)
    assert ok, report
    if params is None:
        params = {p["id"] for p in produced(record)}
    gaps = gaps_in(record, plant.started_ms, stored.covered_ms, params)
    ok_idx = window_indices(record, allowed)
    stray = {pid: [s for s in spans if not set(range(*s)) <= ok_idx] for pid, spans in gaps.items()}
    assert {k: v for k, v in stray.items() if v} == {}, (gaps, sorted(ok_idx))
    return record, gaps


# -- infrastructure -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    plant = Plant(tmp_path_factory.mktemp("infra") / "stack")
    try:
        plant.wait_plant(plant.started_ms + 30 * MIN)
        yield plant
    finally:
        plant.close()


def test_broker_stopped_and_restarted(infra: Plant) -> None:
    broker = infra.stack.broker
    head = infra.head()
    t0 = infra.now_ms()
    broker.stop()  # type: ignore[union-attr]
    infra.wait_head(head + 3)  # 30 plant minutes of batches commit with nothing to publish to
    broker.start()  # type: ignore[union-attr]
    broker.wait_ready()  # type: ignore[union-attr]
    t1 = infra.now_ms()
    infra.finish()
    out = assert_clean(infra)
    record_outcome(
        "broker stopped and restarted",
        f"Mosquitto down {round((t1 - t0) / MIN)} plant min; {head + 3 - head}+ batches "
        "committed meanwhile",
        f"all {out['batches']} batches stored once, none quarantined",
    )


def test_collector_sigkilled_mid_ingest(infra: Plant) -> None:
    col = infra.collector
    stored = infra.stack.stored(infra.agent)
    assert stored is not None
    col.kill()  # while batches keep arriving every wall second
    head = infra.head()
    infra.wait_head(head + 3)  # published to the broker, queued for the collector's session
    col.start()
    col.wait_ready()
    infra.finish()
    out = assert_clean(infra)
    record_outcome(
        "collector SIGKILL mid-ingest",
        "SIGKILL while batches stream in; 3+ batches published while it is down; restarted",
        f"all {out['batches']} batches stored once (duplicates idempotent), none quarantined",
    )


def test_agent_sigkilled_between_commit_and_publish(infra: Plant) -> None:
    broker = infra.stack.broker
    broker.stop()  # type: ignore[union-attr]
    head = infra.head()
    infra.wait_head(head + 2)  # committed (fsynced), not published
    infra.snapshot_outbox()
    pending = sorted(s for s in outbox_batches(infra.agent) if s > head)
    infra.kill_agent()
    broker.start()  # type: ignore[union-attr]
    broker.wait_ready()  # type: ignore[union-attr]
    infra.start_agent()
    infra.finish()
    out = assert_clean(infra)  # the snapshot's bytes are exactly what was stored
    record_outcome(
        "agent SIGKILL between commit and publish",
        f"broker down, batches {pending[0]}–{pending[-1]} committed unpublished, agent SIGKILL, "
        "restart",
        f"republished byte-identical from the outbox; {out['batches']} batches, chain intact",
    )


def test_infrastructure_record(infra: Plant, tmp_path: Path) -> None:
    infra.wait_plant(infra.now_ms() + 20 * MIN)
    infra.finish()
    assert_clean(infra)
    record, gaps = assert_record(infra, tmp_path, allowed=infra.down)
    flags = fault_flags(record)
    assert all(restart_flag(f, len(infra.down)) for f in flags.values()), flags
    record_outcome(
        "infrastructure: record",
        "record built over the three faults above",
        f"mrv-verify ok; gaps only while the agent was down ({len(gaps)} params); one "
        "no_samples interval per derived parameter for the restart",
    )


# -- power loss ------------------------------------------------------------------------------


def torn_wal(path: Path) -> int:
    """Cut the WAL inside its last frame (a write torn by the power cut); return bytes cut."""
    wal = Path(f"{path}-wal")
    size = wal.stat().st_size
    header = wal.read_bytes()[:32]
    page = int.from_bytes(header[8:12], "big")  # the WAL header's page size (1 KiB outboxes)
    assert header[:4] in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83") and page, "not a WAL"
    frame = 24 + page
    assert size > 32 + frame, "no WAL frames to tear"
    frames = (size - 32) // frame
    cut_to = 32 + (frames - 1) * frame + 24 + page // 2  # mid-page of the last frame
    os.truncate(wal, cut_to)
    return size - cut_to


def test_power_loss_torn_wal_tail(tmp_path: Path) -> None:
    plant = Plant(tmp_path / "stack")
    try:
        plant.wait_plant(plant.started_ms + 30 * MIN)
        plant.finish()
        broker = plant.stack.broker
        broker.stop()  # type: ignore[union-attr]
        head = plant.head()
        plant.wait_head(head + 2)
        plant.snapshot_outbox()
        before = outbox_batches(plant.agent)
        plant.kill_agent()
        cut = torn_wal(plant.agent.data_dir / "outbox.sqlite3")
        # what SQLite recovers (read-write: recovery runs on the first connection)
        db = sqlite3.connect(plant.agent.data_dir / "outbox.sqlite3")
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        kept = {int(s): h for s, h in db.execute("SELECT seq, hash FROM batches")}
        db.close()
        assert integrity == "ok"
        assert kept.items() <= before.items()
        lost = sorted(set(before) - set(kept))
        assert lost == [max(before)]  # only the last (torn) transaction, never published
        broker.start()  # type: ignore[union-attr]
        broker.wait_ready()  # type: ignore[union-attr]
        plant.start_agent()
        plant.wait_plant(plant.now_ms() + 20 * MIN)
        plant.finish()
        ev = plant.evidence()
        # The torn batch was never on the wire, so its seq may carry the new content.
        ev.seen.pop(lost[0], None)
        assert ev.problems() == []
        # readings of the torn batch are lost: one publish interval, inside the down window
        lost_from = plant.down[-1][0] - 2 * 10 * MIN
        assert_record(plant, tmp_path, allowed=[(lost_from, plant.down[-1][1])])
        record_outcome(
            "power loss: SIGKILL + torn WAL tail",
            f"WAL cut {cut} bytes inside its last frame after SIGKILL (broker down, seq "
            f"{lost[0]} committed but unpublished)",
            f"integrity ok; seqs ≤ {lost[0] - 1} kept byte-identical; torn seq {lost[0]} reused "
            f"(never published: no equivocation); chain verified, {ev.head_seq} batches",
        )
    finally:
        plant.close()


# -- devices and the time-series mirror ------------------------------------------------------

RECTIFIER = {  # unit 10 and what the agent derives from it
    "line_current_ka",
    "line_voltage_v",
    "dc_power_kw",
    "dc_energy_mwh",
    "dc_energy_interval_mwh",
    "line_current_mean_ka",
}


def test_device_faults_and_influx_outage(tmp_path: Path) -> None:
    from tests.support.servers import VictoriaMetrics

    vm = VictoriaMetrics(tmp_path / "vm")
    vm.start()
    faults = [  # counted from plant.faults_from_ms, once the agent runs
        "timeout:unit=10:at=+60m:for=10m",  # rectifier: line current, DC energy
        # potline PLC: each drop lasts two poll periods, so a poll meets it however the
        # agent's polls fall (the lean client reconnects at once after a shorter one)
        *(f"drop:unit=12:at=+{m}m:for=2m" for m in range(25, 125, 10)),
        "rollover:unit=11:register=ac_energy_kwh:at=+40m:margin=5000",  # UINT32 kWh wraps
        "reset:unit=10:register=dc_energy_kwh:at=+90m",  # DC meter replaced
    ]
    plant = Plant(
        tmp_path / "stack",
        faults=faults,
        raw_counters=["ac_energy_kwh"],  # raw counts: the record knows the register's width
        collector_extra={
            "influx": {
                "enabled": True,
                "url": vm.url,
                "retry_initial_s": 0.05,
                "retry_max_s": 0.5,
                "timeout_s": 5,
            }
        },
    )
    try:
        t0 = plant.faults_from_ms
        plant.wait_plant(t0 + 45 * MIN)
        vm.stop()
        plant.wait_plant(t0 + 75 * MIN)
        vm.start()
        plant.wait_plant(t0 + 130 * MIN)
        plant.finish()
        assert_clean(plant)
        timeout_win = [(t0 + 60 * MIN, t0 + 70 * MIN)]
        # a dropped connection costs the polls until the agent reconnects: its back-off is
        # in wall seconds (0.2 s doubling to 2 s), i.e. 2–20 plant minutes at 600×
        drop_wins = [(t0 + m * MIN, t0 + (m + 8) * MIN) for m in range(25, 125, 10)]
        counters = {"ac_energy_mwh": {"width_bits": 32, "scale": 0.001, "max_rate_per_s": 0.25}}
        record, gaps = assert_record(
            plant, tmp_path, allowed=timeout_win + drop_wins, counters=counters
        )
        timeout_idx = window_indices(record, timeout_win)
        drop_idx = window_indices(record, drop_wins)
        for pid, spans in gaps.items():
            where = timeout_idx if pid in RECTIFIER else drop_idx
            assert all(set(range(*sp)) <= where for sp in spans), (pid, spans)
        by_id = {p["id"]: p for p in record["parameters"]}
        # the timeout shows in the rectifier's parameters, and only there
        assert "line_current_ka" in gaps
        # the drops show as bad samples (reason timeout) on the PLC's parameters
        plc = by_id["operating_cells"]
        assert "bad_quality" in {f["code"] for f in plc["flags"]}
        counter_flags = {
            p["id"]: sorted(f["code"] for f in p["flags"] if f["code"].startswith("counter_"))
            for p in produced(record)
        }
        counter_flags = {k: v for k, v in counter_flags.items() if v}
        # exactly the two meters that were replaced / wrapped carry a counter step flag
        assert set(counter_flags) == {"dc_energy_mwh", "ac_energy_mwh"}, counter_flags
        assert "counter_reset" in counter_flags["dc_energy_mwh"]  # the replaced DC meter
        # the wrap is unwrapped (raw counts, known width) and the pre-wrap jump not counted
        assert "counter_rollover" in counter_flags["ac_energy_mwh"]
        assert "counter_rebaseline" in counter_flags["ac_energy_mwh"]
        # mirror caught up after the outage: every valued reading of a series is in VM
        # read through the store's own interface
        store = plant.collector.store()
        assert store is not None

        def mirrored() -> bool:
            return not store.envelopes_after(store.mirror_cursor("influx"), 1)

        wait_until(mirrored, timeout=60, what="InfluxDB mirror to catch up")
        n_store = sum(
            1
            for r in store.readings(plant.agent.site, param="operating_cells")
            if r.value is not None
        )
        exported = vm.export('{param="operating_cells",__name__=~".*_value"}')
        n_vm = sum(len(s["values"]) for s in exported)  # type: ignore[arg-type]
        assert n_vm == n_store
        record_outcome(
            "device timeout 10 min + connection drops",
            "unit 10 times out for 10 plant min; unit 12 drops its connections 10× (2 plant min each)",
            f"rectifier parameters invalid only in the timeout window; PLC parameters lose "
            f"samples around each drop (bad, reason timeout), invalid only there; gaps: "
            f"{ {k: len(v) for k, v in gaps.items()} }",
        )
        record_outcome(
            "meter replaced + counter wrap",
            "unit 10 dc_energy_kwh reset to 0 (meter replaced); unit 11 ac_energy_kwh (UINT32) "
            "jumps to 5,000 below its wrap and wraps",
            f"flagged on exactly those two: {counter_flags}; ac_energy_mwh = "
            f"{by_id['ac_energy_mwh']['value']:,.1f} MWh (the jump is not counted)",
        )
        record_outcome(
            "VictoriaMetrics down",
            "InfluxDB (VictoriaMetrics) stopped for 30 plant min, restarted",
            f"ingest unaffected; mirror caught up: {n_vm} = {n_store} samples of operating_cells",
        )
    finally:
        plant.close()
        vm.stop()


# -- clock -------------------------------------------------------------------------------------


def test_gateway_clock_jumps(tmp_path: Path) -> None:
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    wrapper = [sys.executable, str(Path(__file__).with_name("clockshift.py")), str(offset)]
    plant = Plant(tmp_path / "stack", agent_argv_prefix=wrapper)
    try:
        import signal

        plant.wait_plant(plant.started_ms + 30 * MIN)
        pid = plant.agent.pid
        assert pid is not None
        offset.write_text("-3")  # 3 wall s = 30 plant min backwards
        os.kill(pid, signal.SIGUSR1)
        j1 = plant.now_ms()
        plant.wait_plant(j1 + 30 * MIN)
        offset.write_text("0")  # and forward again
        os.kill(pid, signal.SIGUSR1)
        j2 = plant.now_ms()
        plant.wait_plant(j2 + 30 * MIN)
        plant.finish()
        assert_clean(plant)
        record, ok, report = plant.record(tmp_path)
        assert ok, report
        events = record["clock_events"]
        assert {e["type"] for e in events} == {"clock_jump"} and len(events) == 2, events
        jumps = sorted(events, key=lambda e: e["seq"])
        assert "clock_events" in {f["code"] for f in record["flags"]}
        # the batches that carried a step flag their intervals on every parameter in them
        unsynced = next(f for f in record["flags"] if f["code"] == "clock_unsynced_batches")
        assert {b["seq"] for b in unsynced["batches"]} == {e["seq"] for e in jumps}
        flagged = {
            p["id"]: f["intervals"]
            for p in produced(record)
            for f in p["flags"]
            if f["code"] == "clock_unsynced"
        }
        assert "line_current_ka" in flagged and max(flagged.values()) <= 3, flagged
        record_outcome(
            "gateway clock jumps back and forward",
            "agent wall clock stepped −3 s (−30 plant min), later +3 s",
            f"agent flagged both (clock_jump events in batches {[e['seq'] for e in jumps]}); the "
            f"record lists them and flags their intervals clock_unsynced on {len(flagged)} "
            "parameters; seq and chain valid, mrv-verify ok",
        )
    finally:
        plant.close()


def test_power_loss_loses_published_batches(tmp_path: Path) -> None:
    """``synchronous: NORMAL`` (or a disk that lies about fsync): a power cut can take away
    commits whose batches were already published and stored. The agent must not reuse those
    seqs with new contents: the collector's signed, retained ack names the last seq it holds
    and its hash, and the agent continues its chain after it (DESIGN.md "Delivery"), without
    an operator; what it committed meanwhile is signed again under new seqs, nothing lost.

    The cut is reproduced deterministically, whatever the machine's load: the outbox is
    copied (SQLite backup, a consistent state) once it holds some batches, the agent goes on
    until more are stored and acked, then it is SIGKILLed and the copy put back."""
    plant = Plant(tmp_path / "stack", synchronous="NORMAL")
    try:
        outbox = plant.agent.data_dir / "outbox.sqlite3"
        plant.wait_head(3)
        snapshot = tmp_path / "outbox-at-cut.sqlite3"
        src, dst = sqlite3.connect(outbox), sqlite3.connect(snapshot)
        src.backup(dst)
        src.close()
        dst.close()
        at_cut = read_head(snapshot)  # through agent.outbox, as any other reader
        assert at_cut is not None
        recovered = at_cut.head_seq
        plant.wait_head(recovered + 3)
        plant.finish()  # everything up to here is stored and acked
        before = plant.head()
        plant.snapshot_outbox()
        plant.kill_agent()
        for suffix in ("-wal", "-shm"):
            Path(f"{outbox}{suffix}").unlink(missing_ok=True)
        snapshot.replace(outbox)
        assert recovered < before  # published and stored batches are gone from the outbox
        plant.start_agent()
        wait_until(
            lambda: "chain_continued_after_lost_commits" in plant.agent.log_text(),
            timeout=60,
            what="the agent to continue its chain after the collector's ack",
        )
        plant.wait_head(before + 2)  # it keeps polling and committing, durably
        plant.finish()
        ev = plant.evidence()
        assert ev.quarantine == []  # nothing equivocating reached the collector
        drained = ev.drained_through
        assert drained is not None and drained >= before + 2
        assert sorted(ev.stored)[:drained] == list(range(1, drained + 1))
        assert ev.problems() == []
        for seq in range(1, before + 1):  # the wire carried one content per seq
            assert plant.monitor_hashes(seq) == {ev.stored[seq]}, seq
        _, ok, report = plant.record(tmp_path)
        assert ok, report
        record_outcome(
            "power loss losing published commits (NORMAL / lying disk)",
            f"SIGKILL, outbox rolled back to an earlier durable state (head {before} → "
            f"{recovered}; seqs {recovered + 1}–{before} were already stored)",
            "agent verifies the collector's signed retained ack (through, hash), continues "
            "the chain at through + 1 with prev = hash, re-signs what it committed meanwhile; "
            "quarantine empty, chain unbroken, mrv-verify ok, no operator needed",
        )
    finally:
        plant.close()
