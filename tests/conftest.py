"""Shared fixtures: real Mosquitto and VictoriaMetrics on loopback, started per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import Mosquitto, VictoriaMetrics


def _require(binary: str) -> None:
    if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
        pytest.fail(f"{binary} is not installed; run .ci/run (it installs the test servers)")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    _require("mosquitto")
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    _require("victoria-metrics")
    vm = VictoriaMetrics(tmp_path / "vm")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Debian PostgreSQL server for the session (127.0.0.1, a temp data dir)."""
    from simulators.postgres_server import PostgresServer, postgres_available

    if not postgres_available():
        pytest.fail("postgresql is not installed; run .ci/run (it installs the test servers)")
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
