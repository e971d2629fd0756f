"""The demo's MQTT broker: Mosquitto from the PATH if there is one, else embedded amqtt.

Either runs as a child process bound to 127.0.0.1 on a free port, so the demo needs no root
and no system service. amqtt speaks MQTT 3.1.1 only; agents and collector connect with 3.1.1
in the demo so both brokers behave the same. ``python -m simulators.demo_broker --port P``
runs the embedded broker on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"broker not listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class DemoBroker:
    """A broker child process; ``kind`` is ``mosquitto`` or ``amqtt``."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def start_broker(workdir: Path, *, prefer: str = "auto", port: int | None = None) -> DemoBroker:
    """Start Mosquitto (if installed and ``prefer`` allows) or the embedded amqtt broker."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = open(workdir / "broker.log", "ab")  # noqa: SIM115 - handed to the child process
    binary = mosquitto_binary() if prefer in ("auto", "mosquitto") else None
    if binary:
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nmax_queued_messages 100000\nmax_packet_size 16777216\n"
        )
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        kind = "mosquitto"
    else:
        if prefer == "mosquitto":
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.demo_broker", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        kind = "amqtt"
    try:
        wait_for_port(port, proc)
    except Exception:
        proc.kill()
        raise
    return DemoBroker(kind, port, proc)


async def run_embedded(port: int) -> None:
    """Run amqtt on 127.0.0.1:port until SIGTERM/SIGINT."""
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description="Embedded MQTT 3.1.1 broker (amqtt) on loopback")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(run_embedded(args.port))


if __name__ == "__main__":
    main()
