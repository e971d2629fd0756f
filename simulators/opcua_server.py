"""The simulated plants over OPC UA (asyncua): the same plant model as the Modbus simulator.

Every register of the plant's map becomes a Double variable ``ns=2;s=DEVICE.REGISTER``
(e.g. ``ns=2;s=kiln.clinker_t``) holding the engineering value, as a DCS would serve it;
values are refreshed every ``update_s`` wall seconds with the plant time as their
SourceTimestamp. Security: policy None, or Basic256Sha256 (Sign and SignAndEncrypt) with a
self-signed server certificate written to ``cert_dir`` on first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua

from .plant import PlantSimulator

logging.getLogger("asyncua").setLevel(logging.CRITICAL)

NAMESPACE = "urn:plant-mrv:simulator"
SERVER_URI = "urn:plant-mrv:simulator:server"


def node_id(device: str, register: str) -> str:
    """The node id a register is served under (namespace index 2: the first registered)."""
    return f"ns=2;s={device}.{register}"


def describe_nodes(regmap: dict[str, Any]) -> list[dict[str, Any]]:
    """``node_id`` beside each register of a ``describe()`` map (agent configs, tests)."""
    return [
        {**r, "device": d["name"], "node_id": node_id(d["name"], r["name"])}
        for d in regmap["devices"]
        for r in d["registers"]
    ]


async def server_certificate(cert_dir: Path, host: str) -> tuple[Path, Path]:
    """A self-signed server certificate and key in ``cert_dir`` (made once, then reused)."""
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    cert, key = cert_dir / "server-cert.der", cert_dir / "server-key.pem"
    await setup_self_signed_certificate(
        key,
        cert,
        SERVER_URI,
        host,
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        {"countryName": "CN", "organizationName": "Plant MRV simulator"},
    )
    return cert, key


class OpcuaPlantServer:
    """An asyncua server publishing a ``PlantSimulator``'s model; an async context manager."""

    def __init__(
        self,
        plant: PlantSimulator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        security: str = "none",
        cert_dir: Path | None = None,
        update_s: float = 0.2,
    ) -> None:
        if security not in ("none", "basic256sha256"):
            raise ValueError(f"security must be none or basic256sha256, got {security!r}")
        if security != "none" and cert_dir is None:
            raise ValueError("security basic256sha256 needs a certificate directory")
        self.plant = plant
        self.host = host
        self.port = port or _free_port(host)
        self.security = security
        self.cert_dir = cert_dir
        self.update_s = update_s
        self.server: Server | None = None
        self._nodes: list[tuple[ua.NodeId, Any, int]] = []  # (node, register, unit)
        self._task: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/"

    async def start(self) -> OpcuaPlantServer:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Plant MRV {self.plant.kind} simulator")
        await server.set_application_uri(SERVER_URI)
        if self.security == "none":
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            assert self.cert_dir is not None
            cert, key = await server_certificate(self.cert_dir, self.host)
            await server.load_certificate(str(cert))
            await server.load_private_key(str(key))
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                ]
            )
        idx = await server.register_namespace(NAMESPACE)
        objects = server.nodes.objects
        t = self.plant.now_ms()
        for dev in self.plant.map.devices:
            folder = await objects.add_object(idx, dev.name)
            for reg in dev.registers:
                nid = ua.NodeId(f"{dev.name}.{reg.name}", idx)  # type: ignore[arg-type]
                value = self.plant.value(reg.name, dev.unit, t)
                await folder.add_variable(
                    nid, reg.name, ua.Variant(float(value), ua.VariantType.Double)
                )
                self._nodes.append((nid, reg, dev.unit))
        await server.start()
        self.server = server
        await self.update()
        self._task = asyncio.create_task(self._refresh(), name="opcua-refresh")
        return self

    async def update(self) -> None:
        """Write every variable's value at the current plant time."""
        assert self.server is not None
        t = self.plant.now_ms()
        when = datetime.fromtimestamp(t / 1000, UTC)
        for nid, reg, unit in self._nodes:
            value = float(self.plant.value(reg.name, unit, t))
            dv = ua.DataValue(
                ua.Variant(value, ua.VariantType.Double),
                SourceTimestamp=when,  # type: ignore[arg-type]  # ua.DateTime is a datetime
                ServerTimestamp=datetime.now(UTC),  # type: ignore[arg-type]
            )
            await self.server.write_attribute_value(nid, dv)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.update_s)
            await self.update()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def __aenter__(self) -> OpcuaPlantServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
