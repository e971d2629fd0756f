"""The agent's YAML config: pydantic models, validated completely before anything starts.

A plant engineer edits this file on a gateway at 2 a.m.; every mistake must come back as one
line naming the file, the path in it (``devices[2].points[5].type``) and what is allowed.
``load_config`` raises ``ConfigError`` whose ``lines`` hold one such line per mistake.

Times: poll-group and publish intervals are in *plant* seconds (see ``clock``); device
timeouts, back-off and the ack timeout are wall-clock seconds (they are about networks).
Relative paths are relative to the config file's directory.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.dataclasses import is_pydantic_dataclass

from agent.derived import REGISTRY, DerivedSpecBase, spec_union
from agent.yaml_load import YamlProblem, load_yaml
from protocols.errors import KeyFileError, MrvError
from protocols.ids import ID_PATTERN
from protocols.industry import Industry, industry_of
from protocols.keys import jwk_thumbprint, load_public_jwk, public_key_from_jwk
from protocols.modbus_codec import ByteOrder, DataType, register_count

Id = Annotated[str, Field(pattern=ID_PATTERN)]
ParamId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
PositiveSeconds = Annotated[float, Field(gt=0)]
Table = Literal["coil", "discrete", "input", "holding"]
ModbusTransport = Literal["tcp", "rtu", "rtu_over_tcp"]
#: the one industry vocabulary (``protocols.industry``; ``other``/``power`` read as ``generic``)
IndustryName = Annotated[Industry, BeforeValidator(industry_of)]


class ConfigError(MrvError):
    """An invalid agent config; ``lines`` has one self-contained message per mistake."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TlsConfig(_Model):
    """TLS to the broker: CA to trust, and a client certificate when the broker wants one."""

    ca: Path | None = Field(default=None, description="CA certificate (PEM) to verify the broker")
    cert: Path | None = Field(default=None, description="Client certificate (PEM)")
    key: Path | None = Field(default=None, description="Client private key (PEM)")
    insecure: bool = Field(default=False, description="Skip hostname check (never in a plant)")


class BackoffConfig(_Model):
    initial: PositiveSeconds = 0.5
    max: PositiveSeconds = 30.0


class BrokerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["3.1.1", "5"] = Field(default="5", description="MQTT protocol version")
    keepalive: int = Field(default=30, ge=5, le=65535, description="Seconds")
    client_id: str | None = Field(default=None, description="Default: mrv-{site}-{agent}")
    username: str | None = None
    password_file: Path | None = Field(default=None, description="File holding the password")
    tls: TlsConfig | None = None
    connect_timeout: PositiveSeconds = 10.0
    reconnect: BackoffConfig = Field(default_factory=BackoffConfig)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_as_text(cls, v: Any) -> Any:
        # YAML reads `protocol: 5` as an int and `protocol: 3.1.1` as a string.
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


class SerialConfig(_Model):
    port: str = Field(description="Serial device, e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class Quirks(_Model):
    """What real plant devices need: slow starts, pacing, small request sizes, 1-based maps."""

    connect_delay: float = Field(default=0.0, ge=0, description="Pause after connect (s)")
    request_delay: float = Field(default=0.0, ge=0, description="Pause between requests (s)")
    close_after_poll: bool = Field(default=False, description="Disconnect after each poll")
    max_registers_per_request: int = Field(default=125, ge=1, le=125)
    max_bits_per_request: int = Field(default=2000, ge=1, le=2000)
    gap_fill: int = Field(
        default=0,
        ge=0,
        le=124,
        description="Read across holes of up to this many unused registers to save requests",
    )
    address_offset: int = Field(
        default=0,
        ge=-65535,
        le=65535,
        description="Added to every configured address (e.g. -1 for a 1-based register list)",
    )


# A slotted (pydantic) dataclass rather than a model: an agent keeps one per point for its
# whole life, and a model instance carries its own field dict and fields-set (5,000 points:
# ~3.7 MB as models, ~0.9 MB like this). Validation, errors and JSON schema are the same;
# every field is a `Field()` so the schema keeps the declaration order.
@pydantic_dataclass(slots=True, kw_only=True, config=ConfigDict(extra="forbid"))
class PointConfig:
    """One Modbus value and the key parameter it becomes."""

    id: ParamId = Field(description="Parameter id in plant language, e.g. line_current_ka")
    table: Table = Field()
    address: int = Field(ge=0, le=65535, description="0-based protocol address")
    type: DataType = Field(default=DataType.UINT16)
    byte_order: ByteOrder = Field(default=ByteOrder.ABCD)
    scale: float = Field(default=1.0)
    offset: float = Field(default=0.0)
    bit: int | None = Field(default=None, ge=0, le=15, description="BIT inside a register")
    length: int | None = Field(default=None, ge=1, le=250, description="STRING characters")
    unit: str | None = Field(default=None, description="Engineering unit, e.g. kA")
    unit_id: int | None = Field(default=None, ge=0, le=255, description="Overrides device unit_id")
    poll_group: str = Field(default="default")
    min: float | None = Field(default=None, description="Below this: quality uncertain")
    max: float | None = Field(default=None, description="Above this: quality uncertain")
    frozen_polls: int | None = Field(
        default=None, ge=2, description="Unchanged for this many polls: quality uncertain"
    )
    name_en: str | None = Field(default=None)
    name_zh: str | None = Field(default=None)
    aggregation: str | None = Field(default=None)

    def registers(self) -> int:
        if self.table in ("coil", "discrete"):
            return 1
        return register_count(self.type, self.length)


class DeviceConfig(_Model):
    """A Modbus device (TCP, RTU on a serial line, or RTU through a TCP gateway)."""

    driver: ClassVar[str] = "modbus"

    name: Id
    transport: ModbusTransport = "tcp"
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    serial: SerialConfig | None = None
    bus: str | None = Field(
        default=None, description="Devices with the same bus name share one lock (RS-485 line)"
    )
    unit_id: int = Field(default=1, ge=0, le=255)
    timeout: PositiveSeconds = Field(default=1.0, description="Per request, wall seconds")
    retries: int = Field(default=1, ge=0, le=10)
    backoff: BackoffConfig = Field(default_factory=lambda: BackoffConfig(initial=1, max=60))
    quirks: Quirks = Field(default_factory=Quirks)
    points: list[PointConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _endpoint(self) -> DeviceConfig:
        if self.transport in ("tcp", "rtu_over_tcp"):
            if not self.host or self.port is None:
                raise ValueError(f"transport {self.transport} needs host and port")
            if self.serial is not None:
                raise ValueError(f"transport {self.transport} takes host/port, not serial")
        elif self.serial is None:
            raise ValueError("transport rtu needs serial: {port, baudrate, parity}")
        return self

    def endpoint(self) -> str:
        """The connection this device is reached through; devices sharing it share a lock."""
        return self.link_key()

    def link_key(self) -> str:
        """The connection this device is reached through; devices sharing it share a lock."""
        if self.bus:
            return f"bus:{self.bus}"
        if self.transport == "rtu":
            assert self.serial is not None
            return f"rtu:{self.serial.port}"
        return f"{self.transport}:{self.host}:{self.port}"


_NODE_ID = re.compile(r"^(ns=\d+;|nsu=[^;]+;)?(i=\d+|s=.+|g=[0-9A-Fa-f-]{36}|b=[A-Za-z0-9+/=]+)$")


def check_node_id(v: str) -> str:
    if not _NODE_ID.match(v):
        raise ValueError(
            f"{v!r} is not an OPC UA node id; write it as ns=2;s=Kiln1.Clinker or ns=3;i=1042"
        )
    return v


def check_opc_url(v: str) -> str:
    if not v.startswith("opc.tcp://") or len(v) <= len("opc.tcp://"):
        raise ValueError(f"{v!r} is not an OPC UA endpoint; write it as opc.tcp://HOST:PORT")
    return v


OpcuaNodeId = Annotated[
    str,
    AfterValidator(check_node_id),
    Field(description='OPC UA node id, e.g. "ns=2;s=Kiln1.ClinkerTotal" or "ns=3;i=1042"'),
]


class OpcuaSecurity(_Model):
    """The secure channel: policy None, or Basic256Sha256 with the agent's certificate."""

    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: Path | None = Field(default=None, description="Agent certificate (DER or PEM)")
    private_key: Path | None = Field(default=None, description="Agent private key (PEM)")
    server_certificate: Path | None = Field(
        default=None, description="Server certificate to pin (default: the one it presents)"
    )
    application_uri: str = Field(
        default="urn:plant-mrv:agent", description="Must match the URI in the certificate"
    )

    @model_validator(mode="after")
    def _certificates(self) -> OpcuaSecurity:
        if self.policy != "None" and (self.certificate is None or self.private_key is None):
            raise ValueError(f"policy {self.policy} needs certificate and private_key")
        return self


@pydantic_dataclass(slots=True, kw_only=True, config=ConfigDict(extra="forbid"))
class OpcuaPointConfig:
    """One numeric OPC UA variable and the key parameter it becomes."""

    id: ParamId = Field(description="Parameter id in plant language, e.g. clinker_t")
    node_id: OpcuaNodeId = Field()
    type: DataType = Field(
        default=DataType.FLOAT64, description="For counters: the width the value wraps at"
    )
    scale: float = Field(default=1.0)
    offset: float = Field(default=0.0)
    unit: str | None = Field(default=None, description="Engineering unit, e.g. t")
    poll_group: str = Field(default="default")
    min: float | None = Field(default=None, description="Below this: quality uncertain")
    max: float | None = Field(default=None, description="Above this: quality uncertain")
    frozen_polls: int | None = Field(
        default=None, ge=2, description="Unchanged for this many polls: quality uncertain"
    )
    name_en: str | None = Field(default=None)
    name_zh: str | None = Field(default=None)
    aggregation: str | None = Field(default=None)


class OpcuaDeviceConfig(_Model):
    """An OPC UA server (a DCS, a PLC gateway): numeric variables read by node id."""

    driver: ClassVar[str] = "opcua"

    name: Id
    transport: Literal["opcua"]
    endpoint: Annotated[str, AfterValidator(check_opc_url)] = Field(
        description="opc.tcp://HOST:PORT[/PATH]"
    )
    security: OpcuaSecurity = Field(default_factory=OpcuaSecurity)
    timestamps: Literal["poll", "source"] = Field(
        default="poll",
        description="poll: the reading's time is the poll slot; source: the server's "
        "SourceTimestamp of the value (the slot when it has none)",
    )
    mode: Literal["read", "subscribe"] = Field(
        default="read",
        description="read: one Read call per poll; subscribe: the server reports changes "
        "(monitored items) and each poll takes the latest value of every node",
    )
    publishing_interval: PositiveSeconds = Field(
        default=1.0, description="subscribe: the subscription's publishing interval, wall seconds"
    )
    timeout: PositiveSeconds = Field(default=2.0, description="Per request, wall seconds")
    retries: int = Field(default=1, ge=0, le=10)
    backoff: BackoffConfig = Field(default_factory=lambda: BackoffConfig(initial=1, max=60))
    points: list[OpcuaPointConfig] = Field(min_length=1)

    def link_key(self) -> str:
        """One session per server URL; devices naming the same URL share it."""
        return self.endpoint


def _transport_tag(v: Any) -> str | None:
    t = v.get("transport", "tcp") if isinstance(v, dict) else getattr(v, "transport", None)
    if t in ("tcp", "rtu", "rtu_over_tcp"):
        return "modbus"
    return "opcua" if t == "opcua" else None


#: A device section: the driver is chosen by ``transport`` (default tcp, i.e. Modbus TCP).
AnyDevice = Annotated[
    Annotated[DeviceConfig, Tag("modbus")] | Annotated[OpcuaDeviceConfig, Tag("opcua")],
    Discriminator(
        _transport_tag,
        custom_error_type="unknown_transport",
        custom_error_message="unknown transport",
    ),
]
TRANSPORTS = ("tcp", "rtu", "rtu_over_tcp", "opcua")


class PollGroup(_Model):
    interval: PositiveSeconds = Field(description="Plant seconds between polls")


class ClockConfig(_Model):
    """Where time comes from: the system clock, or a simulated plant's clock."""

    source: Literal["system", "simulated"] = "system"
    start: datetime | int | None = Field(
        default=None, description="Simulated plant time at anchor_wall (ISO 8601 or epoch ms)"
    )
    speed: float = Field(default=1.0, gt=0, le=100000)
    anchor_wall: float | None = Field(default=None, description="Wall epoch seconds of start")
    jump_threshold_ms: int = Field(
        default=2000, ge=10, description="System clock steps larger than this are flagged"
    )

    @model_validator(mode="after")
    def _simulated_needs_start(self) -> ClockConfig:
        if self.source == "simulated" and (self.start is None or self.anchor_wall is None):
            raise ValueError("clock source simulated needs start and anchor_wall")
        return self

    def start_ms(self) -> int | None:
        if self.source != "simulated" or self.start is None:
            return None
        if isinstance(self.start, datetime):
            if self.start.tzinfo is None:
                raise ValueError("clock.start needs a time zone, e.g. 2025-01-01T00:00:00Z")
            return int(self.start.timestamp() * 1000)
        return int(self.start)


class PublishConfig(_Model):
    interval: PositiveSeconds = Field(default=10.0, description="Plant seconds per batch")
    max_readings_per_batch: int = Field(default=5000, ge=1, le=50000)
    ack_timeout: PositiveSeconds = Field(
        default=30.0, description="Wall seconds without ack progress before republishing"
    )
    window: int = Field(
        default=200, ge=1, description="Batches published ahead of the collector's ack"
    )


class OutboxConfig(_Model):
    """Limits of the durable outbox and what happens when one is reached."""

    max_bytes: int | None = Field(default=None, ge=1, description="None: only the disk limits")
    max_age_days: float | None = Field(default=None, gt=0)
    min_free_disk_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    on_full: Literal["keep", "drop_oldest"] = Field(
        default="keep",
        description="keep: never delete unacked evidence, alarm; drop_oldest: delete the "
        "oldest unacked batches (logged and announced in the next batch)",
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="SQLite synchronous; FULL survives power loss"
    )


class SpoolConfig(_Model):
    max_readings: int = Field(
        default=2_000_000, ge=1000, description="Readings held while the outbox cannot write"
    )


if TYPE_CHECKING:  # one class for the checker; the tagged union of every kind for pydantic
    DerivedSpec = DerivedSpecBase
else:
    DerivedSpec = spec_union()


class MetricsConfig(_Model):
    """Prometheus ``/metrics`` of the agent (outbox depth, acks, polls, errors)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9471, ge=0, le=65535)


class AgentConfig(_Model):
    site: Id
    agent: Id
    key_file: Path = Field(description="Ed25519 private key (mrv-agent keygen)")
    #: Required: acks are signed; only an ack that verifies with this key deletes batches.
    collector_key: Path | dict[str, Any] | None = Field(
        default=None,
        description="The collector's public JWK (a file such as the collector's "
        "DATA_DIR/collector.pub.jwk, or the JWK inline): acks must verify with it",
    )
    data_dir: Path = Field(description="Outbox and state live here")
    industry: IndustryName = Industry.GENERIC
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    clock: ClockConfig = Field(default_factory=ClockConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    devices: list[AnyDevice] = Field(default_factory=list)
    poll_groups: dict[str, PollGroup] = Field(
        default_factory=lambda: {"default": PollGroup(interval=10)}
    )
    derived: list[DerivedSpec] = Field(default_factory=list)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    # Set by parse_config: the collector's public JWK (kid recomputed) read from collector_key.
    collector_jwk: dict[str, str] | None = Field(default=None, exclude=True)
    # Set by load_config: where the file was and the hash of its bytes (birth message).
    source: Path | None = Field(default=None, exclude=True)
    config_hash: str | None = Field(default=None, exclude=True)

    @property
    def client_id(self) -> str:
        return self.broker.client_id or f"mrv-{self.site}-{self.agent}"

    def all_points(
        self,
    ) -> list[tuple[DeviceConfig | OpcuaDeviceConfig, PointConfig | OpcuaPointConfig]]:
        return [(d, p) for d in self.devices for p in d.points]


# --------------------------------------------------------------------------------------
# Loading and error messages


_DEVICE_TAGS: dict[str, Any] = {"modbus": DeviceConfig, "opcua": OpcuaDeviceConfig}


def _loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(loc[i - 1], int) and part in REGISTRY and loc[0] == "derived":
            continue  # the discriminator tag pydantic inserts for `derived[i]`
        elif i == 2 and loc[0] == "devices" and part in _DEVICE_TAGS:
            continue  # and for `devices[i]` (the driver)
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _fields_of(model: Any) -> dict[str, Any]:
    """Field name → ``FieldInfo`` of a config model or a pydantic dataclass (``PointConfig``)."""
    return model.__pydantic_fields__


def _model_at(loc: tuple[Any, ...]) -> Any:
    """The model (or dataclass) whose field set a path points into (for 'allowed fields')."""
    model: Any = AgentConfig
    i = 0
    while i < len(loc):
        part = loc[i]
        field = _fields_of(model).get(part) if isinstance(part, str) else None
        if field is None:
            return None
        nxt: Any = None
        for cand in _candidates(field.annotation):
            if isinstance(cand, type) and (
                issubclass(cand, BaseModel) or is_pydantic_dataclass(cand)
            ):
                nxt = cand
                break
        i += 1
        if get_origin(field.annotation) in (list, dict) and i < len(loc):
            i += 1  # list index or dict key
        if part == "derived" and i < len(loc) and loc[i] in REGISTRY:
            nxt = REGISTRY[loc[i]].spec_model
            i += 1
        if part == "devices" and i < len(loc) and loc[i] in _DEVICE_TAGS:
            nxt = _DEVICE_TAGS[loc[i]]
            i += 1
        if nxt is None:
            return None
        model = nxt
    return model


def _candidates(ann: Any) -> list[Any]:
    args = getattr(ann, "__args__", None)
    if not args:
        return [ann]
    out: list[Any] = []
    for a in args:
        out.extend(_candidates(a))
    return out


def _format(file: str, err: Any) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    path = _loc_path(loc)
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):  # model / dataclass
        parent = _model_at(loc[:-1])
        allowed = ", ".join(_fields_of(parent)) if parent else "see the JSON schema"
        allowed = allowed.replace(", source, config_hash", "")
        return f"{file}: {path}: unknown field; allowed here: {allowed}"
    if kind == "missing":
        return f"{file}: {path}: required field is missing"
    if kind == "unknown_transport":
        got = err.get("input", {}).get("transport") if isinstance(err.get("input"), dict) else None
        return f"{file}: {path}.transport: unknown transport {got!r}; allowed: " + ", ".join(
            TRANSPORTS
        )
    if kind == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "?")
        allowed = ", ".join(sorted(REGISTRY))
        return f"{file}: {path}.kind: unknown kind {tag!r}; allowed: {allowed}"
    if kind == "dataclass_type":  # said as for a model: PointConfig is a dataclass
        cls_name = (err.get("ctx") or {}).get("class_name", "?")
        err = {**err, "msg": f"Input should be a valid dictionary or instance of {cls_name}"}
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    msg = msg.replace("Input should be ", "must be ")
    got = err.get("input")
    if isinstance(got, str | int | float | bool) and kind not in ("value_error",):
        msg += f" (got {got!r})"
    return f"{file}: {path}: {msg}"


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else (base / p)


def _semantic_checks(cfg: AgentConfig, file: str) -> list[str]:
    """Cross-field rules pydantic cannot express field by field."""
    errs: list[str] = []
    seen: dict[str, str] = {}
    for di, dev in enumerate(cfg.devices):
        points: Sequence[PointConfig | OpcuaPointConfig] = dev.points
        pt: PointConfig | OpcuaPointConfig
        for pi, pt in enumerate(points):
            where = f"devices[{di}].points[{pi}]"
            if pt.id in seen:
                errs.append(
                    f"{file}: {where}.id: parameter id {pt.id!r} already used at {seen[pt.id]}"
                )
            else:
                seen[pt.id] = f"{where}.id"
            if pt.poll_group not in cfg.poll_groups:
                errs.append(
                    f"{file}: {where}.poll_group: unknown poll group {pt.poll_group!r}; "
                    f"defined: {', '.join(cfg.poll_groups) or 'none'}"
                )
            if pt.min is not None and pt.max is not None and pt.min > pt.max:
                errs.append(f"{file}: {where}.min: min {pt.min} is above max {pt.max}")
            if not isinstance(pt, PointConfig) or not isinstance(dev, DeviceConfig):
                continue  # below: the Modbus register rules
            if pt.table in ("coil", "discrete") and pt.type is not DataType.BIT:
                errs.append(f"{file}: {where}.type: table {pt.table} holds bits; type must be BIT")
            if pt.table in ("input", "holding"):
                if pt.type is DataType.BIT and pt.bit is None:
                    errs.append(f"{file}: {where}.bit: BIT in a register needs bit 0..15")
                if pt.type is DataType.STRING:
                    errs.append(
                        f"{file}: {where}.type: STRING is not a number and cannot be a "
                        "key parameter; allowed: BIT, UINT16, INT16, UINT32, INT32, UINT64, "
                        "INT64, FLOAT32, FLOAT64"
                    )
                    continue
            addr = pt.address + dev.quirks.address_offset
            if addr < 0 or addr + pt.registers() > 65536:
                errs.append(
                    f"{file}: {where}.address: {pt.address} (+ address_offset "
                    f"{dev.quirks.address_offset}) does not fit 0..65535 for {pt.type.value}"
                )
    names: set[str] = set()
    for di, dev in enumerate(cfg.devices):
        if dev.name in names:
            errs.append(f"{file}: devices[{di}].name: device name {dev.name!r} used twice")
        names.add(dev.name)
    for i, spec in enumerate(cfg.derived):
        spec_b: DerivedSpecBase = spec
        for out in spec_b.output_ids():
            if out in seen:
                errs.append(
                    f"{file}: derived[{i}].id: parameter id {out!r} already used at {seen[out]}"
                )
            else:
                seen[out] = f"derived[{i}].id"
    for i, spec in enumerate(cfg.derived):
        for inp in spec.input_ids():
            if inp not in seen:
                errs.append(
                    f"{file}: derived[{i}]: input {inp!r} is not a point or derived parameter "
                    "of this agent"
                )
    if not errs:
        from agent.derived.engine import dependency_order

        try:
            dependency_order(cfg.derived)
        except ValueError as exc:
            errs.append(f"{file}: derived: {exc}")
    if cfg.clock.source == "simulated":
        try:
            cfg.clock.start_ms()
        except ValueError as exc:
            errs.append(f"{file}: clock.start: {exc}")
    return errs


COLLECTOR_KEY_FIX = (
    "set collector_key to the collector's public JWK file (the collector writes it to "
    "DATA_DIR/collector.pub.jwk; `mrv-collector key` prints it)"
)


def _check_collector_key(cfg: AgentConfig, base: Path, file: str) -> None:
    """``collector_key`` is required; an inline JWK is checked now, a file when the agent
    starts (``collector_jwk``), like ``key_file``."""
    ck = cfg.collector_key
    if ck is None:
        raise ConfigError(
            [
                f"{file}: collector_key: missing; acks are signed by the collector and an agent "
                f"without its key cannot trust any (the old unsigned ack is gone): {COLLECTOR_KEY_FIX}"
            ]
        )
    if isinstance(ck, dict):
        cfg.collector_jwk = _inline_jwk(ck, file)
    else:
        cfg.collector_key = _resolve(base, ck)


def _inline_jwk(ck: dict[str, Any], file: str) -> dict[str, str]:
    if "d" in ck:
        raise ConfigError(
            [f"{file}: collector_key: holds a private key (member d); use the public JWK"]
        )
    try:
        public_key_from_jwk(ck)
    except ValueError as exc:
        raise ConfigError([f"{file}: collector_key: {exc}; {COLLECTOR_KEY_FIX}"]) from None
    base_jwk = {"kty": ck["kty"], "crv": ck["crv"], "x": ck["x"]}
    kid = jwk_thumbprint(base_jwk)
    if "kid" in ck and ck["kid"] != kid:
        raise ConfigError(
            [f"{file}: collector_key: kid {ck['kid']!r} is not the key's RFC 7638 thumbprint"]
        )
    return {**base_jwk, "kid": kid}


def collector_jwk(cfg: AgentConfig) -> dict[str, str]:
    """The collector's public JWK (kid recomputed); raise ``ConfigError`` naming the field."""
    if cfg.collector_jwk is not None:
        return cfg.collector_jwk
    file = str(cfg.source or "<config>")
    if cfg.collector_key is None or isinstance(cfg.collector_key, dict):
        _check_collector_key(cfg, Path.cwd(), file)
        assert cfg.collector_jwk is not None
        return cfg.collector_jwk
    try:
        cfg.collector_jwk = load_public_jwk(cfg.collector_key)
    except KeyFileError as exc:
        raise ConfigError([f"{file}: collector_key: {exc}; {COLLECTOR_KEY_FIX}"]) from None
    return cfg.collector_jwk


def parse_config(data: Any, *, file: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    """Validate an already-parsed YAML/JSON object; raise ``ConfigError``."""
    if not isinstance(data, dict):
        raise ConfigError([f"{file}: (top level): expected a mapping of settings"])
    try:
        cfg = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_format(file, e) for e in exc.errors()]) from None
    errs = _semantic_checks(cfg, file)
    if errs:
        raise ConfigError(errs)
    base = base_dir or Path.cwd()
    cfg.key_file = _resolve(base, cfg.key_file)  # type: ignore[assignment]
    cfg.data_dir = _resolve(base, cfg.data_dir)  # type: ignore[assignment]
    cfg.broker.password_file = _resolve(base, cfg.broker.password_file)
    for dev in cfg.devices:
        if isinstance(dev, OpcuaDeviceConfig):
            sec = dev.security
            sec.certificate = _resolve(base, sec.certificate)
            sec.private_key = _resolve(base, sec.private_key)
            sec.server_certificate = _resolve(base, sec.server_certificate)
    _check_collector_key(cfg, base, file)
    if cfg.broker.tls:
        t = cfg.broker.tls
        t.ca, t.cert, t.key = _resolve(base, t.ca), _resolve(base, t.cert), _resolve(base, t.key)
    cfg.config_hash = hashlib.sha256(
        json.dumps(data, sort_keys=True, default=str).encode()
    ).hexdigest()
    return cfg


def load_config(path: Path | str) -> AgentConfig:
    """Read and validate an agent YAML file; raise ``ConfigError`` with one line per mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = load_yaml(text)
    except YamlProblem as exc:
        if not exc.syntax:
            raise ConfigError([f"{path}: YAML error: {exc.message}"]) from None
        where = f":{exc.mark[0] + 1}:{exc.mark[1] + 1}" if exc.mark else ""
        raise ConfigError([f"{path}{where}: YAML syntax error: {exc.message}"]) from None
    cfg = parse_config(data, file=str(path), base_dir=path.resolve().parent)
    cfg.source = path
    cfg.config_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return cfg


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the agent config (written to config/agent/agent.schema.json)."""
    schema = AgentConfig.model_json_schema(mode="validation")
    schema["properties"].pop("source", None)
    schema["properties"].pop("config_hash", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Plant MRV agent config"
    return schema
