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
        bad = sum(1 for r in out if r[3] == "bad")
        ok = ok and bad == 0
        devices.append(
            {
                "device": dev.name,
                "driver": driver.name,
                "endpoint": ep,
                "requests": len(requests),
                "ok": bad == 0,
                "readings": [
                    {"id": r[0], "value": r[2], "quality": r[3], "reason": r[4]} for r in out
                ],
            }
        )
    for link in links.values():
        link.close()
    report: dict[str, Any] = {"ok": ok, "site": cfg.site, "agent": cfg.agent, "devices": devices}
    if broker:
        try:
            async with asyncio.timeout(cfg.broker.connect_timeout + 2):
                async with MqttSession(cfg.broker, f"{cfg.client_id}-check"):
                    pass
            report["broker"] = {"ok": True, "host": cfg.broker.host, "port": cfg.broker.port}
        except (MqttError, OSError, TimeoutError) as exc:
            report["broker"] = {"ok": False, "error": str(exc) or type(exc).__name__}
            report["ok"] = False
    return report


def print_check(report: dict[str, Any]) -> None:
    console = Console()
    for dev in report["devices"]:
        table = Table(title=f"{dev['device']} ({dev['endpoint']}, {dev['requests']} requests)")
        for col in ("parameter", "value", "quality", "reason"):
            table.add_column(col)
        for r in dev["readings"]:
            table.add_row(r["id"], _fmt(r["value"]), r["quality"], r["reason"] or "")
        console.print(table)
    if "broker" in report:
        b = report["broker"]
        console.print(f"broker: {'ok' if b['ok'] else 'FAILED: ' + b.get('error', '')}")
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
