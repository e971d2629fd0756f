"""Alarms: what an operator must hear about at once, sent to chat-robot or generic webhooks.

Kinds (``KINDS``): an agent went offline, a device behind an agent is down, a parameter had
no good reading for longer than ``gap_after_s``, a message was quarantined, an agent's chain
broke (a ``chain`` or ``equivocation`` rejection), and a month's submission deadline is near
(raised by the submission code through ``AlarmNotifier.notify(deadline_near(...))``).

Delivery never blocks ingest: ``notify`` only de-duplicates and puts the alarm on a bounded
queue; one daemon thread posts it to every configured webhook (stdlib ``urllib``; WeCom and
DingTalk answer HTTP 200 with ``errcode`` in the body, which is checked). A full queue drops
the alarm with a log line and a counter (``mrv_collector_alarms_dropped_total``), it never
waits. The same alarm (kind, site, agent, subject) is sent at most once per
``repeat_after_s``.

Message bodies (``body_for``):
- ``wecom``: 企业微信群机器人 ``{"msgtype": "text", "text": {"content"}}`` or
  ``{"msgtype": "markdown", "markdown": {"content"}}``;
- ``dingtalk``: 钉钉自定义机器人 ``{"msgtype": "text", "text": {"content"}}`` or
  ``{"msgtype": "markdown", "markdown": {"title", "text"}}``; with ``secret_file`` the URL
  gets DingTalk's ``timestamp`` and ``sign`` (HMAC-SHA256, "加签");
- ``generic``: the same ``msgtype``/``text`` members plus ``"alarm"``: the structured alarm
  (``kind``, ``severity``, ``site``, ``agent``, ``subject``, ``at``, ``zh``, ``en``,
  ``detail``), for receivers that route on fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger("collector.alarms")

AlarmKind = Literal[
    "agent_offline", "device_down", "gap", "quarantine", "chain_break", "deadline_near"
]
KINDS: tuple[str, ...] = (
    "agent_offline",
    "device_down",
    "gap",
    "quarantine",
    "chain_break",
    "deadline_near",
)

#: Bilingual names of the kinds, for message titles and the UI.
KIND_TITLES: dict[str, tuple[str, str]] = {
    "agent_offline": ("采集端离线", "Agent offline"),
    "device_down": ("设备通讯中断", "Device down"),
    "gap": ("数据缺失", "Data gap"),
    "quarantine": ("消息被隔离", "Message quarantined"),
    "chain_break": ("哈希链断裂", "Chain break"),
    "deadline_near": ("月报截止临近", "Month deadline near"),
}

#: WeCom allows 2048 bytes of text and 4096 of markdown; DingTalk is similar. Cut before that.
MAX_CONTENT_BYTES = 1800


class WebhookConfig(BaseModel):
    """One receiver. ``kinds`` limits it to some alarm kinds (default: all)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    format: Literal["generic", "wecom", "dingtalk"] = "generic"
    msgtype: Literal["text", "markdown"] = "markdown"
    kinds: list[AlarmKind] | None = None
    #: DingTalk "加签" secret (file holding the SEC... string); the URL is then signed.
    secret_file: Path | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        u = urllib.parse.urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {v!r}")
        return v

    def secret(self) -> str | None:
        if self.secret_file is None:
            return None
        try:
            return self.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"alarms.webhooks.secret_file: cannot read {self.secret_file}: {exc.strerror}"
            ) from None


class AlarmsConfig(BaseModel):
    """``alarms:`` in the collector config."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[WebhookConfig] = Field(default_factory=list)
    #: An agent whose last message is older than this (wall clock) is offline.
    offline_after_s: float = Field(default=300.0, gt=0)
    #: A parameter without a good reading for longer than this (plant time) is a gap.
    gap_after_s: float = Field(default=1800.0, gt=0)
    #: ``deadline_near`` is raised this many days before a month's deadline.
    deadline_days: float = Field(default=5.0, ge=0)
    #: The same alarm (kind, site, agent, subject) is sent at most once in this window.
    repeat_after_s: float = Field(default=3600.0, ge=0)
    #: How often the collector looks for offline agents.
    check_interval_s: float = Field(default=30.0, gt=0)
    queue_max: int = Field(default=1000, ge=1)

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks)


@dataclass(frozen=True)
class Alarm:
    kind: str
    site: str | None
    agent: str | None
    zh: str
    en: str
    subject: str = ""
    severity: Literal["warning", "critical"] = "warning"
    at: int = field(default_factory=lambda: int(time.time() * 1000))
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None, str | None, str]:
        return (self.kind, self.site, self.agent, self.subject)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "site": self.site,
            "agent": self.agent,
            "subject": self.subject,
            "at": self.at,
            "zh": self.zh,
            "en": self.en,
            "detail": self.detail,
        }


# -- the alarm kinds -------------------------------------------------------------------------


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def agent_offline(site: str, agent: str, last_seen: int | None, *, will: bool = False) -> Alarm:
    how = "connection lost, MQTT will" if will else "no message"
    return Alarm(
        "agent_offline",
        site,
        agent,
        zh=f"采集端 {site}/{agent} 离线，最后消息 {_when(last_seen)}",
        en=f"agent {site}/{agent} is offline ({how}); last message {_when(last_seen)}",
        severity="critical",
        detail={"last_seen": last_seen, "will": will},
    )


def device_down(site: str, agent: str, device: str, cause: str | None) -> Alarm:
    why = f": {cause}" if cause else ""
    return Alarm(
        "device_down",
        site,
        agent,
        zh=f"{site}/{agent} 的设备 {device} 无法读取{why}",
        en=f"device {device} behind agent {site}/{agent} cannot be read{why}",
        subject=device,
        severity="critical",
        detail={"device": device, "cause": cause},
    )


def gap(site: str, agent: str, param: str, start_ms: int, end_ms: int) -> Alarm:
    minutes = (end_ms - start_ms) / 60000
    return Alarm(
        "gap",
        site,
        agent,
        zh=f"{site}/{agent} 参数 {param} 无有效数据 {minutes:.0f} 分钟（{_when(start_ms)} 起）",
        en=f"{site}/{agent} parameter {param} had no good reading for {minutes:.0f} min "
        f"(from {_when(start_ms)} to {_when(end_ms)})",
        subject=param,
        detail={"param": param, "start": start_ms, "end": end_ms, "minutes": round(minutes, 1)},
    )


def quarantine(
    site: str | None, agent: str | None, reason: str, message: str, seq: int | None
) -> Alarm:
    who = f"{site}/{agent}" if site else "an unknown sender"
    return Alarm(
        "quarantine",
        site,
        agent,
        zh=f"来自 {who} 的消息被隔离（{reason}）：{message[:200]}",
        en=f"a message from {who} was quarantined ({reason}): {message[:200]}",
        subject=reason,
        detail={"reason": reason, "message": message[:500], "seq": seq},
    )


def chain_break(site: str, agent: str, reason: str, message: str, seq: int | None) -> Alarm:
    what = "两个不同批次使用同一序号" if reason == "equivocation" else "批次与已存链不衔接"
    return Alarm(
        "chain_break",
        site,
        agent,
        zh=f"{site}/{agent} 哈希链异常（序号 {seq}）：{what}",
        en=f"{site}/{agent} chain break at seq {seq} ({reason}): {message[:200]}",
        subject=f"{reason}:{seq}",
        severity="critical",
        detail={"reason": reason, "seq": seq, "message": message[:500]},
    )


def deadline_near(site: str, month: str, deadline_ms: int, *, state: str | None = None) -> Alarm:
    """For the submission code: ``month``'s record for ``site`` is due at ``deadline_ms``."""
    days = max(0.0, (deadline_ms - int(time.time() * 1000)) / 86_400_000)
    st = f"; state {state}" if state else ""
    return Alarm(
        "deadline_near",
        site,
        None,
        zh=f"{site} {month} 月度存证将于 {_when(deadline_ms)} 截止（剩余 {days:.1f} 天）",
        en=f"{site} {month} monthly record is due {_when(deadline_ms)} ({days:.1f} days left{st})",
        subject=month,
        detail={
            "month": month,
            "deadline": deadline_ms,
            "days_left": round(days, 2),
            "state": state,
        },
    )


# -- message bodies ----------------------------------------------------------------------------


def _cut(text: str) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= MAX_CONTENT_BYTES:
        return text
    return raw[:MAX_CONTENT_BYTES].decode("utf-8", "ignore") + " …"


def _title(alarm: Alarm) -> str:
    zh, en = KIND_TITLES.get(alarm.kind, (alarm.kind, alarm.kind))
    return f"Plant MRV {zh} / {en}"


def _text(alarm: Alarm) -> str:
    return _cut(f"[{_title(alarm)}]\n{alarm.zh}\n{alarm.en}\n{_when(alarm.at)}")


def _markdown(alarm: Alarm) -> str:
    mark = "🔴" if alarm.severity == "critical" else "🟠"
    return _cut(
        f"### {mark} {_title(alarm)}\n"
        f"> {alarm.zh}\n\n"
        f"> {alarm.en}\n\n"
        f"site: {alarm.site or '-'}  agent: {alarm.agent or '-'}  at: {_when(alarm.at)}"
    )


def body_for(alarm: Alarm, fmt: str, msgtype: str) -> dict[str, Any]:
    """The JSON a receiver of format ``fmt`` expects (see the module docstring)."""
    if msgtype == "markdown":
        if fmt == "dingtalk":
            body: dict[str, Any] = {
                "msgtype": "markdown",
                "markdown": {"title": _title(alarm), "text": _markdown(alarm)},
            }
        else:
            body = {"msgtype": "markdown", "markdown": {"content": _markdown(alarm)}}
    else:
        body = {"msgtype": "text", "text": {"content": _text(alarm)}}
    if fmt == "generic":
        body["alarm"] = alarm.as_dict()
    return body


def _signed_url(url: str, secret: str, now_ms: int) -> str:
    """DingTalk 加签: sign = urlencode(base64(HMAC-SHA256(secret, f"{ts}\\n{secret}")))."""
    digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={now_ms}&sign={sign}"


def post(hook: WebhookConfig, alarm: Alarm) -> str | None:
    """Send one alarm to one webhook, synchronously; ``None`` on success, else the error."""
    body = json.dumps(body_for(alarm, hook.format, hook.msgtype), ensure_ascii=False).encode()
    try:
        secret = hook.secret()
    except ValueError as exc:
        return str(exc)
    last = "not sent"
    for attempt in range(hook.retries + 1):
        url = _signed_url(hook.url, secret, int(time.time() * 1000)) if secret else hook.url
        req = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(req, timeout=hook.timeout_s) as resp:
                answer = resp.read(65536)
            err = _robot_error(answer)
            if err is None:
                return None
            return err  # the robot understood and refused: retrying will not help
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} from {_where(hook.url)}"
            if exc.code < 500 and exc.code != 429:
                return last
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            last = f"cannot reach {_where(hook.url)}: {getattr(exc, 'reason', exc)}"
        if attempt < hook.retries:
            time.sleep(min(4.0, 0.5 * 2**attempt))
    return last


def _where(url: str) -> str:
    """The URL without its query (WeCom/DingTalk keys live there: never log them)."""
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.netloc}{u.path}"


def _robot_error(answer: bytes) -> str | None:
    try:
        data = json.loads(answer)
    except ValueError:
        return None  # a generic receiver may answer anything with 2xx
    if isinstance(data, dict) and data.get("errcode") not in (None, 0):
        return f"robot refused: errcode {data.get('errcode')} {data.get('errmsg', '')}".strip()
    return None


# -- the notifier --------------------------------------------------------------------------------


class AlarmNotifier:
    """De-duplicate alarms and post them from one background thread; ``notify`` never waits."""

    def __init__(self, config: AlarmsConfig) -> None:
        self.config = config
        self._queue: queue.Queue[Alarm | None] = queue.Queue(config.queue_max)
        self._last_sent: dict[tuple[str, str | None, str | None, str], float] = {}
        self._lock = threading.Lock()
        self.raised: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.suppressed: Counter[str] = Counter()
        self.dropped = 0
        self.recent: deque[Alarm] = deque(maxlen=200)
        self._thread: threading.Thread | None = None
        if config.enabled:
            self._thread = threading.Thread(target=self._run, name="mrv-alarms", daemon=True)
            self._thread.start()

    def notify(self, alarm: Alarm) -> bool:
        """Queue ``alarm`` unless the same one went out within ``repeat_after_s``."""
        now = time.monotonic()
        with self._lock:
            last = self._last_sent.get(alarm.key)
            if last is not None and now - last < self.config.repeat_after_s:
                self.suppressed[alarm.kind] += 1
                return False
            self._last_sent[alarm.key] = now
            self.raised[alarm.kind] += 1
            self.recent.append(alarm)
        log.warning(
            "ALARM: %s",
            alarm.en,
            extra={"fields": {"alarm": alarm.kind, "site": alarm.site, "agent": alarm.agent}},
        )
        if self._thread is None:
            return True
        try:
            self._queue.put_nowait(alarm)
        except queue.Full:
            self.dropped += 1
            log.error(
                "alarm queue full; alarm not sent",
                extra={"fields": {"alarm": alarm.kind, "queue_max": self.config.queue_max}},
            )
        return True

    def forget(self, kind: str, site: str | None, agent: str | None, subject: str = "") -> None:
        """The condition cleared: the next alarm of this key goes out at once."""
        with self._lock:
            self._last_sent.pop((kind, site, agent, subject), None)

    def hooks_for(self, kind: str) -> Iterable[WebhookConfig]:
        return (h for h in self.config.webhooks if h.kinds is None or kind in h.kinds)

    def _run(self) -> None:
        while True:
            alarm = self._queue.get()
            if alarm is None:
                return
            for hook in self.hooks_for(alarm.kind):
                try:
                    err = post(hook, alarm)
                except Exception as exc:  # a webhook must never kill the thread
                    err = f"{type(exc).__name__}: {exc}"
                if err is None:
                    self.sent[alarm.kind] += 1
                else:
                    self.failed[alarm.kind] += 1
                    log.error(
                        "alarm webhook failed",
                        extra={
                            "fields": {
                                "alarm": alarm.kind,
                                "webhook": _where(hook.url),
                                "error": err,
                            }
                        },
                    )

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


class GapWatch:
    """Per (site, agent, parameter): the last good reading's time; a good reading after more
    than ``gap_after_s`` without one is a gap. Plant time, so it works at any clock speed."""

    def __init__(self, gap_after_s: float) -> None:
        self.limit_ms = int(gap_after_s * 1000)
        self._last: dict[tuple[str, str, str], int] = {}

    def observe(self, site: str, agent: str, readings: Iterable[Any]) -> list[Alarm]:
        out: list[Alarm] = []
        last = self._last
        for r in readings:
            if r.quality != "good" or r.value is None:
                continue
            key = (site, agent, r.id)
            before = last.get(key)
            if before is not None and r.ts - before > self.limit_ms:
                out.append(gap(site, agent, r.id, before, r.ts))
            if before is None or r.ts > before:
                last[key] = r.ts
        return out
