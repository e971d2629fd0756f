"""A real browser (Debian's chromium, headless, via Playwright) on the parameter page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.conftest import Env, Served
from tests.web.simdata import MONTH, SITE

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed; run .ci/run (it installs chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def test_parameter_chart_renders_points_and_gap(
    env: Env,
    served: Served,
    browser_page,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # A record for the month, so the chart also marks the substituted outage.
    from collector.records.builder import build_record
    from protocols.keys import generate_private_key
    from protocols.record import RecordSettings

    settings = RecordSettings.from_dict(
        {"site": SITE, "month": MONTH, "timezone": "Asia/Shanghai", "industry": "aluminium"}
    )
    build_record(
        env.store,
        env.store.records,
        settings,
        signing_key=generate_private_key(),
        out_dir=env.records_dir,
        workers=1,
    )

    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    target = f"/sites/{SITE}/parameters/line_current_ka?month={MONTH}"

    # Not signed in: the page sends the browser to the login form, which leads back.
    page.goto(served.url + target)
    page.wait_for_selector("#login-form")
    page.fill("#token", env.tokens["verifier"])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(served.url + target)

    chart = page.locator("#chart[data-state=ready]")
    chart.wait_for()
    points = int(chart.get_attribute("data-points") or 0)
    gaps = int(chart.get_attribute("data-gaps") or 0)
    assert points > 500, points  # downsampled month: ~one bucket per pixel
    assert gaps >= 2  # the 3-hour outage and the missing batch
    assert page.locator("#chart .chart-overlay .gap").count() == gaps
    # Anode effects are site events: marked on every parameter's chart of the potline.
    assert int(chart.get_attribute("data-anode-effects") or 0) == len(env.filled.anode_effects)
    assert page.evaluate("window.mrvChart.downsampled") is True
    # Drawn by the vendored uPlot: one plot, x + mean/min/max/flagged series, its canvas.
    assert page.locator("#chart .uplot").count() == 1
    assert page.locator("#chart .uplot canvas").count() == 1
    assert page.evaluate("window.mrvChart.uplot.series.length") == 5
    assert page.evaluate("window.mrvChart.uplot.series.map(s => s.label)")[1:] == [
        "均值 mean",
        "最小 min",
        "最大 max",
        "标记 flagged",
    ]
    subs = int(chart.get_attribute("data-substitutions") or 0)
    assert subs >= 1
    assert page.locator("#chart .chart-overlay .sub").count() == subs
    # The gap table lists the outage.
    assert page.locator("#gap-table tbody tr").count() >= gaps
    page.screenshot(path=str(tmp_path / "parameter-month.png"), full_page=True)

    # Zoom with the wheel over the chart: the view narrows and finer data is fetched.
    full_span = int(chart.get_attribute("data-view-end") or 0) - int(
        chart.get_attribute("data-view-start") or 0
    )
    box = page.locator("#chart .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    for _ in range(12):
        page.mouse.wheel(0, -120)
    page.wait_for_function(
        "(full) => { const c = document.getElementById('chart');"
        " return c.dataset.state === 'ready' && (+c.dataset.viewEnd - +c.dataset.viewStart) < full / 5"
        " && window.mrvChart.bucketMs < 2678400 / 5; }",
        arg=full_span,
    )
    page.screenshot(path=str(tmp_path / "parameter-zoomed.png"))

    # The zoom is in the URL: a reload (or a shared link) shows the same range.
    zoomed = (chart.get_attribute("data-view-start"), chart.get_attribute("data-view-end"))
    assert f"from={zoomed[0]}" in page.url and f"to={zoomed[1]}" in page.url
    page.reload()
    page.locator("#chart[data-state=ready]").wait_for()
    assert (chart.get_attribute("data-view-start"), chart.get_attribute("data-view-end")) == zoomed
    # CSV export of what is shown: one row per point drawn, in the visible range.
    with page.expect_download() as csv_download:
        page.click("#chart-csv")
    lines = Path(csv_download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("time_utc,time_local,mean,min,max")
    assert len(lines) - 1 == int(chart.get_attribute("data-points") or 0) > 0

    # Reset brings the whole month back.
    page.click("#chart-reset")
    page.wait_for_function(
        "(full) => { const c = document.getElementById('chart');"
        " return c.dataset.state === 'ready' && (+c.dataset.viewEnd - +c.dataset.viewStart) === full; }",
        arg=full_span,
    )
    assert "from=" not in page.url
    # uPlot's own drag-select zooms too, and that zoom goes into the URL as well.
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "(full) => { const c = document.getElementById('chart');"
        " return c.dataset.state === 'ready' && (+c.dataset.viewEnd - +c.dataset.viewStart) < full / 5; }",
        arg=full_span,
    )
    selected = (chart.get_attribute("data-view-start"), chart.get_attribute("data-view-end"))
    assert f"from={selected[0]}" in page.url and f"to={selected[1]}" in page.url
    # Shift-drag pans (uPlot's drag-select does not take it): same span, earlier start.
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function(
        "(s) => { const c = document.getElementById('chart');"
        " return c.dataset.state === 'ready' && +c.dataset.viewStart < s[0]"
        " && Math.abs((+c.dataset.viewEnd - +c.dataset.viewStart) - (s[1] - s[0])) <= 1; }",
        arg=[int(selected[0] or 0), int(selected[1] or 0)],
    )
    panned = chart.get_attribute("data-view-start")
    assert f"from={panned}" in page.url
    assert errors == []

    # The voltage chart shows the spikes inside the min/max band, and the markers.
    page.goto(served.url + f"/sites/{SITE}/parameters/cell_voltage_avg_v?month={MONTH}")
    chart.wait_for()
    assert int(chart.get_attribute("data-anode-effects") or 0) == len(env.filled.anode_effects)
    assert page.locator("#chart .chart-overlay .ae").count() == len(env.filled.anode_effects)
    page.screenshot(path=str(tmp_path / "voltage-month.png"), full_page=True)

    # The site overview shows the month's record (the same values) and the open gap.
    page.goto(served.url + f"/sites/{SITE}?month={MONTH}")
    page.wait_for_selector("#record-summary")
    assert page.locator("#tile-gaps").inner_text().strip() == "1"
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    # The record page: parameters table, evidence and the bundle download for a verifier.
    page.goto(served.url + f"/sites/{SITE}/records/{MONTH}")
    page.wait_for_selector("#record-parameters")
    assert page.locator("#record-evidence tbody tr").count() >= 1
    with page.expect_download() as download:
        page.click("#bundle-download")
    assert download.value.suggested_filename == f"mrv-{SITE}-{MONTH}-v1.zip"
    page.screenshot(path=str(tmp_path / "record.png"), full_page=True)
    assert errors == []
