"""``mrv-collector token add/list/revoke`` as a real subprocess on a real store file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from collector.store.sqlite import SqliteEvidenceStore
from collector.web import create_app

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "token", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


async def test_token_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "collector.yaml"
    config.write_text("data_dir: data\nsites:\n  smelter-a: {industry: aluminium}\n")
    db = data / "evidence.sqlite"
    SqliteEvidenceStore(db).close()

    r = cli(
        "add",
        "--role",
        "verifier",
        "--site",
        "smelter-a",
        "--name",
        "Verifier X",
        "-c",
        str(config),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("mrv_") and len(token) > 40
    assert "not shown again" in r.stderr

    r = cli(
        "add",
        "--role",
        "admin",
        "--name",
        "ops",
        "--json",
        "--database",
        f"sqlite:///{db}",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    admin = json.loads(r.stdout)
    assert admin["role"] == "admin" and admin["sites"] == ["*"]

    # The secret is stored hashed only.
    assert token.encode() not in db.read_bytes()

    r = cli("list", "-c", str(config), cwd=tmp_path)
    assert r.returncode == 0
    assert "Verifier X" in r.stdout and "verifier" in r.stdout and token not in r.stdout
    listed = json.loads(cli("list", "--json", "-c", str(config), cwd=tmp_path).stdout)["tokens"]
    assert [t["name"] for t in listed] == ["Verifier X", "ops"]

    # The token works against the API until it is revoked.
    store = SqliteEvidenceStore(db)
    app = create_app(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": f"Bearer {token}"}
        me = await client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200 and me.json()["sites"] == ["smelter-a"]
        r = cli("revoke", "Verifier X", "-c", str(config), cwd=tmp_path)
        assert r.returncode == 0 and "revoked" in r.stdout
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
    store.close()

    active = json.loads(cli("list", "--json", "--active", "-c", str(config), cwd=tmp_path).stdout)
    assert [t["name"] for t in active["tokens"]] == ["ops"]
    r = cli("revoke", str(admin["id"]), "--json", "-c", str(config), cwd=tmp_path)
    assert json.loads(r.stdout)["revoked_at"] is not None


def test_token_cli_errors(tmp_path: Path) -> None:
    db = tmp_path / "evidence.sqlite"
    r = cli(
        "add",
        "--role",
        "boss",
        "--name",
        "x",
        "--site",
        "a",
        "--database",
        f"sqlite:///{db}",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: role must be one of")
    r = cli("add", "--role", "viewer", "--name", "x", "--database", f"sqlite:///{db}", cwd=tmp_path)
    assert r.returncode == 2 and "--site" in r.stderr
    r = cli(
        "add",
        "--role",
        "viewer",
        "--name",
        "x",
        "--site",
        "bad site!",
        "--database",
        f"sqlite:///{db}",
        cwd=tmp_path,
    )
    assert r.returncode == 2 and "not valid" in r.stderr
    r = cli("revoke", "nobody", "--database", f"sqlite:///{db}", cwd=tmp_path)
    assert r.returncode == 1 and "no active token" in r.stderr
    r = cli("list", "--database", str(db), cwd=tmp_path)  # a path, not a URL
    assert r.returncode == 2 and "sqlite:///PATH" in r.stderr and len(r.stderr.splitlines()) == 1
    r = cli("list", cwd=tmp_path)  # no config anywhere
    assert r.returncode == 2 and "no collector config" in r.stderr
    for out in (r.stdout, r.stderr):
        assert "Traceback" not in out
