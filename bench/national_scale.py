"""Benchmark: the national-scale run (issue 21). Not a test.

1,500 light agents (real Ed25519 keys, real hash chains signed by the agent's own
``BatchSigner``; no Modbus) each send one batch a minute of 100 key parameters (1-minute
interval aggregates) through Mosquitto into ``mrv-collector run``: one collector on SQLite,
or N collectors on one PostgreSQL store in one MQTT 5 shared-subscription group. Then the
raw potline stream: 100 smelters × 300 cell voltages at 1 Hz (30k readings/s), one batch
per smelter every 10 s, for as long as ``--raw-seconds`` says.

The light agents run in ``--load-procs`` processes (asyncio + aiomqtt, the agent's MQTT
library), one MQTT connection per agent. Each agent publishes at QoS 1 on its data topic,
subscribes to its ack topic, verifies every signed ack with the collector's public key
(``protocols.ack.verify_ack``) and takes the lag of each batch from its ``created`` to the
ack that covers it. A light agent never republishes: a batch not acked within the drain
time is lost, and the bench fails.

Measured over the window from the first publish to the last ack: CPU seconds (``/proc``)
of each collector, the PostgreSQL server (postmaster + backends), Mosquitto and the load
generator; headroom = 1 CPU-s ÷ (collector CPU-s per second of offered load). Afterwards
every agent's stored envelopes are read back through the store API (``open_store(url)``)
and compared with what it published: each batch stored exactly once, byte for byte, and
each chain contiguous with no gap or quarantine. Anything missing, doubled or changed
exits with status 1.

    .venv/bin/python bench/national_scale.py                          # key:1,key:3,raw:1
    .venv/bin/python bench/national_scale.py --quick
    .venv/bin/python bench/national_scale.py --cases key:1 --agents 1500 --duration 180
    .venv/bin/python bench/national_scale.py --cases raw:1 --raw-seconds 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CLK_TCK, command_line, machine, proc_cpu_s, proc_hwm_mb
from bench.store_ingest import server_cpu

CLOCK = {"source": "ntp", "synced": True}
INTERVAL_AGG = {"count": 60, "expected": 60}


# -- the light agents (worker process) --------------------------------------------------------
class LightAgent:
    """One agent's chain and acks: signs each batch live (``created`` = now) and keeps the
    digest of every envelope it published, to compare with the store afterwards."""

    def __init__(self, spec: dict[str, Any], work: dict[str, Any]) -> None:
        from agent.batch import BatchSigner
        from protocols.keys import Ed25519PrivateKey
        from protocols.topics import ack_topic, data_topic

        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(spec["key"]))
        self.site, self.agent = spec["site"], spec["agent"]
        pv = work["payload"]
        self.signer = BatchSigner(self.site, self.agent, key, spec["kid"], version=pv or 2)
        if pv == 2:  # v2 even for one reading per parameter (the agent would send v1)
            self.signer.v2_min_per_param = 0
        self.topic, self.ack_topic = (
            data_topic(self.site, self.agent),
            ack_topic(self.site, self.agent),
        )
        self.offset = float(spec["offset"])
        self.work = work
        self.rnd = random.Random(spec["agent"])
        self.seq, self.prev = 0, None
        self.created: dict[int, int] = {}
        self.digests: list[str] = []
        self.readings = 0
        self.bytes = 0
        self.acked = 0
        self.lags_ms: list[int] = []
        self.bad_acks = 0

    def next_batch(self, k: int, base_ms: int) -> bytes:
        """Batch ``k`` (0-based): key aggregates at one minute, or raw 1 Hz cell voltages."""
        w = self.work
        rnd = self.rnd.random
        if w["kind"] == "key":
            ts = base_ms + k * w["interval_ms"]
            readings = []
            for j in range(w["params"]):
                v = round(100.0 + j + rnd(), 3)
                extra = {**INTERVAL_AGG, "min": round(v - 0.5, 3), "max": round(v + 0.5, 3)}
                q, why = ("uncertain", "samples_missing") if j == 97 else ("good", None)
                readings.append((f"unit.p{j:03d}", ts, v, q, why, extra))
        else:
            per = w["interval_ms"] // 1000
            t0 = base_ms + k * w["interval_ms"]
            readings = [
                (f"pot{c:03d}.cell_voltage", t0 + i * 1000, round(4.1 + rnd() * 0.3, 4),
                 "good", None, None)
                for c in range(w["params"]) for i in range(per)
            ]  # fmt: skip
        self.seq += 1
        b = self.signer.build(self.seq, self.prev, int(time.time() * 1000), CLOCK, readings)
        self.prev = b.hash
        self.created[self.seq] = b.created_ms
        self.digests.append(hashlib.sha256(b.envelope).hexdigest())
        self.readings += len(readings)
        self.bytes += len(b.envelope)
        return b.envelope

    def on_ack(self, data: bytes, key: Any, kid: str) -> None:
        from protocols.ack import AckRejected, verify_ack

        try:
            ack = verify_ack(data, key, kid, site=self.site, agent=self.agent)
        except AckRejected:
            self.bad_acks += 1
            return
        now = int(time.time() * 1000)
        for seq in range(max(self.acked, self.work["warmup"]) + 1, min(ack.through, self.seq) + 1):
            self.lags_ms.append(now - self.created[seq])
        self.acked = max(self.acked, ack.through)


async def _run_agent(
    a: LightAgent, port: int, ckey: Any, kid: str, ready: asyncio.Event, go: asyncio.Event,
    t0: list[float],
) -> None:  # fmt: skip
    import aiomqtt

    w = a.work
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=f"light-{a.site}-{a.agent}", keepalive=60
    ) as client:
        await client.subscribe(a.ack_topic, qos=1)

        warm, total = w["warmup"], w["warmup"] + w["batches"]
        warmed = asyncio.Event()

        async def acks() -> None:
            async for m in client.messages:
                a.on_ack(bytes(m.payload), ckey, kid)  # type: ignore[arg-type]
                if a.acked >= warm:
                    warmed.set()
                if a.acked >= total:
                    return

        listener = asyncio.create_task(acks())
        # warm-up batches, not measured: the collector learns the agent's series and chain,
        # as it has long done for a plant in service
        for k in range(warm):
            await client.publish(a.topic, a.next_batch(k, w["base_ms"]), qos=1)
        if warm:
            await asyncio.wait_for(warmed.wait(), 300)
        ready.set()
        await go.wait()
        pending: set[asyncio.Task[None]] = set()
        for k in range(warm, total):
            due = t0[0] + a.offset + (k - warm) * w["interval_ms"] / 1000
            await asyncio.sleep(max(0.0, due - time.time()))
            env = a.next_batch(k, w["base_ms"])
            t = asyncio.create_task(client.publish(a.topic, env, qos=1))
            pending.add(t)
            t.add_done_callback(pending.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener, timeout=max(1.0, done_by(t0[0], w) - time.time()))
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


def done_by(start: float, w: dict[str, Any]) -> float:
    return start + w["batches"] * w["interval_ms"] / 1000 + w["drain_s"]


async def fleet(spec: dict[str, Any]) -> dict[str, Any]:
    from protocols.keys import public_key_from_jwk

    ckey = public_key_from_jwk(spec["collector_jwk"])
    kid = spec["collector_jwk"]["kid"]
    agents = [LightAgent(s, spec["work"]) for s in spec["agents"]]
    go = asyncio.Event()
    t0 = [0.0]
    readies = [asyncio.Event() for _ in agents]
    tasks = []
    for i, (a, r) in enumerate(zip(agents, readies, strict=True)):
        tasks.append(asyncio.create_task(_run_agent(a, spec["port"], ckey, kid, r, go, t0)))
        if i % 50 == 49:  # connect in waves: the broker's accept queue is finite
            await asyncio.gather(*(r.wait() for r in readies[i - 49 : i + 1]))
    await asyncio.gather(*(r.wait() for r in readies))
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit("worker: expected 'go'")
    t0[0] = time.time()
    go.set()
    await asyncio.gather(*tasks)
    end = time.time()
    return {
        "start": t0[0],
        "end": end,
        "agents": [
            {"site": a.site, "agent": a.agent, "published": a.seq, "acked": a.acked,
             "readings": a.readings, "bytes": a.bytes, "digests": a.digests, "bad_acks": a.bad_acks}
            for a in agents
        ],
        "lags_ms": [x for a in agents for x in a.lags_ms],
    }  # fmt: skip


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = asyncio.run(fleet(spec))
    Path(spec["out"]).write_text(json.dumps(out))
    print("done", flush=True)
    sys.stdin.readline()  # the orchestrator reads our CPU before we exit


# -- the orchestrator --------------------------------------------------------------------------
def proc_sys_s(pid: int) -> float:
    """System (kernel) CPU seconds of a process: its share of ``proc_cpu_s`` spent in
    syscalls (socket I/O, fsync)."""
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[12]) / CLK_TCK


def main_thread_s(pid: int) -> float:
    """CPU seconds of a process's main thread (the collector's event loop: MQTT in and
    out, acks published); the rest of ``proc_cpu_s`` is its other threads (the ingest
    worker: verification, the store, signing)."""
    with open(f"/proc/{pid}/task/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(xs: list[int], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return float(s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))])


def fleet_specs(
    n: int, per_site: int, interval_s: float
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Sites, agent specs (private key hex, publish offset) and their enrolment JWKs."""
    from protocols.keys import generate_private_key, public_jwk

    sites: dict[str, str] = {}
    specs, jwks = [], []
    for i in range(n):
        site = f"plant-{i // per_site:03d}"
        sites[site] = "other"
        key = generate_private_key()
        jwk = public_jwk(key)
        specs.append(
            {"site": site, "agent": f"unit{i % per_site:02d}", "kid": jwk["kid"],
             "key": key.private_bytes_raw().hex(), "offset": interval_s * i / n}
        )  # fmt: skip
        jwks.append(jwk)
    return sites, specs, jwks


def check_stored(url: str, agents: list[dict[str, Any]]) -> list[str]:
    """Every published batch stored exactly once, byte for byte; chains whole. Problems."""
    from collector.store import open_store

    want = {(a["site"], a["agent"]): a for a in agents}
    seen: dict[tuple[str, str], dict[int, str]] = {k: {} for k in want}
    problems: list[str] = []
    with open_store(url) as store:
        after = 0
        while True:
            page = store.envelopes_after(after, 2000)
            if not page:
                break
            for e in page:
                after = max(after, e.id)
                got = seen.setdefault((e.site, e.agent), {})
                if e.seq in got:
                    problems.append(f"{e.site}/{e.agent} seq {e.seq} stored twice")
                got[e.seq] = hashlib.sha256(e.envelope).hexdigest()
        for k, a in want.items():
            got = seen[k]
            exp = {i + 1: d for i, d in enumerate(a["digests"])}
            if got != exp:
                missing = sorted(set(exp) - set(got))
                extra = sorted(set(got) - set(exp))
                changed = sorted(s for s in set(exp) & set(got) if exp[s] != got[s])
                problems.append(
                    f"{k[0]}/{k[1]}: missing {missing[:5]} extra {extra[:5]} changed {changed[:5]}"
                )
            st = store.agent_state(*k)
            if st is None or st.contiguous_through != a["published"] or st.gaps or st.quarantined:
                problems.append(f"{k[0]}/{k[1]}: state {st}")
            if a["acked"] < a["published"]:
                problems.append(f"{k[0]}/{k[1]}: acked {a['acked']} of {a['published']}")
            if a["bad_acks"]:
                problems.append(f"{k[0]}/{k[1]}: {a['bad_acks']} acks failed verification")
        extra_agents = set(seen) - set(want)
        if extra_agents:
            problems.append(f"batches of agents nobody ran: {sorted(extra_agents)[:5]}")
    return problems


def run_case(kind: str, collectors: int, args: argparse.Namespace) -> dict[str, Any]:
    from collector.store import open_store
    from protocols.keys import load_public_jwk
    from simulators.stack import Stack

    if kind == "key":
        n, params, interval_s, seconds = args.agents, args.params, args.interval, args.duration
    else:
        n, params, interval_s, seconds = args.smelters, args.cells, args.raw_batch, args.raw_seconds
    batches = max(1, round(seconds / interval_s))
    base = tempfile.mkdtemp(prefix=f"mrv-national-{kind}{collectors}-")
    sites, specs, jwks = fleet_specs(n, args.per_site, interval_s)
    now_ms = int(time.time() * 1000)
    work = {
        "kind": kind, "params": params, "interval_ms": int(interval_s * 1000),
        "batches": batches, "drain_s": args.drain, "warmup": args.warmup,
        "payload": args.payload,
        # readings of batch k cover [base + k·interval, base + (k+1)·interval): all before
        # the batch is cut, as a real agent's are
        "base_ms": now_ms - now_ms % int(interval_s * 1000)
        - (args.warmup + 1) * int(interval_s * 1000),
    }  # fmt: skip
    with Stack(Path(base)) as st:
        broker = st.start_broker()
        assert hasattr(broker, "pid")
        if collectors == 1:
            cols = [st.add_collector(sites, http=False)]
            url = cols[0].database_url
        else:
            url = st.start_postgres()
            cols = st.add_collector_group(collectors, url, sites, http=False)
        with open_store(url) as store:  # enrolment through the store API, before any batch
            for s, jwk in zip(specs, jwks, strict=True):
                store.enroll_key(s["site"], s["agent"], jwk)
        for c in cols:
            c.start()
        for c in cols:
            c.wait_ready(60)
        cjwk = load_public_jwk(cols[0].public_jwk)
        workers = []
        per = -(-n // args.load_procs)
        for w in range(args.load_procs):
            part = specs[w * per : (w + 1) * per]
            if not part:
                continue
            spec = {"port": broker.port, "collector_jwk": cjwk, "work": work, "agents": part,
                    "out": f"{base}/worker-{w}.json"}  # fmt: skip
            path = Path(base) / f"worker-{w}.spec.json"
            path.write_text(json.dumps(spec))
            workers.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(path)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )
            )  # fmt: skip
        for p in workers:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise SystemExit(f"load worker {p.pid} failed to connect its agents")
        pg = st.postgres.proc.pid if st.postgres and st.postgres.proc else None

        def cpu() -> dict[str, float]:
            out = {f"collector-{i + 1}": proc_cpu_s(c.pid or 0) for i, c in enumerate(cols)}
            out["(collectors in kernel)"] = sum(proc_sys_s(c.pid or 0) for c in cols)
            out["(collectors' event loop)"] = sum(main_thread_s(c.pid or 0) for c in cols)
            out["mosquitto"] = proc_cpu_s(broker.pid or 0)  # type: ignore[union-attr]
            out["load generator"] = sum(proc_cpu_s(p.pid) for p in workers)
            if pg:
                out["postgresql"] = server_cpu(pg)
            return out

        spies = []
        if args.py_spy:  # collapsed stacks of each collector over the window (not counted)
            spy = Path(sys.executable).with_name("py-spy")
            for i, c in enumerate(cols):
                out = Path(args.py_spy) / f"{kind}{collectors}-collector-{i + 1}.txt"
                out.parent.mkdir(parents=True, exist_ok=True)
                spies.append(subprocess.Popen(
                    [str(spy), "record", "--nonblocking", "--gil", "--format", "raw", "-r", "50",
                     "-o", str(out), "--pid", str(c.pid), "--duration", str(int(seconds))],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip
        idle0 = cpu()  # every agent connected and known, nothing sent: the fixed cost
        time.sleep(args.idle)
        cpu0, wall0 = cpu(), time.monotonic()
        idle = {k: round((cpu0[k] - idle0[k]) / args.idle, 4) for k in cpu0} if args.idle else {}
        for p in workers:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        print(f"  {kind}:{collectors}: {n} agents × {params} parameters, {batches} batches each, "
              f"every {interval_s:g} s …", flush=True)  # fmt: skip
        load_samples = []
        for p in workers:
            assert p.stdout is not None
            while True:  # one line: 'done' (the worker sleeps in its schedule meanwhile)
                line = p.stdout.readline()
                load_samples.append(os.getloadavg()[0])
                if line.strip() == "done" or not line:
                    break
        cpu1, wall = cpu(), time.monotonic() - wall0
        for sp in spies:
            sp.wait(60)
        hwm = {f"collector-{i + 1}": proc_hwm_mb(c.pid or 0) for i, c in enumerate(cols)}
        for p in workers:
            assert p.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                p.stdin.write("exit\n")
                p.stdin.flush()
            p.wait(30)
            if p.returncode:
                raise SystemExit(f"load worker {p.pid} exited {p.returncode}")
        results = [json.loads(Path(f"{base}/worker-{w}.json").read_text())
                   for w in range(len(workers))]  # fmt: skip
        load_end = os.getloadavg()
        agents = [a for r in results for a in r["agents"]]
        lags = [x for r in results for x in r["lags_ms"]]
        problems = check_stored(url, agents)
        pg_server = st.postgres
    if pg_server is not None:
        pg_server.close()  # its data dir may live outside ours (postgres must reach it)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    readings = sum(a["readings"] for a in agents) * batches // (batches + args.warmup)
    published = sum(a["published"] for a in agents) - args.warmup * n
    pub_s = batches * interval_s  # every agent offers one batch per interval
    offered = readings / pub_s
    wire = sum(a["bytes"] for a in agents) / sum(a["readings"] for a in agents)
    used = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}
    col_cpu = sum(v for k, v in used.items() if k.startswith("collector-"))
    col_per_s = col_cpu / pub_s  # collector CPU-s per second of offered load
    return {
        "case": f"{kind}:{collectors}",
        "store": "SQLite" if collectors == 1 else "PostgreSQL 15",
        "agents": n, "params": params, "interval_s": interval_s, "batches": published,
        "readings": readings, "offered_readings_per_s": round(offered),
        "wire_bytes_per_reading": round(wire, 1),
        "window_wall_s": round(wall, 1), "load_s": round(pub_s, 1),
        "lag_ms": {"p50": percentile(lags, 50), "p95": percentile(lags, 95),
                   "p99": percentile(lags, 99), "max": max(lags) if lags else None,
                   "n": len(lags), "over_10s": sum(1 for x in lags if x > 10_000)},
        "cpu_s": used,
        "cpu_us_per_reading": {k: round(v / readings * 1e6, 2) for k, v in used.items()},
        "collector_cpu_s_per_s": round(col_per_s, 4),
        "headroom": round(1 / col_per_s, 1) if col_per_s else None,
        # the goal's load: 1,500 units × 100 parameters a minute, at this CPU per reading
        "headroom_at_2500_per_s": round(readings / col_cpu / 2500, 1)
        if col_cpu and kind == "key"
        else None,
        "headroom_incl_db": round(1 / ((col_cpu + used.get("postgresql", 0)) / pub_s), 1)
        if col_cpu else None,
        "collector_hwm_mb": hwm,
        "idle_cpu_s_per_s": idle,
        "load_avg_during": round(sum(load_samples) / len(load_samples), 2),
        "load_avg_end": [round(x, 2) for x in load_end],
        "lost_or_doubled": problems,
        "lost_ok": not problems,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--cases", default="key:1,key:3,raw:1",
                    help="KIND:COLLECTORS,… — key (1-minute parameters) or raw (1 Hz cells); "
                         "1 collector = SQLite, more = PostgreSQL group")  # fmt: skip
    ap.add_argument("--agents", type=int, default=1500)
    ap.add_argument("--params", type=int, default=100, help="key parameters per agent")
    ap.add_argument("--interval", type=float, default=60.0, help="s between an agent's batches")
    ap.add_argument("--duration", type=float, default=180.0, help="s of publishing (key)")
    ap.add_argument("--smelters", type=int, default=100)
    ap.add_argument("--cells", type=int, default=300)
    ap.add_argument("--raw-batch", type=float, default=10.0, help="s per raw batch")
    ap.add_argument("--raw-seconds", type=float, default=120.0)
    ap.add_argument("--per-site", type=int, default=15, help="agents per site")
    ap.add_argument("--load-procs", type=int, default=1, help="load generator processes")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="batches per agent before the window (series and chains known)",
    )
    ap.add_argument(
        "--payload",
        type=int,
        choices=(1, 2),
        default=None,
        help="force payload v1 or v2 (default: what the agent sends — v2, or v1 "
        "for a batch of one reading per parameter)",
    )
    ap.add_argument("--drain", type=float, default=120.0, help="s to wait for the last acks")
    ap.add_argument("--quick", action="store_true",
                    help="300 agents for 60 s, 20 smelters for 30 s, 1 collector")  # fmt: skip
    ap.add_argument(
        "--idle",
        type=float,
        default=10.0,
        help="s with every agent connected and nothing sent, before the window: "
        "each process's fixed CPU-s per s",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the stack's data dirs in /tmp")
    ap.add_argument("--py-spy", metavar="DIR",
                    help="sample each collector's GIL-holding thread with py-spy (pip install "
                    "py-spy) into DIR, collapsed stacks")  # fmt: skip
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.quick:
        args.agents, args.duration, args.smelters, args.raw_seconds = 300, 60.0, 20, 30.0
        if args.cases == ap.get_default("cases"):
            args.cases = "key:1,raw:1"
    print("#", command_line())
    m = machine()
    print(f"# {m['date']}  {m['cpu']}  {m['nproc']} cores  load {m['load']:.2f}", flush=True)
    out = []
    for c in args.cases.split(","):
        kind, _, n = c.partition(":")
        if kind not in ("key", "raw") or not n.isdigit() or int(n) < 1:
            raise SystemExit(f"--cases: {c!r} is not key:N or raw:N")
        out.append(run_case(kind, int(n), args))
        r = out[-1]
        lag = r["lag_ms"]
        print(f"  {r['case']} ({r['store']}): {r['batches']} batches, {r['readings']} readings, "
              f"{r['offered_readings_per_s']} readings/s offered over {r['load_s']} s "
            f"({r['wire_bytes_per_reading']} B/reading on the wire); "
              f"window {r['window_wall_s']} s wall")  # fmt: skip
        print(f"    ack lag ms: p50 {lag['p50']:.0f}  p95 {lag['p95']:.0f}  p99 {lag['p99']:.0f}  "
              f"max {lag['max']}  (>10 s: {lag['over_10s']} of {lag['n']})")  # fmt: skip
        for k, v in r["cpu_s"].items():
            print(f"    {k:22s} {v:8.2f} CPU-s  {r['cpu_us_per_reading'][k]:7.2f} µs/reading"
                  f"   (idle {r['idle_cpu_s_per_s'].get(k, 0):.4f} CPU-s/s)")  # fmt: skip
        more = []
        if "postgresql" in r["cpu_s"]:
            more.append(f"with PostgreSQL {r['headroom_incl_db']}×")
        if r["headroom_at_2500_per_s"] is not None:
            more.append(f"at 2,500 readings/s {r['headroom_at_2500_per_s']}×")
        print(f"    collector CPU-s per s of load {r['collector_cpu_s_per_s']}: headroom "
              f"{r['headroom']}×{' (' + '; '.join(more) + ')' if more else ''}; "
              f"load avg {r['load_avg_during']} (end {r['load_avg_end']})")  # fmt: skip
        print("    nothing lost: every batch stored once, byte-exact, chains whole, all acked"
              if r["lost_ok"] else f"    LOST/DOUBLED: {r['lost_or_doubled'][:10]}", flush=True)  # fmt: skip
    if args.json:
        print(json.dumps({"machine": m, "command": command_line(), "cases": out}, indent=1))
    if any(not r["lost_ok"] for r in out):
        print("FAILED: batches lost, doubled, changed or unacked (see above)", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
