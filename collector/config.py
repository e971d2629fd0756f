"""Collector configuration: one YAML file, validated up front so a bad field stops the start.

Every error names the field (``broker.port: ...``) so an operator can fix the file without
reading code. Paths in the file are resolved relative to the file's own directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.alarms import AlarmsConfig
from protocols.envelope import MAX_ENVELOPE_BYTES
from protocols.errors import MrvError
from protocols.ids import ID_PATTERN
from protocols.industry import Industry, industry_of

SiteId = Annotated[str, Field(pattern=ID_PATTERN)]


class ConfigError(MrvError):
    reason = "config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsConfig(_Strict):
    """Broker TLS: CA to trust, and optionally a client certificate (mutual TLS)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False  # skip hostname check; only for test brokers


class BrokerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: TlsConfig | None = None
    username: str | None = None
    password_file: Path | None = None
    client_id: str = Field(default="mrv-collector", pattern=ID_PATTERN)
    protocol: Literal["3.1.1", "5"] = "5"
    #: MQTT 5 shared-subscription group: several collectors split the load on one broker.
    shared_group: str | None = Field(default=None, pattern=ID_PATTERN)
    #: Keep the broker session across reconnects so batches published meanwhile are queued.
    persistent_session: bool = True
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"broker.password_file: cannot read {self.password_file}: {exc}"
            ) from None


class LimitsConfig(_Strict):
    max_envelope_bytes: int = Field(default=MAX_ENVELOPE_BYTES, ge=1024)
    #: Raw bytes kept per quarantined message (the full size and SHA-256 are always kept).
    quarantine_keep_bytes: int = Field(default=1024 * 1024, ge=0)
    #: Messages verified and committed in one transaction (one fsync, one ack per agent).
    group_max_messages: int = Field(default=64, ge=1)


class InfluxConfig(_Strict):
    enabled: bool = False
    url: str = "http://127.0.0.1:8086"
    org: str = "plant-mrv"
    bucket: str = "mrv"
    token_file: Path | None = None
    batch_size: int = Field(default=5000, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)
    retry_initial_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)

    def token(self) -> str:
        if self.token_file is None:
            return ""
        try:
            return self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"influx.token_file: cannot read {self.token_file}: {exc}") from None


class HttpTlsConfig(_Strict):
    """HTTPS for the web UI and API; session cookies are then ``Secure``."""

    cert_file: Path
    key_file: Path


class HttpConfig(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=0, le=65535)
    tls: HttpTlsConfig | None = None
    #: ``module:function`` returning an ASGI app for a ``Collector``; default: the web UI
    #: (``collector.web:collector_app``).
    app: str | None = None


class SubmissionConfig(_Strict):
    """When a site's months are due and what must be in before a month is complete."""

    #: Natural days after the month for the platform upload (collector/months.py cites it).
    platform_days: int = Field(default=40, ge=1, le=366)
    #: The province's or group's earlier internal date (natural days after the month).
    internal_days: int = Field(default=20, ge=1, le=366)
    #: Parameter ids that must have a submitted value (lab result, settlement slip) for the
    #: month before it counts as complete, e.g. ``[anode_sulphur, coal_ncv_gj_per_t]``.
    required_submissions: list[str] = Field(default_factory=list)


class SiteConfig(_Strict):
    #: ``protocols.industry`` (``other``/``power`` read as ``generic``)
    industry: Annotated[Industry, BeforeValidator(industry_of)] = Industry.GENERIC
    timezone: str = "Asia/Shanghai"
    name: str | None = None
    #: Monthly record settings for this site: any ``protocols.record.RecordSettings`` field
    #: (``interval_s``, ``aluminium: {pfc: {method, ...}, faraday_ce, fuels}``, ``cement``,
    #: ``steel``, ``counters``, ``aggregation``, ``substitution``, ...). Used by
    #: ``mrv-collector record build`` and the admin API; ``--settings FILE`` overrides it.
    records: dict[str, Any] | None = None
    #: Deadlines and required submissions of the monthly upload (``mrv-collector month``).
    submission: SubmissionConfig = SubmissionConfig()

    @field_validator("records")
    @classmethod
    def _valid_records(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        from protocols.methods.errors import MethodError
        from protocols.record import RecordError, RecordSettings

        for fixed in ("site", "month", "timezone", "industry"):
            if fixed in v:
                raise ValueError(f"{fixed} is set by the site and the build, not in records")
        try:  # any valid site id and month: the build checks the real ones again
            RecordSettings.from_dict({**v, "site": "site", "month": "2024-01"})
        except (RecordError, MethodError) as exc:
            raise ValueError(str(exc)) from None
        return v

    def record_settings(self) -> dict[str, Any]:
        """The site's part of a record's settings (time zone, industry, ``records``)."""
        return {"timezone": self.timezone, "industry": self.industry, **(self.records or {})}

    @model_validator(mode="after")
    def _submittable_required(self) -> SiteConfig:
        """A required submission no agent of this industry can submit would keep every
        month open forever: refuse it at load, naming the ids that can be submitted."""
        from difflib import get_close_matches

        from protocols.submission import submittable

        known = submittable(self.industry.value)
        for pid in self.submission.required_submissions:
            if pid not in known:
                near = get_close_matches(pid, list(known), n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise ValueError(
                    f"submission.required_submissions: {pid!r} cannot be submitted at a site "
                    f"of industry {self.industry.value}; {hint}"
                    f"known: {', '.join(sorted(known))}"
                )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class CollectorConfig(_Strict):
    data_dir: Path = Path("collector-data")
    #: The evidence store's URL (``collector.store``): ``sqlite:///PATH`` (relative to this
    #: file; ``sqlite:////ABS`` absolute) or ``postgresql://…``; default
    #: ``DATA_DIR/evidence.sqlite``.
    database: str | None = None
    broker: BrokerConfig = BrokerConfig()
    limits: LimitsConfig = LimitsConfig()
    influx: InfluxConfig = InfluxConfig()
    http: HttpConfig = HttpConfig()
    #: Webhooks (WeCom / DingTalk robots, generic receivers) and thresholds: collector.alarms.
    alarms: AlarmsConfig = AlarmsConfig()
    #: The collector's own Ed25519 key (signs monthly records).
    signing_key: Path | None = None
    sites: dict[SiteId, SiteConfig] = Field(default_factory=dict)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def database_url(self) -> str:
        from collector.store import sqlite_url

        return self.database or sqlite_url(self.data_dir / "evidence.sqlite")

    @field_validator("database")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        from collector.store import StoreError, parse_url

        if v is not None:
            try:
                parse_url(v)
            except StoreError as exc:
                raise ValueError(str(exc)) from None
        return v

    def _resolve(self, base: Path) -> CollectorConfig:
        """Make relative paths relative to the config file, not the working directory."""

        def r(p: Path | None) -> Path | None:
            return None if p is None or p.is_absolute() else base / p

        data = self.model_copy(deep=True)
        data.data_dir = r(data.data_dir) or data.data_dir
        if data.database is not None and data.database.startswith("sqlite:///"):
            from collector.store import parse_url, sqlite_url

            path = parse_url(data.database).path
            assert path is not None
            data.database = sqlite_url(r(path) or path)
        data.signing_key = r(data.signing_key) or data.signing_key
        b = data.broker
        b.password_file = r(b.password_file) or b.password_file
        if b.tls is not None:
            b.tls.ca_file = r(b.tls.ca_file) or b.tls.ca_file
            b.tls.cert_file = r(b.tls.cert_file) or b.tls.cert_file
            b.tls.key_file = r(b.tls.key_file) or b.tls.key_file
        data.influx.token_file = r(data.influx.token_file) or data.influx.token_file
        if data.http.tls is not None:
            t = data.http.tls
            t.cert_file = r(t.cert_file) or t.cert_file
            t.key_file = r(t.key_file) or t.key_file
        for hook in data.alarms.webhooks:
            hook.secret_file = r(hook.secret_file) or hook.secret_file
        return data


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        lines.append(f"{where}: {err.get('msg')}")
    return "; ".join(lines)


def parse_config(data: object, *, base_dir: Path | None = None) -> CollectorConfig:
    if data is None:
        data = {}
    try:
        cfg = CollectorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid collector config: {_describe(exc)}") from None
    if cfg.broker.shared_group and cfg.broker.protocol != "5":
        raise ConfigError("broker.shared_group: shared subscriptions need protocol '5'")
    cfg = cfg._resolve(base_dir) if base_dir is not None else cfg
    for hook in cfg.alarms.webhooks:
        try:
            hook.secret()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return cfg


def load_config(path: Path | str) -> CollectorConfig:
    """Read and validate a collector YAML file; raise ``ConfigError`` naming the bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # one line: where, and what the parser expected (PyYAML's message spans several)
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}, {problem}" if context else problem
        raise ConfigError(f"{path}{where}: YAML syntax error: {detail}") from None
    if data is None:
        raise ConfigError(
            f"{path}: the config is empty; it needs at least data_dir, broker and sites "
            "(every field: config/collector/collector.yaml)"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings")
    return parse_config(data, base_dir=path.resolve().parent)
