"""A tiny JSON-over-HTTP control endpoint so another process can inject faults at runtime.

Routes (127.0.0.1 only, no auth: it is a test instrument, never exposed)::

    GET    /state          plant truth: totals, anode effects, faults, request counts
    GET    /describe       the register map
    GET    /faults         the injected faults
    POST   /faults         {"spec": "timeout:unit=3:for=10m"} | {"specs": [...]} |
                           {"mode": "late", "unit": 3, "delay_s": 1.5, ...}
    DELETE /faults         clear all faults (?unit=N: that unit's)
    DELETE /faults/ID      clear one fault

Hand-rolled on asyncio streams: one request per connection, small bodies, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault, FaultError, parse_fault

if TYPE_CHECKING:
    from .plant import PlantSimulator

__all__ = ["ControlServer"]

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large"}  # fmt: skip
MAX_BODY = 64 * 1024


class ControlServer:
    def __init__(self, sim: PlantSimulator) -> None:
        self.sim = sim
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._respond(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            status, body = 400, {"error": "malformed request"}
        data = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + data)
            await writer.drain()
        writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        method, target, _ = request_line.split(" ", 2)
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > MAX_BODY:
            return 413, {"error": "body too large"}
        raw = await reader.readexactly(length) if length else b""
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        query = parse_qs(url.query)
        sim = self.sim
        if path == "/state" and method == "GET":
            return 200, sim.truth()
        if path == "/describe" and method == "GET":
            return 200, sim.describe()
        if path == "/faults":
            if method == "GET":
                return 200, {"faults": sim.faults()}
            if method == "POST":
                try:
                    faults = self._parse_faults(json.loads(raw or b"{}"))
                    created = [sim.inject(f).to_dict() for f in faults]
                except (FaultError, json.JSONDecodeError) as exc:
                    return 400, {"error": str(exc)}
                return 201, {"faults": created}
            if method == "DELETE":
                unit = query.get("unit")
                n = sim.clear(unit=int(unit[0])) if unit else sim.clear()
                return 200, {"cleared": n}
            return 405, {"error": f"{method} not allowed on /faults"}
        if path.startswith("/faults/") and method == "DELETE":
            n = sim.clear(int(path.rsplit("/", 1)[1]))
            return (200 if n else 404), {"cleared": n}
        return 404, {"error": f"no route {method} {path}"}

    def _parse_faults(self, body: Any) -> list[Fault]:
        if not isinstance(body, dict):
            raise FaultError("body must be a JSON object")
        start = self.sim.start_ms
        if "spec" in body:
            return [parse_fault(str(body["spec"]), start)]
        if "specs" in body:
            return [parse_fault(str(s), start) for s in body["specs"]]
        return [Fault.from_dict(body)]
