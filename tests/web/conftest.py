"""Fixtures for the web tests: a real evidence store holding a simulated month, the app over
it, tokens of every role, and a uvicorn server on a loopback port for the browser."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from collector.config import SiteConfig
from collector.store.sqlite import SqliteEvidenceStore
from collector.web import create_app
from tests.web.simdata import OTHER_SITE, SITE, Filled, fill_store

SITES = {
    SITE: SiteConfig(industry="aluminium", name="Smelter A 电解铝厂"),
    OTHER_SITE: SiteConfig(industry="cement", name="Cement B 水泥厂"),
}


@pytest.fixture(scope="session")
def month_template(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    """The simulated month is built once; each test gets its own copy of the file."""
    return fill_store(tmp_path_factory.mktemp("month") / "evidence.sqlite")


@dataclass
class Env:
    app: FastAPI
    store: SqliteEvidenceStore
    filled: Filled
    records_dir: Path
    tokens: dict[str, str]  # role name -> token


@pytest.fixture
def env(tmp_path: Path, month_template: Filled) -> Iterator[Env]:
    db = tmp_path / "evidence.sqlite"
    shutil.copyfile(month_template.path, db)
    store = SqliteEvidenceStore(db)
    records_dir = tmp_path / "records"
    app = create_app(store, sites=SITES, records_dir=records_dir)
    ts = app.state.tokens
    tokens = {
        "admin": ts.add("ops", "admin")[0],
        "verifier": ts.add("verifier A", "verifier", [SITE])[0],
        "viewer": ts.add("viewer A", "viewer", [SITE])[0],
        "other_verifier": ts.add("verifier B", "verifier", [OTHER_SITE])[0],
    }
    try:
        yield Env(app, store, month_template, records_dir, tokens)
    finally:
        store.close()


@pytest.fixture
async def client(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Served:
    url: str
    server: uvicorn.Server


@pytest.fixture
def served(env: Env) -> Iterator[Served]:
    """uvicorn on a free loopback port. The socket is bound and listening before the server
    thread starts, so the first request simply waits in the backlog: no readiness polling."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(env.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
