"""``mrv-agent check`` and ``mrv-agent probe``: one-shot reads a plant engineer can eyeball."""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.clock import AgentClock
from agent.config import AgentConfig
from agent.derived.base import ReadingTuple
from agent.drivers import DeviceLink, DeviceState, driver_for
from agent.mqtt_io import MqttError, MqttSession
from agent.poller import DevicePoll
from protocols.modbus_codec import ByteOrder, DataType, decode_raw
from protocols.reasons import describe_reason

#: Below this magnitude a non-zero float is no plant value: a FLOAT32 read with the wrong
#: word order or one register off decodes as ~1e-38 (denormal or near it).
TINY = 1e-30
#: Above this magnitude no meter, counter or process value is plausible either.
HUGE = 1e15


def plausibility(point_id: str, unit: str | None, value: object) -> list[str]:
    """What is wrong with a value that decoded "good": absurd magnitudes, a negative counter,
    a unit that differs from the catalogue's."""
    from protocols import catalogue

    problems: list[str] = []
    known = {p.id: p for p in catalogue.parameters()}
    cat = known.get(point_id)
    if isinstance(value, float) and (
        not math.isfinite(value) or (value != 0 and abs(value) < TINY) or abs(value) > HUGE
    ):
        problems.append(
            f"{value:.3g} is not a plausible reading: wrong byte order or address? "
            "compare the decodings of mrv-agent probe"
        )
    if cat is not None:
        if cat.aggregation == "counter_delta" and isinstance(value, int | float) and value < 0:
            problems.append("a cumulative counter cannot be negative: check type and byte order")
        if unit and unit != cat.unit:
            problems.append(
                f"unit {unit} but catalogue id {point_id} is in {cat.unit}: "
                f"set unit: {cat.unit} and the scale that converts"
            )
    return problems


def did_you_mean(point_id: str) -> str | None:
    """A hint for an id the catalogue does not know but nearly does (a typo, not a signal)."""
    import difflib

    from protocols import catalogue

    ids = [p.id for p in catalogue.parameters()]
    if point_id in ids:
        return None
    close = difflib.get_close_matches(point_id, ids, n=1, cutoff=0.9)
    return f"{point_id} is not a catalogue id: did you mean {close[0]}?" if close else None


PROBE_TYPES = ("UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "UINT64", "FLOAT64")
PROBE_ORDERS = ("ABCD", "BADC", "CDAB", "DCBA")


async def check_devices(cfg: AgentConfig, *, broker: bool = True) -> dict[str, Any]:
    """Poll every device once (no back-off, no outbox) and try the broker."""
    clock = AgentClock(cfg.clock)
    devices: list[dict[str, Any]] = []
    links: dict[str, DeviceLink] = {}
    ok = True
    for dev in cfg.devices:
        driver = driver_for(dev.transport)
        ep = dev.link_key()
        link = links.get(ep)
        if link is None:
            link = links[ep] = driver.link(dev)
        out: list[ReadingTuple] = []
        requests = driver.plan(dev, dev.points)
        await DevicePoll(dev, requests, DeviceState()).poll(link, clock.now_ms(), out)
        units = {p.id: getattr(p, "unit", None) for p in dev.points}
        readings = []
        for r in out:
            problems = plausibility(r[0], units.get(r[0]), r[2]) if r[3] != "bad" else []
            readings.append(
                {
                    "id": r[0],
                    "value": r[2],
                    "quality": "implausible" if problems else r[3],
                    "reason": "; ".join(problems)
                    if problems
                    else describe_reason(r[4])
                    if r[4]
                    else None,
                }
            )
        bad = sum(1 for r in readings if r["quality"] in ("bad", "implausible"))
        ok = ok and bad == 0
        devices.append(
            {
                "device": dev.name,
                "driver": driver.name,
                "endpoint": ep,
                "requests": len(requests),
                "ok": bad == 0,
                "readings": readings,
            }
        )
    for link in links.values():
        link.close()
    report: dict[str, Any] = {"ok": ok, "site": cfg.site, "agent": cfg.agent, "devices": devices}
    state = clock.state()
    report["clock"] = {
        "source": state.get("source"),
        "synced": state.get("synced"),
        "ok": state.get("synced") is not False,
    }
    if broker:
        where = f"{cfg.broker.host}:{cfg.broker.port}"
        try:
            async with asyncio.timeout(cfg.broker.connect_timeout + 2):
                async with MqttSession(cfg.broker, f"{cfg.client_id}-check") as session:
                    report["rejected"] = await _rejection(session, cfg)
            report["broker"] = {"ok": True, "host": cfg.broker.host, "port": cfg.broker.port}
            if report["rejected"] is not None:
                report["ok"] = False
        except (MqttError, OSError, TimeoutError) as exc:
            report["broker"] = {
                "ok": False,
                "host": cfg.broker.host,
                "port": cfg.broker.port,
                "error": f"cannot reach the broker at {where}: {str(exc) or type(exc).__name__}",
            }
            report["ok"] = False
    return report


#: How long ``check`` listens for the collector's retained rejection notice after
#: subscribing (a retained message arrives right after the SUBACK).
NOTICE_WAIT_S = 1.5


async def _rejection(session: MqttSession, cfg: AgentConfig) -> dict[str, Any] | None:
    """The collector's retained notice that it quarantines this agent's batches, if any."""
    import json

    from protocols.topics import notice_topic

    topic = notice_topic(cfg.site, cfg.agent)
    await session.subscribe(topic, qos=1)

    async def first() -> dict[str, Any] | None:
        async for t, payload in session.messages():
            if t == topic:
                if not payload:
                    return None
                try:
                    data = json.loads(payload)
                except ValueError:
                    return None
                return data if isinstance(data, dict) else None
        return None

    try:
        return await asyncio.wait_for(first(), NOTICE_WAIT_S)
    except TimeoutError:
        return None


def print_check(report: dict[str, Any]) -> None:
    console = Console()
    for dev in report["devices"]:
        table = Table(title=f"{dev['device']} ({dev['endpoint']}, {dev['requests']} requests)")
        for col in ("parameter", "value", "quality", "reason"):
            table.add_column(col)
        for r in dev["readings"]:
            why = "; ".join(x for x in (r["reason"], r.get("hint")) if x)
            table.add_row(r["id"], _fmt(r["value"]), r["quality"], why)
        console.print(table)
    c = report.get("clock") or {}
    if c.get("synced") is False:
        console.print(
            "clock: NOT synchronised (NTP): batches will be flagged clock_unsynced; "
            "run chrony or systemd-timesyncd (timedatectl shows the state)"
        )
    if "broker" in report:
        b = report["broker"]
        console.print(
            f"broker {b.get('host')}:{b.get('port')}: "
            + ("ok" if b["ok"] else "FAILED: " + b.get("error", ""))
        )
    rej = report.get("rejected")
    if rej:
        console.print(
            f"collector REJECTS this agent's batches: {rej.get('reason')} — {rej.get('message')}"
            + (f"\n  {rej['hint']}" if rej.get("hint") else "")
        )
    console.print("check: " + ("ok" if report["ok"] else "FAILED"))


def _fmt(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def probe_decodings(regs: list[int], address: int) -> dict[str, Any]:
    """Every type × byte order decoding at every start offset that fits."""
    out: list[dict[str, Any]] = []
    for offset in range(len(regs)):
        for dtype in PROBE_TYPES:
            n = 1 if dtype.endswith("16") else 2 if dtype.endswith("32") else 4
            if offset + n > len(regs):
                continue
            for order in PROBE_ORDERS:
                if n == 1 and order in ("CDAB", "DCBA"):
                    continue  # 16-bit: CDAB is ABCD and DCBA is BADC
                v = decode_raw(regs[offset : offset + n], DataType(dtype), ByteOrder(order))
                if isinstance(v, float) and not math.isfinite(v):
                    v = str(v)
                out.append(
                    {
                        "address": address + offset,
                        "type": dtype,
                        "byte_order": order,
                        "value": v,
                    }
                )
    return {
        "address": address,
        "registers": regs,
        "hex": [f"{r:04x}" for r in regs],
        "decodings": out,
    }


def print_probe(result: dict[str, Any]) -> None:
    console = Console()
    console.print(
        "registers: "
        + " ".join(f"{result['address'] + i}:{h}" for i, h in enumerate(result["hex"]))
    )
    table = Table()
    table.add_column("address")
    table.add_column("type")
    for order in PROBE_ORDERS:
        table.add_column(order)
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for d in result["decodings"]:
        rows.setdefault((d["address"], d["type"]), {})[d["byte_order"]] = d["value"]
    for (addr, dtype), vals in rows.items():
        table.add_row(str(addr), dtype, *(_fmt(vals.get(o, "")) for o in PROBE_ORDERS))
    with contextlib.suppress(BrokenPipeError):
        console.print(table)
