"""The test servers themselves start, answer and restart on the same port."""

from __future__ import annotations

import subprocess

from tests.support.servers import Mosquitto, VictoriaMetrics


def test_mosquitto_round_trip_and_restart(mosquitto: Mosquitto) -> None:
    port = mosquitto.port
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "t/x", "-C", "1", "-W", "20"],
        stdout=subprocess.PIPE,
    )
    # retained message: the subscriber gets it whenever it connects
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "t/x", "-m", "hello", "-r"],
        check=True,
    )
    out, _ = sub.communicate(timeout=30)
    assert out.strip() == b"hello"
    mosquitto.stop()
    mosquitto.start()
    assert mosquitto.port == port


def test_victoria_metrics_accepts_influx_v2_write(victoria_metrics: VictoriaMetrics) -> None:
    import urllib.request

    req = urllib.request.Request(
        f"{victoria_metrics.url}/api/v2/write?org=o&bucket=b&precision=ms",
        data=b"probe,site=s1 value=42 1700000000000\n",
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
    series = victoria_metrics.export('{__name__=~"probe.*"}')
    assert series and series[0]["values"] == [42]
