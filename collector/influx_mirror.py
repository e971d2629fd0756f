"""Mirror stored readings to InfluxDB (or any server speaking its v2 write API).

The collector's only contact with ``influxdb-client``. The mirror follows the evidence store
in storage order with a durable cursor (the last mirrored envelope id, kept in the store), so
it lags safely while the server is down or slow and catches up afterwards without loss.
Points are idempotent (the same series and timestamp overwrite), so re-sending the chunk in
flight when the collector died creates no duplicates in InfluxDB.

Point layout: measurement = parameter family (the id up to its first "."), tags ``site``,
``agent``, ``param``, ``quality``; fields ``value`` and, for interval aggregates, ``count``,
``min``, ``max``; timestamp in ms. Readings without a value are not mirrored (InfluxDB has no
null field); the evidence store keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Iterable

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from collector.config import InfluxConfig
from collector.models import StoredEnvelope
from collector.store import EvidenceStore
from protocols.compact import batch_readings
from protocols.envelope import parse_envelope

log = logging.getLogger("collector.influx")

CURSOR = "influx"


def family(param: str) -> str:
    """Measurement name of a parameter: ``potline1.current`` → ``potline1``."""
    return param.split(".", 1)[0]


def _esc_measurement(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _esc_tag(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _num(v: float | int) -> str:
    return repr(float(v))


def envelope_lines(env: StoredEnvelope) -> list[str]:
    """InfluxDB line protocol for every valued reading of a stored envelope."""
    payload = json.loads(parse_envelope(env.envelope, max_bytes=len(env.envelope)).payload)
    site, agent = _esc_tag(env.site), _esc_tag(env.agent)
    lines = []
    for r in batch_readings(payload):
        value = r.get("value")
        if value is None:
            continue
        fields = [f"value={_num(value)}"]
        if r.get("count") is not None:
            fields.append(f"count={int(r['count'])}i")
        if r.get("min") is not None:
            fields.append(f"min={_num(r['min'])}")
        if r.get("max") is not None:
            fields.append(f"max={_num(r['max'])}")
        lines.append(
            f"{_esc_measurement(family(r['id']))},agent={agent},param={_esc_tag(r['id'])},"
            f"quality={r['quality']},site={site} {','.join(fields)} {int(r['ts'])}"
        )
    return lines


class InfluxMirror:
    """Background task copying readings to InfluxDB; never blocks or slows ingest."""

    def __init__(self, config: InfluxConfig, store: EvidenceStore) -> None:
        self.config = config
        self.store = store
        self.wake = asyncio.Event()
        self.mirrored_points = 0
        self.failures = 0
        self.cursor = 0
        self._progress = asyncio.Condition()
        self._client = InfluxDBClient(
            url=config.url,
            token=config.token(),
            org=config.org,
            timeout=int(config.timeout_s * 1000),
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    async def wait_until(
        self, predicate: Callable[[InfluxMirror], bool], timeout: float = 30
    ) -> None:
        """Wait until ``predicate(mirror)`` holds, re-checked after every write attempt."""

        async def _wait() -> None:
            async with self._progress:
                await self._progress.wait_for(lambda: predicate(self))

        await asyncio.wait_for(_wait(), timeout)

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    def close(self) -> None:
        self._write_api.close()
        self._client.close()

    def _write(self, lines: Iterable[str]) -> None:
        self._write_api.write(
            bucket=self.config.bucket,
            org=self.config.org,
            record=list(lines),
            write_precision=WritePrecision.MS,  # type: ignore[arg-type]  # the library's str constant
        )

    def _next_chunk(self, cursor: int) -> tuple[int, list[str]]:
        """Envelopes after the cursor, up to about ``batch_size`` points."""
        lines: list[str] = []
        last = cursor
        while len(lines) < self.config.batch_size:
            envs = self.store.envelopes_after(last, 64)
            if not envs:
                break
            for env in envs:
                lines.extend(envelope_lines(env))
                last = env.id
                if len(lines) >= self.config.batch_size:
                    break
        return last, lines

    async def run(self) -> None:
        cursor = self.cursor = await asyncio.to_thread(self.store.mirror_cursor, CURSOR)
        await self._notify()
        delay = self.config.retry_initial_s
        leading = True
        while True:
            self.wake.clear()
            # Several collectors on one store: exactly one mirrors; the others wait and take
            # over (from the stored cursor) when it dies.
            if not await asyncio.to_thread(self.store.try_lead, "influx-mirror"):
                leading = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=5)
                continue
            if not leading:
                leading = True
                cursor = self.cursor = await asyncio.to_thread(self.store.mirror_cursor, CURSOR)
            last, lines = await asyncio.to_thread(self._next_chunk, cursor)
            if last == cursor:
                # Woken after each ingest commit; the timeout covers writes by other processes.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=5)
                continue
            try:
                if lines:
                    await asyncio.to_thread(self._write, lines)
            except Exception as exc:  # any transport or server error: retry later
                self.failures += 1
                await self._notify()
                log.warning(
                    "influx mirror write failed; will retry",
                    extra={"fields": {"error": str(exc)[:300], "retry_in_s": round(delay, 2)}},
                )
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.config.retry_max_s)
                continue
            delay = self.config.retry_initial_s
            await asyncio.to_thread(self.store.set_mirror_cursor, CURSOR, last)
            cursor = self.cursor = last
            self.mirrored_points += len(lines)
            await self._notify()
