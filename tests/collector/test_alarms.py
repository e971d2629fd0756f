"""Alarms reach webhooks (generic, WeCom, DingTalk with 加签) for every kind, raised by a
real collector over a real Mosquitto; ``/metrics`` of the same collector is scraped."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import Collector
from collector.alarms import KINDS, AlarmsConfig, body_for, deadline_near, post, quarantine
from collector.config import ConfigError, parse_config
from tests.collector.helpers import T0, Publisher, Signer, config_for
from tests.support.servers import Mosquitto, free_port
from tests.support.webhook import WebhookReceiver

SITE = "smelter-1"


def kinds_at(posts: list[Any], path: str) -> set[str]:
    return {b["alarm"]["kind"] for p, _, b in posts if p == path and "alarm" in b}


def contents_at(posts: list[Any], path: str) -> list[str]:
    out = []
    for p, _, b in posts:
        if p == path:
            part = b[b["msgtype"]]
            out.append(part.get("content") or part.get("text"))
    return out


async def test_every_alarm_kind_reaches_every_receiver(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    secret = "SECtest-secret"
    (tmp_path / "ding.secret").write_text(secret + "\n")
    dead_port = free_port()  # nothing listens: delivery fails, ingest must not care
    with WebhookReceiver() as rx:
        cfg = config_for(
            tmp_path,
            mosquitto.port,
            http={"enabled": True, "host": "127.0.0.1", "port": 0},
            alarms={
                "webhooks": [
                    {"url": rx.url("/generic"), "format": "generic"},
                    {"url": rx.url("/wecom", "key=abc"), "format": "wecom", "msgtype": "text"},
                    {
                        "url": rx.url("/ding", "access_token=t"),
                        "format": "dingtalk",
                        "secret_file": str(tmp_path / "ding.secret"),
                    },
                    {"url": rx.url("/refuse"), "format": "wecom", "kinds": ["quarantine"]},
                    {"url": f"http://127.0.0.1:{dead_port}/x", "retries": 0, "timeout_s": 1},
                ],
                "gap_after_s": 600,
                "offline_after_s": 0.5,
                "check_interval_s": 0.2,
                "repeat_after_s": 3600,
            },
        )
        a, b = Signer(SITE, "agent-a"), Signer(SITE, "agent-b")
        async with Collector(cfg) as c, Publisher(mosquitto.port, "pub") as pub:
            c.store.enroll_key(SITE, "agent-a", a.jwk)
            c.store.enroll_key(SITE, "agent-b", b.jwk)
            await c.connected.wait()
            await pub.follow_acks(SITE, "agent-a")
            # gap: p0 good at T0, then again 2 h later (plant time) -> one gap alarm
            readings = [
                {"id": "line_current_ka", "ts": T0, "value": 400.0, "quality": "good"},
                {
                    "id": "line_current_ka",
                    "ts": T0 + 60_000,
                    "value": None,
                    "quality": "bad",
                    "reason": "timeout",
                },
                {"id": "line_current_ka", "ts": T0 + 7_200_000, "value": 401.0, "quality": "good"},
            ]
            await pub.publish(a.topic, a.next(readings=readings))
            # chain break: seq 2 whose prev does not link
            await pub.publish(a.topic, a.sign(a.payload(prev="0" * 64)))
            # quarantine: garbage on a data topic
            await pub.publish(a.topic, b"not a jws")
            # device down, reported in a status message; then agent-a's death message
            await pub.publish(
                f"mrv/v1/{SITE}/agent-a/status",
                b'{"online": true, "devices": [{"name": "rectifier", "connected": false,'
                b' "last_error": "timeout: no answer within 1.0 s"}]}',
            )
            await pub.publish(f"mrv/v1/{SITE}/agent-a/status", b'{"online": false}')
            # agent-b sends one batch and then stays silent past offline_after_s
            await pub.publish(b.topic, b.next(3))
            c.alarms.notify(
                deadline_near(SITE, "2026-01", int(time.time() * 1000) + 3 * 86_400_000)
            )
            await pub.wait_ack(SITE, "agent-a", 1)

            posts = await asyncio.to_thread(
                rx.wait_for, lambda ps: kinds_at(ps, "/generic") >= set(KINDS)
            )
            g = {b["alarm"]["kind"]: b["alarm"] for p, _, b in posts if p == "/generic"}
            assert g["gap"]["detail"]["param"] == "line_current_ka"
            assert g["gap"]["detail"]["minutes"] == 120.0
            assert g["chain_break"]["detail"]["seq"] == 2
            assert g["quarantine"]["detail"]["reason"] == "malformed"
            assert g["device_down"]["detail"] == {
                "device": "rectifier",
                "cause": "timeout: no answer within 1.0 s",
            }
            offline = {
                b["alarm"]["agent"]: b["alarm"]["detail"]["will"]
                for p, _, b in posts
                if p == "/generic" and b["alarm"]["kind"] == "agent_offline"
            }
            assert offline.get("agent-a") is True
            await asyncio.to_thread(
                rx.wait_for,
                lambda ps: any(
                    b["alarm"]["kind"] == "agent_offline" and b["alarm"]["agent"] == "agent-b"
                    for p, _, b in ps
                    if p == "/generic"
                ),
            )
            # WeCom and DingTalk got every kind too, in their own shapes
            posts = await asyncio.to_thread(
                rx.wait_for,
                lambda ps: (
                    len(contents_at(ps, "/wecom")) >= len(KINDS) + 1
                    and len(contents_at(ps, "/ding")) >= len(KINDS) + 1
                ),
            )
            for path, _, body in posts:
                if path == "/wecom":
                    assert body["msgtype"] == "text" and set(body) == {"msgtype", "text"}
                if path == "/ding":
                    assert body["msgtype"] == "markdown"
                    assert set(body["markdown"]) == {"title", "text"}
            assert any("哈希链断裂" in t for t in contents_at(posts, "/wecom"))
            for path, query, _ in posts:
                if path == "/ding":
                    ts = query["timestamp"][0]
                    want = base64.b64encode(
                        hmac.new(
                            secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256
                        ).digest()
                    ).decode()
                    assert query["sign"][0] == want  # parse_qs undid the URL encoding
                    assert query["access_token"] == ["t"]

            # ingest went on although one receiver refuses and one is unreachable
            await pub.publish(a.topic, a.next(3))
            await pub.wait_ack(SITE, "agent-a", 2)
            await c.wait_until(lambda: c.alarms.failed["quarantine"] >= 2)

            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{c.http_port}") as http:
                r = await http.get("/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            lines = dict(
                line.rsplit(" ", 1) for line in r.text.splitlines() if not line.startswith("#")
            )
            assert lines["mrv_collector_batches_accepted_total"] == "3"
            assert lines['mrv_collector_quarantined_total{reason="chain"}'] == "1"
            assert lines['mrv_collector_quarantined_total{reason="malformed"}'] == "1"
            assert (
                lines[f'mrv_collector_agent_contiguous_seq{{site="{SITE}",agent="agent-a"}}'] == "2"
            )
            assert lines['mrv_collector_alarms_raised_total{kind="gap"}'] == "1"
            assert int(lines['mrv_collector_alarms_failed_total{kind="quarantine"}']) >= 2
            assert lines["mrv_collector_broker_connected"] == "1"


def test_bodies_fit_the_robots() -> None:
    a = quarantine(SITE, "agent-a", "malformed", "x" * 5000, None)
    wecom = body_for(a, "wecom", "markdown")
    assert set(wecom) == {"msgtype", "markdown"} and set(wecom["markdown"]) == {"content"}
    assert len(wecom["markdown"]["content"].encode()) <= 4096
    ding = body_for(a, "dingtalk", "text")
    assert ding == {"msgtype": "text", "text": {"content": ding["text"]["content"]}}
    assert "Plant MRV" in ding["text"]["content"]  # a DingTalk keyword filter can match it
    generic = body_for(a, "generic", "text")
    assert generic["alarm"]["kind"] == "quarantine" and generic["alarm"]["site"] == SITE


def test_unreachable_webhook_reports_without_raising() -> None:
    hook = AlarmsConfig.model_validate(
        {"webhooks": [{"url": f"http://127.0.0.1:{free_port()}/x?key=SECRET", "retries": 0}]}
    ).webhooks[0]
    err = post(hook, quarantine(SITE, "a", "malformed", "m", None))
    assert err is not None and "cannot reach http://127.0.0.1" in err and "SECRET" not in err


@pytest.mark.parametrize(
    ("alarms", "field"),
    [
        ({"webhooks": [{"url": "ftp://x"}]}, "alarms.webhooks.0.url"),
        ({"webhooks": [{"url": "http://x", "format": "slack"}]}, "alarms.webhooks.0.format"),
        ({"webhooks": [{"url": "http://x", "kinds": ["bogus"]}]}, "alarms.webhooks.0.kinds.0"),
        ({"gap_after_s": 0}, "alarms.gap_after_s"),
        ({"hooks": []}, "alarms.hooks"),
    ],
)
def test_bad_alarm_config_names_the_field(alarms: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config({"alarms": alarms})


def test_gap_watch_reads_v1_readings_and_v2_series_alike() -> None:
    from collector.alarms import GapWatch
    from protocols.compact import SeriesReading
    from protocols.payload import Reading

    v1 = [Reading(id="p", ts=T0, value=1.0, quality="good")]
    v2 = [
        SeriesReading("p", T0 + 60_000, None, "bad", "timeout"),
        SeriesReading("p", T0 + 3_600_000, 2.0, "good"),
    ]
    watch = GapWatch(gap_after_s=600)
    assert watch.observe(SITE, "a", v1) == []
    (alarm,) = watch.observe(SITE, "a", v2)
    assert alarm.kind == "gap" and alarm.detail["minutes"] == 60.0
