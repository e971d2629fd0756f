"""The InfluxDB mirror against a real v2-write-API server (VictoriaMetrics), with an outage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from collector import Collector
from collector.influx_mirror import envelope_lines, family
from tests.collector.helpers import Publisher, Signer, config_for
from tests.support.servers import Mosquitto, VictoriaMetrics

SITE = "smelter-1"


def exported(vm: VictoriaMetrics) -> list[tuple[str, int, float]]:
    out = []
    for series in vm.export('{__name__="potline1_value"}'):
        metric = series["metric"]
        assert isinstance(metric, dict)
        assert metric["site"] == SITE and metric["quality"] == "good"
        for ts, value in zip(series["timestamps"], series["values"], strict=True):  # type: ignore[call-overload]
            out.append((metric["param"], ts, value))
    return out


async def test_mirror_receives_every_reading_and_survives_an_outage(
    tmp_path: Path, mosquitto: Mosquitto, victoria_metrics: VictoriaMetrics
) -> None:
    cfg = config_for(
        tmp_path,
        mosquitto.port,
        influx={
            "enabled": True,
            "url": victoria_metrics.url,
            "batch_size": 700,
            "retry_initial_s": 0.05,
            "retry_max_s": 0.5,
            "timeout_s": 5,
        },
    )
    signer = Signer(SITE, "agent-a")
    async with Collector(cfg) as c, Publisher(mosquitto.port, "agent-a") as pub:
        c.store.enroll_key(SITE, "agent-a", signer.jwk)
        await c.connected.wait()
        await pub.follow_acks(SITE, "agent-a")
        mirror = c.mirror
        assert mirror is not None

        def last_id() -> int:
            return max(e.id for e in c.store.envelopes(SITE, "agent-a"))

        for _ in range(20):
            await pub.publish(signer.topic, signer.next(100))
        await pub.wait_ack(SITE, "agent-a", 20)
        target = last_id()
        await mirror.wait_until(lambda m: m.cursor >= target)
        assert len(exported(victoria_metrics)) == 2000

        victoria_metrics.stop()
        failures_before = mirror.failures
        for _ in range(20):
            await pub.publish(signer.topic, signer.next(100))
        await pub.wait_ack(SITE, "agent-a", 40)  # ingest and acks continue during the outage
        await mirror.wait_until(lambda m: m.failures > failures_before)
        assert mirror.cursor < last_id()

        victoria_metrics.start()
        target = last_id()
        await mirror.wait_until(lambda m: m.cursor >= target, timeout=60)

    points = exported(victoria_metrics)
    assert len(points) == 4000  # every reading, none twice
    assert not [k for k, n in Counter((p, ts) for p, ts, _ in points).items() if n > 1]
    want = {(r["id"], r["ts"], r["value"]) for p in signer.payloads.values() for r in p["readings"]}
    assert set(points) == want


def test_line_protocol_escapes_and_skips_null_values() -> None:
    s = Signer(SITE, "agent-a")
    env = s.sign(
        s.payload(
            0,
            readings=[
                {
                    "id": "kiln.temp",
                    "ts": 5,
                    "value": 1.5,
                    "quality": "good",
                    "count": 60,
                    "min": 1.0,
                    "max": 2.0,
                },
                {"id": "kiln.temp", "ts": 6, "value": None, "quality": "bad", "reason": "comm"},
            ],
        )
    )
    from collector.models import StoredEnvelope

    stored = StoredEnvelope(SITE, "agent-a", 1, None, "h", s.kid, 0, 0, 2, 5, 6, env)
    assert envelope_lines(stored) == [
        "kiln,agent=agent-a,param=kiln.temp,quality=good,site=smelter-1 value=1.5,count=60i,min=1.0,max=2.0 5"
    ]
    assert family("potline1.current") == "potline1" and family("plain") == "plain"
