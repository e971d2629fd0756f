"""``/metrics`` of a running agent (Prometheus text format): outbox depth, acks, publishes,
polls and poll errors per device, overruns. A minimal HTTP/1.1 responder on asyncio, so the
gateway needs no web framework; it answers ``GET /metrics`` and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from protocols.prom import CONTENT_TYPE, Metric, render


def agent_metrics(agent: Any) -> str:
    lab = {"site": agent.cfg.site, "agent": agent.cfg.agent}
    ob, pub = agent.outbox, agent.publisher
    m = [
        Metric("mrv_agent_batches_committed_total", "Batches signed and committed", "counter").add(
            agent.batches_committed, **lab
        ),
        Metric("mrv_agent_outbox_head_seq", "Highest seq committed to the outbox").add(
            ob.head_seq if ob else None, **lab
        ),
        Metric("mrv_agent_outbox_acked_seq", "Highest seq the collector acked").add(
            ob.acked_through if ob else None, **lab
        ),
        Metric("mrv_agent_outbox_depth", "Committed batches not yet acked").add(
            (ob.head_seq - ob.acked_through) if ob else None, **lab
        ),
        Metric("mrv_agent_acks_total", "Acks received and applied", "counter").add(
            pub.acks if pub else 0, **lab
        ),
        Metric("mrv_agent_published_total", "Batch publishes (PUBACKed)", "counter").add(
            pub.published if pub else 0, **lab
        ),
        Metric(
            "mrv_agent_republished_total", "Batches sent again after ack timeout", "counter"
        ).add(pub.republished if pub else 0, **lab),
        Metric("mrv_agent_broker_connects_total", "Broker connections made", "counter").add(
            pub.connects if pub else 0, **lab
        ),
        Metric("mrv_agent_broker_connected", "1 while connected to the broker").add(
            int(pub.connected.is_set()) if pub else 0, **lab
        ),
    ]
    polls = Metric("mrv_agent_polls_total", "Device polls, by result", "counter")
    failing = Metric("mrv_agent_device_consecutive_failures", "Failed polls in a row")
    overruns = Metric("mrv_agent_poll_overruns_total", "Poll slots missed", "counter")
    seen: set[str] = set()
    for poller in agent.pollers:
        overruns.add(poller.overruns, **lab, group=poller.group)
        for dp in poller.devices:
            name, st = dp.device.name, dp.state
            if name in seen:
                continue  # one state per device, shared by its poll groups
            seen.add(name)
            polls.add(st.ok_polls, **lab, device=name, result="ok")
            polls.add(st.bad_polls, **lab, device=name, result="failed")
            failing.add(st.failures, **lab, device=name)
    m += [polls, failing, overruns]
    return render(m)


async def serve_metrics(agent: Any, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            line = request.split(b"\r\n", 1)[0].split()
            if len(line) >= 2 and line[0] == b"GET" and line[1].split(b"?")[0] == b"/metrics":
                body, status, ctype = agent_metrics(agent).encode(), "200 OK", CONTENT_TYPE
            else:
                body, status, ctype = b"only GET /metrics\n", "404 Not Found", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
