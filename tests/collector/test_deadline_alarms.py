"""A running collector raises deadline alarms for months not yet sealed or submitted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from collector.service import Collector
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto
from tests.support.webhook import WebhookReceiver

SITE = "smelter-1"


def _deadline_alarms(posts: list[Any]) -> dict[str, dict[str, Any]]:
    return {
        b["alarm"]["subject"]: b["alarm"]
        for _, _, b in posts
        if "alarm" in b and b["alarm"]["kind"] == "deadline_near"
    }


async def test_overdue_month_raises_internal_and_platform_deadline_alarms(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with WebhookReceiver() as rx:
        cfg = config_for(
            tmp_path,
            mosquitto.port,
            alarms={
                "webhooks": [{"url": rx.url("/generic"), "format": "generic"}],
                "check_interval_s": 0.2,
                "deadline_days": 5,
            },
        )
        a = Signer(SITE, "agent-a")
        async with Collector(cfg) as c, Publisher(mosquitto.port, "pub") as pub:
            c.store.enroll_key(SITE, "agent-a", a.jwk)
            await c.connected.wait()
            await pub.follow_acks(SITE, "agent-a")
            # one batch in January 2026 (T0): that month's deadlines have long passed
            await pub.publish(a.topic, a.next(3))
            await pub.wait_ack(SITE, "agent-a", 1)
            posts = await asyncio.to_thread(
                rx.wait_for,
                lambda ps: {"2026-01 internal", "2026-01 platform"} <= set(_deadline_alarms(ps)),
            )
    got = _deadline_alarms(posts)
    internal, platform = got["2026-01 internal"], got["2026-01 platform"]
    assert (
        internal["detail"]["state"] == "open" and internal["detail"]["deadline_kind"] == "internal"
    )
    # 2026-01-31 + 20 days = 2026-02-20, to 24:00 Shanghai time (16:00 UTC)
    assert internal["detail"]["deadline"] == 1_771_603_200_000
    assert platform["detail"]["deadline"] == 1_773_331_200_000  # 2026-03-12 24:00 +08:00
    assert "平台截止" in platform["zh"] and "[platform deadline]" in platform["en"]
