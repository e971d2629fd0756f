"""Faults suite: write the scenario table when ``MRV_FAULTS_RESULTS`` names a file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.faults import summary

_T0 = time.monotonic()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("MRV_FAULTS_RESULTS")
    if target and summary.OUTCOMES:
        summary.write(Path(target), time.monotonic() - _T0, session.testsfailed)
