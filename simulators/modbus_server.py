"""The one place that talks to pymodbus's server API (it changes between minor versions).

Serves several unit ids on one TCP port with pymodbus 3.16's ``SimDevice``/``SimData`` and
``ModbusTcpServer``. Register contents are not stored here: on every read the device's
``action`` hook asks ``fill`` for the values at that instant. Before any datastore access,
``gate`` decides what the client experiences: a normal answer, a late one, a Modbus
exception, no answer at all, or a dropped connection. Relies on these pymodbus internals,
checked against 3.16.1: ``ServerRequestHandler`` (``last_pdu``, ``server_send``),
``ModbusPDU.datastore_update``, ``ModbusProtocol.active_connections`` and the listener's
``asyncio.Server`` in ``transport``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

__all__ = ["FUNCTION_TABLES", "Gate", "ModbusUnitsServer", "Verdict"]

# Modbus function code -> table it addresses.
FUNCTION_TABLES: dict[int, str] = {
    1: "coil", 5: "coil", 15: "coil",
    2: "discrete",
    3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding",
    4: "input",
}  # fmt: skip

# What the gate tells a request: answer it, drop the TCP connection, stay silent, or answer
# with this Modbus exception code.
Verdict = Literal["serve", "drop", "silent"] | int
Gate = Callable[[int, str], Awaitable[Verdict]]
# (unit, table) -> {address: register value} for every register of that table, now.
Fill = Callable[[int, str], Mapping[int, int]]
# unit -> table -> [(address, register count)]
Layout = Mapping[int, Mapping[str, Sequence[tuple[int, int]]]]

GATEWAY_NO_RESPONSE = int(ExcCodes.GATEWAY_NO_RESPONSE)

for _name in ("pymodbus", "pymodbus.logging"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


class _Handler(ServerRequestHandler):
    """One client connection; asks the gate before touching the datastore."""

    async def handle_request(self) -> None:
        pdu = self.last_pdu
        addr = self.last_addr
        if not pdu:
            return
        owner: _Server = self.server
        table = FUNCTION_TABLES.get(pdu.function_code, "")
        if pdu.dev_id not in owner.units:
            verdict: Verdict = GATEWAY_NO_RESPONSE
        else:
            verdict = await owner.gate(pdu.dev_id, table)
        if verdict == "drop":
            self.close()
            return
        if verdict == "silent" or self.transport is None:
            return
        if isinstance(verdict, int):
            response: Any = ExceptionResponse(pdu.function_code, verdict)
        else:
            try:
                # pymodbus types ``context`` wider than ``datastore_update`` accepts
                response = await pdu.datastore_update(owner.context, pdu.dev_id)  # type: ignore[arg-type]
            except Exception:  # a datastore failure is what a real device reports as 0x04
                response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        self.server_send(response, addr)


class _Server(ModbusTcpServer):
    units: frozenset[int]
    gate: Gate

    def callback_new_connection(self) -> _Handler:
        return _Handler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class ModbusUnitsServer:
    """Several unit ids on one port, values computed on read, faults decided per request."""

    def __init__(self, layout: Layout, fill: Fill, gate: Gate) -> None:
        self._layout = layout
        self._fill = fill
        self._gate = gate
        self._server: _Server | None = None
        self.host = ""
        self.port = 0

    def _devices(self) -> list[SimDevice]:
        devices = []
        for unit, tables in self._layout.items():
            blocks: list[list[SimData]] = []
            for table in ("coil", "discrete", "holding", "input"):
                spans = tables.get(table, ())
                if table in ("coil", "discrete"):
                    # pymodbus needs every table non-empty; the action refuses these reads
                    blocks.append([SimData(address=0, values=False, datatype=SimType.BITS)])
                elif spans:
                    blocks.append(
                        [
                            SimData(address=a, count=n, values=0, datatype=SimType.REGISTERS,
                                    readonly=True)
                            for a, n in spans
                        ]
                    )  # fmt: skip
                else:
                    blocks.append([SimData(address=0, values=0, datatype=SimType.REGISTERS)])
            served = frozenset(t for t, spans in tables.items() if spans)
            devices.append(
                SimDevice(
                    id=unit,
                    simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
                    action=partial(self._action, unit, served),
                )
            )
        return devices

    async def _action(
        self,
        unit: int,
        served: frozenset[str],
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        table = FUNCTION_TABLES.get(function_code, "")
        if table not in served:
            return ExcCodes.ILLEGAL_ADDRESS
        if values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        image = self._fill(unit, table)
        for a in range(address, address + count):
            if a in image:
                registers[a - start_address] = image[a]
        return None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        server = _Server(self._devices(), address=(host, port))
        server.units = frozenset(self._layout)
        server.gate = self._gate
        try:
            await server.serve_forever(background=True)
        except RuntimeError:  # pymodbus's way of saying the bind failed
            sockets: list[Any] = []
        else:
            sockets = getattr(server.transport, "sockets", None) or []
        if not sockets:
            await server.shutdown()
            raise OSError("address in use or not available")
        self._server = server
        self.host = host
        self.port = sockets[0].getsockname()[1]
        return self.port

    @property
    def listening(self) -> bool:
        return self._server is not None

    def drop_connections(self) -> None:
        """Close every client connection (the device dropped off the network)."""
        if self._server is None:
            return
        for conn in list(self._server.active_connections.values()):
            conn.close()

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is not None:
            self._drop(server)
            await server.shutdown()

    @staticmethod
    def _drop(server: _Server) -> None:
        for conn in list(server.active_connections.values()):
            conn.close()
