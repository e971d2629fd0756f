"""The web UI over the demo's own data, read in Debian's chromium: the numbers on the site,
parameter and record pages are those of record.json (AE count from the pot-controller
counters, counters in record units with rollover markers, the verifier's view)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from collector.config import load_config
from collector.store import store_for
from collector.web import create_app
from tests.demo.conftest import MONTH

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SITE = "smelter_1"


def number(text: str) -> float:
    return float(re.sub(r"[^0-9.eE+-]", "", text))


def close(shown: str, value: float) -> bool:
    """The page shows 6 significant digits of the record's value."""
    return abs(number(shown) - value) <= max(1e-9, abs(value) * 5e-6)


@pytest.fixture
def ui(demo_run: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cfg = load_config(demo_run["data"] / "collector" / "collector.yaml")
    store = store_for(cfg)
    app = create_app(store, sites=cfg.sites, records_dir=cfg.data_dir / "records")
    token, _ = app.state.tokens.add("screens test", "verifier", [SITE])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    (bundle,) = [Path(b) for b in demo_run["out"]["bundles"] if Path(b).name.startswith(SITE)]
    try:
        yield {
            "url": f"http://127.0.0.1:{sock.getsockname()[1]}",
            "token": token,
            "app": app,
            "bundle": bundle,
            "record": json.loads((bundle / "record.json").read_text(encoding="utf-8")),
        }
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        store.close()


def test_pages_show_the_record(ui: dict[str, Any], tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed; run .ci/run (it installs chromium)")
    from playwright.sync_api import sync_playwright

    rec = ui["record"]
    params = {p["id"]: p for p in rec["parameters"]}
    ae = params["ae_count"]["value"]
    assert ae and ae > 0 and rec["derived"]["aem"]["events"]["count"] == 0  # counters only
    base = ui["url"]
    shots = Path(os.environ.get("MRV_SCREENSHOTS", tmp_path))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/login")
        page.fill("#token", ui["token"])
        page.click("#login-form button[type=submit]")

        # The site page opens on the month with the record (not the current month).
        page.goto(f"{base}/sites/{SITE}")
        page.wait_for_selector("#record-summary")
        assert page.locator(".month-nav strong").inner_text() == MONTH
        assert number(page.locator("#tile-ae").inner_text()) == ae
        for pid, entry in params.items():
            if entry["aggregation"] == "derived":
                continue
            row = page.locator(f'#record-summary tr[data-param="{pid}"]')
            shown = row.locator("td.value").inner_text()
            if entry["value"] is None:
                assert "not measured" in shown, pid
            else:
                assert close(shown, entry["value"]), (pid, shown, entry["value"])
        page.screenshot(path=str(shots / "site.png"), full_page=True)

        # A counter in record units (scale applied), with the rollover/rebaseline marked.
        page.goto(f"{base}/sites/{SITE}/parameters/ac_energy_mwh")
        chart = page.locator("#chart[data-state=ready]")
        chart.wait_for()
        kinds = set(params["ac_energy_mwh"]["counter"]["kinds"])
        assert {"rollover", "rebaseline"} <= kinds
        marks = page.locator("#chart .chart-overlay .counter")
        assert marks.count() == int(chart.get_attribute("data-counter-marks") or 0) > 0
        shown_kinds = {marks.nth(i).get_attribute("data-kind") for i in range(marks.count())}
        assert "rollover" in shown_kinds
        api = page.evaluate(
            "u => fetch(u).then(r => r.json())",
            f"/api/v1/sites/{SITE}/parameters/ac_energy_mwh/series",
        )
        top = max(v for v in api["max"] if v is not None)
        # the 32-bit register counts kWh: in MWh it stays below 2^32 / 1000
        assert api["counter"]["scale"] == 0.001 and top < 2**32 / 1000
        page.screenshot(path=str(shots / "counter.png"), full_page=True)

        # The record page: verified, the collector kid, every value as in record.json.
        page.goto(f"{base}/sites/{SITE}/records/{MONTH}")
        page.wait_for_selector("#record-parameters")
        ui["app"].state.verifier.wait(ui["bundle"])
        page.reload()
        assert page.locator("#verification").get_attribute("data-state") == "ok"
        assert page.locator("#collector-kid").inner_text() == rec["collector"]["kid"]
        for e in rec["evidence"]:
            row = page.locator(f'#record-evidence tr[data-agent="{e["agent"]}"]')
            assert "intact" in row.locator(".chain-state").inner_text()
        for pid, entry in params.items():
            table = (
                "#record-calculated" if entry["aggregation"] == "derived" else "#record-parameters"
            )
            shown = page.locator(f'{table} tr[data-param="{pid}"] td.value').inner_text()
            if entry["value"] is None:
                assert entry["aggregation"] == "derived" or "not measured" in shown, pid
            else:
                assert close(shown, entry["value"]), (pid, shown, entry["value"])
        derived = page.locator("#record-derived").inner_text()
        assert "protocols." not in page.content() and "None" not in derived
        ae_row = page.locator('#record-derived tr[data-derived="Anode effects"] td.value')
        assert number(ae_row.inner_text()) == ae
        page.screenshot(path=str(shots / "record.png"), full_page=True)
        assert errors == []
        browser.close()
