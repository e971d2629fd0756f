"""The demo's MQTT broker pieces: Mosquitto's config, the embedded amqtt broker, child hygiene.

``simulators.stack.BrokerProcess`` runs Mosquitto from the PATH if there is one, else the
embedded amqtt broker (``python -m simulators.demo_broker --port P``), either as a child
process bound to 127.0.0.1, so the demo needs no root and no system service. amqtt speaks
MQTT 3.1.1 only; agents and collector connect with 3.1.1 in the demo so both behave the same.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import getpass
import os
import shutil
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1
try:  # loaded before any fork: the child only makes one plain syscall through it
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None


def die_with_parent() -> None:
    """``preexec_fn`` for child processes: SIGTERM the child when its parent dies.

    A demo or test stack that is SIGKILLed cannot stop its children itself; without this the
    broker, collector, agents and simulators would live on as orphans holding their ports.
    The kernel clears this on a change of user, so the broker must not switch user (below).
    """
    if _libc is not None and sys.platform.startswith("linux"):
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def mosquitto_config(port: int) -> str:
    """A loopback-only, anonymous, non-persistent Mosquitto for the demo and test stacks.

    Started as root, Mosquitto would switch to its ``mosquitto`` user, which cancels the
    parent-death signal; ``user`` keeps it as whoever started the demo.
    """
    user = "root" if os.geteuid() == 0 else getpass.getuser()
    return (
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"user {user}\n"
        "log_dest stderr\nmax_queued_messages 100000\nmax_packet_size 25165824\n"
    )


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
