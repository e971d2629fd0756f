"""Server-rendered pages: login, overview, parameter, records, quarantine, error pages."""

from __future__ import annotations

import httpx

from tests.web.conftest import Env
from tests.web.simdata import MONTH, OTHER_SITE, SITE
from tests.web.test_api import write_bundle


async def login(client: httpx.AsyncClient, token: str, next: str = "/") -> httpx.Response:
    return await client.post(
        "/login",
        content=f"token={token}&next={next}".encode(),
        # a browser sends its page's Origin; cross-origin logins are refused (test_security)
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://testserver",
        },
    )


async def test_login_sets_an_httponly_cookie(env: Env, client: httpx.AsyncClient) -> None:
    r = await client.get(f"/sites/{SITE}")
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=%2Fsites%2F{SITE}"
    r = await client.get("/login")
    assert r.status_code == 200 and 'name="token"' in r.text

    r = await login(client, "mrv_wrong")
    assert r.status_code == 401 and "not valid" in r.text
    r = await login(client, env.tokens["viewer"], f"/sites/{SITE}")
    assert r.status_code == 303 and r.headers["location"] == f"/sites/{SITE}"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    r = await client.get(f"/sites/{SITE}")
    assert r.status_code == 200

    r = await client.post("/logout", headers={"Origin": "http://testserver"})
    assert r.status_code == 303
    assert (await client.get(f"/sites/{SITE}")).status_code == 303


async def test_login_does_not_redirect_off_site(env: Env, client: httpx.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        r = await login(client, env.tokens["viewer"], target)
        assert r.headers["location"] == "/"


async def test_pages_render(env: Env, client: httpx.AsyncClient) -> None:
    await login(client, env.tokens["verifier"])
    r = await client.get("/")
    assert r.status_code == 200 and "Smelter A" in r.text and OTHER_SITE not in r.text
    r = await client.get(f"/sites/{SITE}?month={MONTH}")
    assert r.status_code == 200
    for text in (
        "代理在线",
        "Agents online",
        'id="completeness"',
        "potline-1",
        "700–700",
        "99.5 %",
    ):
        assert text in r.text, text
    # a catalogued key parameter no agent reports is "not measured", not "no data yet"
    row = r.text[r.text.index("ae_minutes</div>") :]
    assert row.index("not measured") < row.index("</tr>")
    r = await client.get(f"/sites/{SITE}/parameters/line_current_ka?month={MONTH}")
    assert r.status_code == 200
    assert 'data-url="/api/v1/sites/smelter-a/parameters/line_current_ka/series"' in r.text
    assert '<script src="/static/chart.js"></script>' in r.text
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js"></script>' in r.text
    assert 'href="/static/vendor/uplot/uPlot.min.css"' in r.text
    r = await client.get(f"/sites/{SITE}/quarantine")
    assert r.status_code == 200 and "malformed" in r.text and "/raw" in r.text
    r = await client.get("/static/chart.js")
    assert r.status_code == 200 and "mrvChart" in r.text
    for vendored in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        r = await client.get(f"/static/vendor/uplot/{vendored}")
        assert r.status_code == 200 and len(r.content) > 500, vendored


async def test_empty_states(env: Env, client: httpx.AsyncClient) -> None:
    await login(client, env.tokens["admin"])
    r = await client.get(f"/sites/{SITE}/records")
    assert "No records yet" in r.text and "record build" in r.text
    r = await client.get(f"/sites/{SITE}/parameters/ae_minutes")
    assert r.status_code == 200 and "No data for this parameter yet" in r.text
    r = await client.get(f"/sites/{OTHER_SITE}/quarantine?before_id=1")
    assert "No quarantined messages" in r.text
    r = await client.get(f"/sites/{SITE}?month=2024-01")
    assert r.status_code == 200 and "no data yet" in r.text


async def test_record_page_and_bundle(env: Env, client: httpx.AsyncClient) -> None:
    write_bundle(env.records_dir, SITE, MONTH, 1, 400.1)
    write_bundle(env.records_dir, SITE, MONTH, 2, 400.2)
    await login(client, env.tokens["verifier"])
    r = await client.get(f"/sites/{SITE}/records/{MONTH}")
    assert r.status_code == 200
    for text in (
        "400.2",
        "SUB2_LOOKBACK_P90",
        "low_completeness",
        "potline-1",
        "744",
        "bundle-download",
    ):
        assert text in r.text, text
    r = await client.get(f"/sites/{SITE}/records/{MONTH}?version=1")
    assert "400.1" in r.text
    r = await client.get(f"/sites/{SITE}/records/{MONTH}/bundle?version=1")
    assert r.status_code == 200 and r.content[:2] == b"PK"

    client.cookies.clear()
    await login(client, env.tokens["viewer"])
    r = await client.get(f"/sites/{SITE}/records/{MONTH}")
    assert r.status_code == 200 and "bundle-download" not in r.text
    r = await client.get(f"/sites/{SITE}/records/{MONTH}/bundle")
    assert r.status_code == 403
    assert "<h1>403</h1>" in r.text and "verifier or admin" in r.text


async def test_error_pages(env: Env, client: httpx.AsyncClient) -> None:
    await login(client, env.tokens["verifier"])
    for path in (
        f"/sites/{OTHER_SITE}",
        "/sites/nowhere",
        "/no/such/page",
        f"/sites/{SITE}/records/2020-01",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "<h1>404</h1>" in r.text and "Traceback" not in r.text
    r = await client.get(f"/sites/{SITE}?month=March")
    assert r.status_code == 400 and "month" in r.text


async def test_month_calendar_shows_each_months_state(env: Env, client: httpx.AsyncClient) -> None:
    from collector.models import MonthEvent, RecordVersion

    await login(client, env.tokens["verifier"])
    r = await client.get(f"/sites/{SITE}/months")
    assert r.status_code == 200
    assert f'data-month="{MONTH}" data-state="open"' in r.text
    assert "2025-04-20" in r.text and "2025-05-10" in r.text  # March + 20 / + 40 days
    assert 'href="/sites/' + SITE + '/months"' in r.text  # in the site navigation
    events = env.store.month_events
    env.store.records.add(
        RecordVersion(SITE, MONTH, 1, 0, "initial build", "ab" * 32, None), b"{}", b"{}"
    )
    r = await client.get(f"/sites/{SITE}/months")
    assert f'data-month="{MONTH}" data-state="record_built"' in r.text
    events.add(MonthEvent(SITE, MONTH, "sealed", 1, "ab" * 32, 1, "Wang"))
    events.add(MonthEvent(SITE, MONTH, "submitted", 1, "ab" * 32, 2, "Li", "", "R-77"))
    r = await client.get(f"/sites/{SITE}/months")
    assert f'data-month="{MONTH}" data-state="submitted"' in r.text
    assert "已上报 submitted" in r.text and "R-77" in r.text
