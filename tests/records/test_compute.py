"""The pure monthly computation against numbers worked out by hand."""

from __future__ import annotations

import importlib
import json
import math
import random
from datetime import UTC, datetime

import pytest

from protocols.envelope import parse_envelope, payload_hash
from protocols.record import (
    RecordError,
    RecordSettings,
    accumulate,
    compute_record,
    finish_record,
    merge_partials,
    month_window,
)
from protocols.record.accumulate import SeriesAcc
from tests.records.support import FakeAgent, reading

# the module (the package re-exports its function under the same name)
accumulate_mod = importlib.import_module("protocols.record.accumulate")

H = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


def payloads(envs: list[bytes]) -> list[bytes]:
    return [parse_envelope(e).payload for e in envs]


def entry(body: dict, pid: str) -> dict:
    return next(p for p in body["parameters"] if p["id"] == pid)


# -- month boundaries -------------------------------------------------------------------


def test_month_is_the_calendar_month_in_shanghai() -> None:
    w = month_window("2026-10", "Asia/Shanghai")
    assert w.start_ms == ms("2026-09-30T16:00:00+00:00")
    assert w.end_ms == ms("2026-10-31T16:00:00+00:00")
    assert w.days == 31
    assert w.iso(w.start_ms) == "2026-10-01T00:00:00+08:00"


@pytest.mark.parametrize(
    ("ts", "stamp", "month"),
    [
        ("2026-09-30T16:30:00+00:00", "end", "2026-10"),  # 00:30 on 1 Oct in Shanghai
        ("2026-09-30T15:59:00+00:00", "end", "2026-09"),
        ("2026-09-30T16:00:00+00:00", "end", "2026-09"),  # closes 30 Sep's last interval
        ("2026-09-30T16:00:00+00:00", "start", "2026-10"),
    ],
)
def test_a_reading_belongs_to_the_shanghai_month(ts: str, stamp: str, month: str) -> None:
    agent = FakeAgent("s1", "a1")
    env = agent.batch([reading("line_current_ka", ms(ts), 400.0)])
    for m in ("2026-09", "2026-10"):
        s = RecordSettings(site="s1", month=m, interval_s=900, interval_stamp=stamp)
        e = entry(compute_record(s, payloads([env])).body, "line_current_ka")
        if m == month:
            assert e["readings"]["used"] == 1 and e["value"] == 400.0
        else:
            assert e["readings"]["used"] == 0 and e["readings"]["outside_month"] == 1
            assert e["value"] is None


def test_bad_settings_are_named() -> None:
    with pytest.raises(RecordError, match="YYYY-MM"):
        RecordSettings(site="s1", month="2026-13")
    with pytest.raises(RecordError, match="time zone"):
        RecordSettings(site="s1", month="2026-10", timezone="Mars/Olympus")
    with pytest.raises(RecordError, match="divide"):
        RecordSettings(site="s1", month="2026-10", interval_s=7)
    with pytest.raises(RecordError, match="unknown field"):
        RecordSettings.from_dict({"site": "s1", "month": "2026-10", "intervall": 60})


def test_settings_round_trip() -> None:
    s = RecordSettings.from_dict(
        {
            "site": "s1",
            "month": "2026-02",
            "counters": {"dc_energy_mwh": {"max_raw": 9999}},
            "aluminium": {"pfc": {"method": "slope", "gwp": "AR6"}, "faraday_ce": 0.9},
        }
    )
    assert RecordSettings.from_dict(s.to_dict()) == s
    assert RecordSettings.from_dict(s.to_dict()).to_dict() == s.to_dict()


# -- a month worked out by hand -----------------------------------------------------------

# February 2026 in Shanghai, hourly intervals: 28 × 24 = 672 intervals. Readings are stamped
# at the end of their interval: interval k is (start + k h, start + (k+1) h].
MONTH = "2026-02"
N = 672


def _month_batches() -> tuple[RecordSettings, list[bytes]]:
    s = RecordSettings(
        site="s1",
        month=MONTH,
        interval_s=3600,
        counters={"dc_energy_mwh": {"max_raw": 9999}},  # wraps 9999 → 0
    )
    start = s.window.start_ms
    agent = FakeAgent("s1", "pot1")
    rs = []
    for k in range(N):
        t = start + (k + 1) * H
        # line current: gaps at 10–11 (short) and 100–109 (long); 200 has 40 of 60 samples
        if not (10 <= k <= 11 or 100 <= k <= 109):
            v = 401.0 if k == 9 else 405.0 if k == 12 else 400.0
            extra = {"count": 40 if k == 200 else 60, "expected": 60}
            rs.append(reading("line_current_ka", t, v, **extra))
        # tapped metal: 1 t per hour, 1.25 t at k=49, a bad reading at k=50
        if k == 50:
            rs.append(reading("al_production_t", t, None, "bad", reason="scale offline"))
        else:
            rs.append(reading("al_production_t", t, 1.25 if k == 49 else 1.0))
    # DC energy meter: 10 MWh/h, raw starts at 9000 at the month start (boundary reading),
    # rolls over at k=100, replaced 30 min after k=300 (old shows 2005, new starts at 0),
    # readings at k=400..404 lost.
    replacement_ts = start + 300 * H + H // 2
    for k in range(N + 1):
        t = start + k * H
        if 400 <= k <= 404:
            continue
        raw = (9000 + 10 * k) % 10000 if k <= 300 else 5 + 10 * (k - 301)
        rs.append(reading("dc_energy_mwh", t, float(raw)))
    rs.sort(key=lambda r: r["ts"])
    envs = agent.publish(rs, 100)
    # the replacement event goes with the batch after it
    envs.append(
        agent.batch(
            [],
            [
                {
                    "type": "meter_replacement",
                    "ts": replacement_ts,
                    "param": "dc_energy_mwh",
                    "old_final": 2005,
                    "new_initial": 0,
                }
            ],
        )
    )
    return s, envs


@pytest.fixture(scope="module")
def month() -> tuple[RecordSettings, list[bytes], dict]:
    s, envs = _month_batches()
    return s, envs, compute_record(s, payloads(envs)).body


def test_time_weighted_mean_with_gaps_by_hand(month: tuple) -> None:
    _, _, body = month
    e = entry(body, "line_current_ka")
    # invalid: 10, 11 (missing), 100..109 (missing), 200 (40/60 < 80 %) → 13
    assert e["expected_intervals"] == N
    assert e["valid_intervals"] == N - 13
    assert e["completeness"] == (N - 13) / N
    assert [(g["start_index"], g["intervals"]) for g in e["gaps"]] == [(10, 2), (100, 10), (200, 1)]
    assert e["gaps"][0]["start"] == "2026-02-01T10:00:00+08:00"
    subs = {s["start_index"]: s for s in e["substitutions"]}
    # availability 659/672 ≥ 90 %: short gaps → larger neighbour (SUB1, direction high)
    assert subs[10]["rule"] == "SUB1_NEIGHBOUR_MAX" and subs[10]["value"] == 405.0
    assert subs[200]["rule"] == "SUB1_NEIGHBOUR_MAX" and subs[200]["value"] == 400.0
    # long gap → 90th percentile of the valid values before it (all 400 but 401 and 405)
    assert subs[100]["rule"] == "SUB2_LOOKBACK_P90" and subs[100]["value"] == 400.0
    filled = [400.0] * N
    filled[9], filled[12], filled[10], filled[11] = 401.0, 405.0, 405.0, 405.0
    assert e["value"] == math.fsum(filled) / N
    assert e["substituted_intervals"] == 13
    assert subs[10]["contribution"] == 2 * 405.0 / N
    assert e["substituted_contribution"] == pytest.approx((2 * 405 + 11 * 400) / N)


def test_sum_with_a_bad_reading_by_hand(month: tuple) -> None:
    _, _, body = month
    e = entry(body, "al_production_t")
    assert e["valid_intervals"] == N - 1
    assert e["readings"]["bad"] == 1
    assert [f["code"] for f in e["flags"]] == ["bad_quality"]
    assert e["flags"][0]["reasons"] == [{"reason": "scale offline", "readings": 1}]
    (sub,) = e["substitutions"]
    assert (sub["start_index"], sub["rule"], sub["value"]) == (50, "SUB1_NEIGHBOUR_MAX", 1.25)
    assert e["value"] == 670 * 1.0 + 1.25 + 1.25
    assert e["substituted_contribution"] == 1.25


def test_counter_rollover_replacement_and_gap_by_hand(month: tuple) -> None:
    _, _, body = month
    e = entry(body, "dc_energy_mwh")
    # 10 MWh/h for 672 h: 3000 (9000 → 2000 across the wrap) + 5 (to the old meter's final
    # 2005) + 5 (new meter 0 → 5 by k=301) + 10 × 371 = 6720
    assert e["value"] == 6720.0
    from protocols.methods.counters import CounterSpec, Replacement, counter_total

    s, envs, _ = month
    ctr = sorted(
        (r["ts"], r["value"])
        for env in envs
        for r in json.loads(parse_envelope(env).payload)["readings"]
        if r["id"] == "dc_energy_mwh"
    )
    rep = Replacement(s.window.start_ms + 300 * H + H // 2, 2005, 0)
    boundary = counter_total(
        ctr, s.window.start_ms, s.window.end_ms, CounterSpec(max_raw=9999), [rep]
    )
    assert boundary.total == pytest.approx(6720.0)  # the counters module agrees
    assert e["counter"]["start_bracketed"] and e["counter"]["end_bracketed"]
    assert set(e["counter"]["kinds"]) >= {"rollover", "replacement"}
    assert {"counter_rollover", "counter_replacement"} <= {f["code"] for f in e["flags"]}
    # readings at k=400..404 lost: intervals 399..403 have none → invalid
    assert e["valid_intervals"] == N - 5
    assert [(g["start_index"], g["intervals"]) for g in e["gaps"]] == [(399, 5)]
    # ... but their movement is known from the readings around the gap: 60 MWh over 6 h
    (sub,) = e["substitutions"]
    assert (sub["rule"], sub["start_index"], sub["intervals"]) == ("COUNTER_SPAN", 399, 5)
    assert sub["contribution"] == 50.0


def test_split_and_shuffled_batches_give_the_same_record(month: tuple) -> None:
    s, envs, body = month
    pls = payloads(envs)
    random.Random(7).shuffle(pls)
    parts = [accumulate(s, pls[i::3]) for i in range(3)]
    assert finish_record(s, merge_partials(parts)).body == body


def signal(body: dict, pid: str) -> dict:
    return next(x for x in body["signals"] if x["id"] == pid)


def test_uncatalogued_ids_are_signals_unless_declared_key() -> None:
    """Raw ids outside the catalogue are listed under ``signals`` with plain statistics —
    never in ``parameters``, never substituted or flagged; a declared id is a key parameter
    with the naming default rule."""
    s = RecordSettings(
        site="s1",
        month=MONTH,
        interval_s=86400,
        key_parameters=("al_production_t_total",),
        units={"aluminium_output_kg": "kg"},
    )
    start = s.window.start_ms
    agent = FakeAgent("s1", "a")
    rs = []
    for d in range(28):
        t = start + (d + 1) * 86_400_000
        q = "uncertain" if d == 5 else "good"
        rs += [
            reading("cell_017_v", t, 4.0 + d % 2, q),
            reading("aluminium_output_kg", t, 1000.0 * d),
            reading("dc_energy_interval_mwh", t, 2.0),
            reading("al_production_t_total", t, 100.0 + 3 * d),
        ]
    rs.append(reading("cell_017_v", start + 10 * 86_400_000 + 5, None, "bad"))
    body = compute_record(s, payloads(agent.publish(rs, 50))).body
    pids = [p["id"] for p in body["parameters"]]
    assert "cell_017_v" not in pids and "aluminium_output_kg" not in pids
    assert "dc_energy_interval_mwh" not in pids
    v = signal(body, "cell_017_v")
    # 28 daily samples 4, 5, 4, 5, …: 14 × 4 + 14 × 5 = 126 → mean 4.5; day 5 uncertain, one bad
    assert v == {
        "id": "cell_017_v",
        "unit": None,
        "of": None,
        "samples": 28,
        "first_ts": "2026-02-02T00:00:00+08:00",
        "last_ts": "2026-03-01T00:00:00+08:00",
        "first_value": 4.0,
        "last_value": 5.0,
        "min": 4.0,
        "max": 5.0,
        "mean": 4.5,
        "quality": {"good": 27, "uncertain": 1, "bad": 1},
        "outside_month": 0,
    }
    raw = signal(body, "aluminium_output_kg")
    assert (raw["unit"], raw["first_value"], raw["last_value"]) == ("kg", 0.0, 27000.0)
    assert signal(body, "dc_energy_interval_mwh")["of"] == "dc_energy_mwh"
    assert body["summary"]["signals"] == 3
    total = entry(body, "al_production_t_total")
    assert (total["aggregation"], total["catalogued"]) == ("counter_delta", False)
    assert "uncatalogued" in [f["code"] for f in total["flags"]]
    # the first reading closes day 1, so day 1 lies before the readings' span: it is
    # substituted (larger neighbour, 3) and the other 27 days are measured (27 × 3)
    assert total["value"] == 84.0
    (sub,) = total["substitutions"]
    assert (sub["start_index"], sub["rule"], sub["value"]) == (0, "SUB1_NEIGHBOUR_MAX", 3.0)
    assert "start_not_bracketed" in [f["code"] for f in total["flags"]]


def test_catalogued_parameter_nobody_reported_is_not_measured() -> None:
    """No reading at all: value null, completeness 0, no gaps, no substitution; a parameter
    reported for part of the month is still substituted."""
    s = RecordSettings(site="s1", month=MONTH, interval_s=86400)
    start = s.window.start_ms
    agent = FakeAgent("s1", "a")
    rs = [reading("line_current_ka", start + (d + 1) * 86_400_000, 400.0) for d in range(10)]
    body = compute_record(s, payloads(agent.publish(rs, 50))).body
    for pid in ("power_import_mwh", "anode_consumption_t", "operating_cells"):
        e = entry(body, pid)
        assert e["value"] is None and e["completeness"] == 0.0, pid
        assert (e["valid_intervals"], e["expected_intervals"]) == (0, 28)
        assert e["gaps"] == [] and e["substitutions"] == [] and e["substituted_intervals"] == 0
        assert [f["code"] for f in e["flags"]] == ["not_measured"]
    # 10 of 28 days measured (availability 0.36 < 0.9): days 11–28 by the look-back max, 400
    cur = entry(body, "line_current_ka")
    assert (cur["value"], cur["valid_intervals"], cur["substituted_intervals"]) == (400.0, 10, 18)
    assert [x["rule"] for x in cur["substitutions"]] == ["SUB3_LOOKBACK_MAX"]
    assert "not_measured" not in [f["code"] for f in cur["flags"]]
    # the Faraday estimate needs operating_cells: not computed, and says why
    far = entry(body, "al_production_faraday_t")
    assert far["value"] is None
    codes = {f["code"]: f for f in far["flags"]}
    assert codes["inputs_not_measured"]["inputs"] == ["operating_cells"]
    assert body["summary"]["not_measured"] >= 3 and body["signals"] == []


def test_derived_aluminium_results_use_the_methods() -> None:
    from protocols.methods.aem import aem
    from protocols.methods.faraday import faraday_production, implied_current_efficiency
    from protocols.methods.pfc import pfc

    s = RecordSettings.from_dict(
        {"site": "s1", "month": MONTH, "interval_s": 86400, "aluminium": {"faraday_ce": 0.94}}
    )
    start = s.window.start_ms
    agent = FakeAgent("s1", "a")
    rs = []
    for d in range(28):
        t = start + (d + 1) * 86_400_000
        rs += [
            reading("line_current_ka", t, 400.0),
            reading("operating_cells", t, 300.0),
            reading("cell_voltage_avg_v", t, 4.0),
            reading("al_production_t", t, 900.0),
            reading("ae_minutes", t, 6.0),
            reading("operating_cell_days", t, 300.0),
        ]
    effect = {
        "type": "anode_effect",
        "cell": 17,
        "start": start + 3_600_000,
        "end": start + 3_720_000,
        "peak_v": 31.5,
        "trigger_v": 8.0,
    }
    body = compute_record(s, payloads([agent.batch(rs, [effect])])).body
    d = body["derived"]
    far = faraday_production(400.0, 0.94, 300.0, 28.0)
    assert d["production"]["faraday"]["aluminium_t"] == far.aluminium_t
    ce = implied_current_efficiency(900.0 * 28, 400.0, 300.0, 28.0)
    assert d["production"]["implied_ce"] == ce
    assert d["aem"]["aem"] == aem(6.0 * 28, 300.0 * 28).aem
    # the China guideline form is the default; slope and Tier 1 are cross-checks beside it
    want = pfc("china", production_t=900.0 * 28, aem=6.0 * 28 / (300.0 * 28), gwp="AR5")
    assert d["pfc"]["co2e_t"] == want.co2e_t and d["pfc"]["gwp_set"] == "AR5"
    assert d["pfc"]["method"] == "china"
    slope = pfc(
        "slope",
        production_t=900.0 * 28,
        aem=6.0 * 28 / (300.0 * 28),
        technology="PFPB-M",
        coefficients="ipcc2019",
        gwp="AR5",
    )
    assert d["pfc_cross_checks"]["slope"]["co2e_t"] == slope.co2e_t
    assert d["pfc_cross_checks"]["tier1"] is None  # no Tier 1 factors for PFPB-M: flagged
    src = {x["id"]: x for x in body["emissions"]["sources"]}
    assert src["pfc"]["co2e_t"] == want.co2e_t
    assert src["pfc"]["inputs"]["production_t"] == {
        "value": 25200.0,
        "unit": "t",
        "origin": "measured",
        "source": "parameter al_production_t",
        "documents": [],
    }
    assert entry(body, "pfc_co2e_t")["value"] == want.co2e_t
    assert body["anode_effects"][0]["cell"] == 17
    assert body["anode_effects"][0]["duration_s"] == 120.0
    # 0.00805375 × 400 × 300 × 28 = 27 060.6 t at CE 1: 25 200 t measured → CE 0.931 (plausible)
    assert "implied_ce_out_of_range" not in [f["code"] for f in body["flags"]]


def test_unsynced_clock_flags_intervals() -> None:
    s = RecordSettings(site="s1", month=MONTH, interval_s=86400)
    start = s.window.start_ms
    agent = FakeAgent("s1", "a")
    good = agent.batch([reading("line_current_ka", start + 86_400_000, 1.0)])
    bad = agent.batch(
        [reading("line_current_ka", start + 2 * 86_400_000, 1.0)],
        clock={"source": "rtc", "synced": False},
    )
    body = compute_record(s, payloads([good, bad])).body
    x = entry(body, "line_current_ka")
    flag = next(f for f in x["flags"] if f["code"] == "clock_unsynced")
    assert flag["intervals"] == 1
    assert "clock_unsynced_batches" in [f["code"] for f in body["flags"]]


def test_clock_jump_flags_the_intervals_of_its_batch() -> None:
    """The agent reports a step of the gateway clock in the batch's clock object; readings of
    that batch are stamped across the step, so their intervals are flagged like unsynced."""
    s = RecordSettings(site="s1", month=MONTH, interval_s=86400)
    start = s.window.start_ms
    agent = FakeAgent("s1", "a")
    good = agent.batch([reading("line_current_ka", start + 86_400_000, 1.0)])
    stepped = agent.batch(
        [reading("line_current_ka", start + 2 * 86_400_000, 1.0)],
        clock={"source": "ntp", "synced": True, "jump_ms": -3000, "jumps": 1},
    )
    body = compute_record(s, payloads([good, stepped])).body
    flag = next(f for f in entry(body, "line_current_ka")["flags"] if f["code"] == "clock_unsynced")
    assert flag["intervals"] == 1


def test_evidence_ranges_per_agent() -> None:
    s = RecordSettings(site="s1", month=MONTH, interval_s=86400)
    a = FakeAgent("s1", "a")
    envs = [
        a.batch([reading("line_current_ka", s.window.start_ms + 86_400_000 * i, 1.0)])
        for i in range(1, 5)
    ]
    body = compute_record(s, payloads(envs[:2] + envs[3:])).body
    assert [(e["first_seq"], e["last_seq"]) for e in body["evidence"]] == [(1, 2), (4, 4)]
    assert body["evidence"][1]["first_prev"] == payload_hash(parse_envelope(envs[2]).payload)
    assert "evidence_gap" in [f["code"] for f in body["flags"]]


def _series_state(acc: SeriesAcc) -> tuple:
    """Everything a series accumulator holds, NaN-safe and independent of addend order."""
    assert acc.base == 0 and len(acc.n) == len(acc.val) == len(acc.cov)
    # which value of an interval is the first (in ``val``) and which are extras depends on
    # the order of arrival; the record uses their exact sum, so compare the multiset
    values = [[] if x != x else [x] for x in acc.val]
    for k, ex in acc.extras.items():
        values[k] += ex
    return (
        [sorted(v) for v in values],
        list(acc.n),
        list(acc.cov),
        acc.bad,
        acc.uncertain,
        acc.clock,
        acc.reasons,
        acc.outside,
        (acc.lo, acc.hi),
        None if acc.counter is None else sorted(acc.counter),
        acc.first,
        acc.last,
    )


@pytest.mark.parametrize("grow", [1, 3, 2048])
def test_packed_partials_grown_in_any_direction_merge_to_the_whole_month(
    monkeypatch: pytest.MonkeyPatch, grow: int
) -> None:
    """Workers accumulate into arrays that grow from the first reading towards wherever the
    next one falls (backwards too) and send back only the touched intervals; merged, they
    are exactly the whole-month accumulation, whatever the growth step and the split."""
    monkeypatch.setattr(accumulate_mod, "GROW_INTERVALS", grow)
    s = RecordSettings(site="s1", month=MONTH, interval_s=3600)
    start, end = s.window.start_ms, s.window.end_ms
    rng = random.Random(grow)
    ids = ["line_current_ka", "dc_energy_mwh", "ae_minutes", "cell_017_v"]
    rs = []
    for _ in range(3000):
        pid = rng.choice(ids)
        ts = rng.randrange(start - 3 * H, end + 3 * H)  # some outside the month
        q = rng.choice(["good"] * 8 + ["uncertain", "bad"])
        value = None if q == "bad" and rng.random() < 0.5 else round(rng.uniform(0, 500), 3)
        rs.append(reading(pid, ts, value, q))
    for i in range(0, 3000, 7):  # a second reading in the same interval: extras
        rs.append(dict(rs[i], ts=rs[i]["ts"] + 1))
    rng.shuffle(rs)  # batches jump back and forth in time
    agent = FakeAgent("s1", "a")
    pls = payloads(agent.publish(rs, 97))
    whole = accumulate(s, pls)
    for n_parts in (1, 2, 5):
        parts = [accumulate(s, pls[i::n_parts], packed=True) for i in range(n_parts)]
        for p in parts:
            for acc in p.series.values():  # packed: only the touched intervals travel
                assert len(acc.n) == (0 if acc.lo < 0 else acc.hi - acc.lo + 1)
                assert acc.lo < 0 or acc.base == acc.lo
        merged = merge_partials(parts)
        assert set(merged.series) == set(whole.series)
        for pid, acc in whole.series.items():
            assert _series_state(merged.series[pid]) == _series_state(acc), (n_parts, pid)
        assert finish_record(s, merged).body == finish_record(s, whole).body
