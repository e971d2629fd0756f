"""HTTP API over a real evidence store holding a simulated month (no mocks)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import Env, auth
from tests.web.simdata import (
    MISSING_SEQ,
    MONTH,
    MONTH_END,
    MONTH_START,
    OTHER_SITE,
    OUTAGE_END,
    OUTAGE_START,
    SITE,
)

S = f"/api/v1/sites/{SITE}"
OTHER = f"/api/v1/sites/{OTHER_SITE}"


def write_bundle(root: Path, site: str, month: str, version: int, value: float) -> Path:
    """A bundle directory laid out as the record builder writes it (SITE_MONTH_vN)."""
    d = root / f"{site}_{month}_v{version}"
    d.mkdir(parents=True)
    record = {
        "format": "plant-mrv/monthly-record",
        "site": site,
        "month": month,
        "parameters": [
            {
                "id": "line_current_ka",
                "value": value,
                "unit": "kA",
                "method": "time-weighted mean",
                "expected_intervals": 44640,
                "valid_intervals": 44395,
                "completeness": 44395 / 44640,
                "gaps": [{"start": "2025-03-10T08:00:00+08:00", "intervals": 180}],
                "substitutions": [
                    {
                        "start": "2025-03-10T08:00:00+08:00",
                        "end": "2025-03-10T11:00:00+08:00",
                        "rule": "SUB2_LOOKBACK_P90",
                        "value": 402.1,
                        "contribution": 0.004,
                    }
                ],
                "flags": [{"code": "low_completeness", "message": "below 0.9"}],
            }
        ],
        "derived": {"aem": {"value": 0.021, "unit": "min/(cell·d)"}},
        "flags": [],
        "evidence": [
            {
                "site": site,
                "agent": "potline-1",
                "first_seq": 1,
                "first_prev": None,
                "last_seq": 744,
                "last_hash": "ab" * 32,
            }
        ],
    }
    (d / "record.json").write_text(json.dumps(record), encoding="utf-8")
    (d / "record.jws").write_text('{"protected":"x","signature":"y"}', encoding="utf-8")
    (d / "batches.jsonl").write_bytes(b'{"envelope": 1}\n' * 1000)
    return d


# -- authentication and roles -----------------------------------------------------------
ENDPOINTS = [
    "/api/v1/me",
    "/api/v1/sites",
    S,
    f"{S}/agents",
    f"{S}/parameters",
    f"{S}/parameters/line_current_ka/series",
    f"{S}/completeness",
    f"{S}/anode-effects",
    f"{S}/events",
    f"{S}/quarantine",
    "/api/v1/quarantine",
    "/api/v1/quarantine/1",
    "/api/v1/quarantine/1/raw",
    f"{S}/records",
    f"{S}/records/{MONTH}",
    f"{S}/records/{MONTH}/versions/1",
    f"{S}/records/{MONTH}/bundle",
    f"{S}/records/{MONTH}/versions/1/bundle",
    f"{S}/keys",
    "/api/v1/tokens",
]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_endpoint_needs_a_token(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthorized"
    r = await client.get(path, headers=auth("mrv_not-a-real-token"))
    assert r.status_code == 401


async def test_revoked_token_is_refused(env: Env, client: httpx.AsyncClient) -> None:
    token, info = env.app.state.tokens.add("temp", "viewer", [SITE])
    assert (await client.get("/api/v1/me", headers=auth(token))).status_code == 200
    env.app.state.tokens.revoke(info.id)
    assert (await client.get("/api/v1/me", headers=auth(token))).status_code == 401


async def test_me(env: Env, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/me", headers=auth(env.tokens["verifier"]))
    assert r.json()["role"] == "verifier"
    assert r.json()["sites"] == [SITE]
    assert "token" not in r.json()


async def test_sites_lists_only_granted(env: Env, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/sites", headers=auth(env.tokens["viewer"]))
    assert [s["id"] for s in r.json()["sites"]] == [SITE]
    r = await client.get("/api/v1/sites", headers=auth(env.tokens["admin"]))
    assert {s["id"] for s in r.json()["sites"]} == {SITE, OTHER_SITE}


@pytest.mark.parametrize(
    "path",
    [
        OTHER,
        f"{OTHER}/agents",
        f"{OTHER}/parameters",
        f"{OTHER}/parameters/clinker_t/series",
        f"{OTHER}/completeness",
        f"{OTHER}/anode-effects",
        f"{OTHER}/quarantine",
        f"{OTHER}/records",
        f"{OTHER}/records/{MONTH}/bundle",
        f"{OTHER}/keys",
    ],
)
async def test_other_sites_data_is_not_found_for_a_verifier(
    env: Env, client: httpx.AsyncClient, path: str
) -> None:
    """Documented choice: a site outside the grant answers 404, exactly like a missing one."""
    r = await client.get(path, headers=auth(env.tokens["verifier"]))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    missing = await client.get("/api/v1/sites/no-such-site", headers=auth(env.tokens["verifier"]))
    assert missing.status_code == 404
    # The verifier of the other site may read it.
    r = await client.get(path, headers=auth(env.tokens["other_verifier"]))
    assert r.status_code in (200, 404)  # 404 only where no record exists yet
    if r.status_code == 404:
        assert "record" in r.json()["error"]["message"]


async def test_quarantine_entry_of_another_site_is_hidden(
    env: Env, client: httpx.AsyncClient
) -> None:
    other_entry = (
        await client.get(f"{OTHER}/quarantine", headers=auth(env.tokens["admin"]))
    ).json()["entries"][0]["id"]
    for path in (f"/api/v1/quarantine/{other_entry}", f"/api/v1/quarantine/{other_entry}/raw"):
        r = await client.get(path, headers=auth(env.tokens["verifier"]))
        assert r.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/api/v1/quarantine", "/api/v1/tokens"],
)
async def test_admin_only_reads(env: Env, client: httpx.AsyncClient, path: str) -> None:
    for role in ("viewer", "verifier"):
        r = await client.get(path, headers=auth(env.tokens[role]))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "forbidden"
    assert (await client.get(path, headers=auth(env.tokens["admin"]))).status_code == 200


# -- data ---------------------------------------------------------------------------------
async def test_site_summary(env: Env, client: httpx.AsyncClient) -> None:
    body = (await client.get(S, headers=auth(env.tokens["viewer"]))).json()
    assert body["industry"] == "aluminium"
    assert body["agents_online"] == 1
    assert body["open_gaps"] == 1
    assert body["quarantined"] == 2
    assert body["current_month"] == MONTH


async def test_agents(env: Env, client: httpx.AsyncClient) -> None:
    (agent,) = (await client.get(f"{S}/agents", headers=auth(env.tokens["viewer"]))).json()[
        "agents"
    ]
    assert agent["agent"] == "potline-1"
    assert agent["online"] is True
    assert agent["last_contiguous_seq"] == MISSING_SEQ - 1
    assert agent["open_gaps"] == [{"first_seq": MISSING_SEQ, "last_seq": MISSING_SEQ}]
    assert agent["last_seen"] is not None
    assert agent["quarantined"] == 2
    assert agent["agent_version"] == "0.1.0"


async def test_parameters_catalogue(env: Env, client: httpx.AsyncClient) -> None:
    params = (await client.get(f"{S}/parameters", headers=auth(env.tokens["viewer"]))).json()[
        "parameters"
    ]
    by_id = {p["id"]: p for p in params}
    lc = by_id["line_current_ka"]
    assert lc["name_zh"] and lc["name_en"] and lc["unit"] == "kA"
    assert lc["aggregation"] == "time_weighted_mean"
    assert lc["agents"] == ["potline-1"]
    assert by_id["aem"]["agents"] == []  # in the catalogue, no data: derived


async def test_series_downsampled_month(env: Env, client: httpx.AsyncClient) -> None:
    r = await client.get(
        f"{S}/parameters/line_current_ka/series",
        params={"month": MONTH, "buckets": 500},
        headers=auth(env.tokens["viewer"]),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["downsampled"] is True
    assert body["start"] == MONTH_START and body["end"] == MONTH_END
    assert 400 < len(body["t"]) <= 500
    assert len(body["t"]) == len(body["mean"]) == len(body["min"]) == len(body["max"])
    assert body["readings"] == sum(body["n"]) + len(env.filled.nulls)
    assert body["bucket_ms"] == -(-(MONTH_END - MONTH_START) // 500)
    for lo, m, hi in zip(body["min"], body["mean"], body["max"], strict=True):
        if m is not None:
            assert lo <= m <= hi
    # The 3-hour outage is one gap spanning it.
    assert any(s < OUTAGE_START and e >= OUTAGE_END for s, e in body["gaps"])
    assert body["interval_ms"] == 60_000
    assert len(body["anode_effects"]) == len(env.filled.anode_effects)
    flagged = {f["ts"] for f in body["flagged_readings"]}
    assert set(env.filled.flagged) | set(env.filled.nulls) == flagged


async def test_series_spikes_survive_downsampling(env: Env, client: httpx.AsyncClient) -> None:
    body = (
        await client.get(
            f"{S}/parameters/cell_voltage_avg_v/series",
            params={"month": MONTH, "buckets": 100},
            headers=auth(env.tokens["viewer"]),
        )
    ).json()
    assert max(v for v in body["max"] if v is not None) == 38.0  # the reading's own max
    assert max(v for v in body["mean"] if v is not None) < 5.0  # averaged away in the mean


async def test_series_raw_when_it_fits(env: Env, client: httpx.AsyncClient) -> None:
    start = OUTAGE_START - 30 * 60_000
    body = (
        await client.get(
            f"{S}/parameters/line_current_ka/series",
            params={"start": start, "end": OUTAGE_END + 30 * 60_000, "buckets": 1000},
            headers=auth(env.tokens["viewer"]),
        )
    ).json()
    assert body["downsampled"] is False
    assert len(body["t"]) == 60
    assert body["gaps"] == [[OUTAGE_START - 60_000, OUTAGE_END]]


async def test_series_errors(env: Env, client: httpx.AsyncClient) -> None:
    h = auth(env.tokens["viewer"])
    r = await client.get(f"{S}/parameters/nope/series", headers=h)
    assert r.status_code == 404
    r = await client.get(f"{S}/parameters/line_current_ka/series?buckets=1", headers=h)
    assert r.status_code == 422
    assert "buckets" in r.json()["error"]["message"]
    r = await client.get(f"{S}/parameters/line_current_ka/series?start=10&end=5", headers=h)
    assert r.status_code == 422
    r = await client.get(f"{S}/parameters/line_current_ka/series?month=2025-13", headers=h)
    assert r.status_code == 422


async def test_completeness(env: Env, client: httpx.AsyncClient) -> None:
    body = (
        await client.get(f"{S}/completeness?month={MONTH}", headers=auth(env.tokens["viewer"]))
    ).json()
    by_id = {p["id"]: p for p in body["parameters"]}
    lc = by_id["line_current_ka"]
    # 31 days of minutes, minus the 3-hour outage, the missing hour-batch and the null readings
    assert lc["expected_intervals"] == 31 * 1440
    assert lc["valid_intervals"] == 31 * 1440 - 180 - 60 - len(env.filled.nulls)
    assert by_id["ae_minutes"]["readings"] == 0


async def test_anode_effects_and_events(env: Env, client: httpx.AsyncClient) -> None:
    h = auth(env.tokens["viewer"])
    body = (await client.get(f"{S}/anode-effects?month={MONTH}", headers=h)).json()
    assert len(body["events"]) == len(env.filled.anode_effects)
    first = body["events"][0]
    assert first["peak_v"] == 38.0 and first["duration_s"] == 95.0 and first["cell"]
    body = (
        await client.get(
            f"{S}/events",
            params={"type": "anode_effect", "start": MONTH_START, "end": MONTH_START + 86_400_000},
            headers=h,
        )
    ).json()
    assert len(body["events"]) == 1


async def test_quarantine_metadata_and_raw_bytes(env: Env, client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{S}/quarantine", headers=auth(env.tokens["viewer"]))).json()
    assert [e["reason"] for e in body["entries"]] == ["malformed", "malformed"]
    entry = body["entries"][-1]
    assert "raw" not in entry and entry["size"] == len(b"\x00garbage\xff")
    # Metadata for viewers; bytes only for verifiers and admins.
    r = await client.get(f"/api/v1/quarantine/{entry['id']}", headers=auth(env.tokens["viewer"]))
    assert r.status_code == 200
    r = await client.get(
        f"/api/v1/quarantine/{entry['id']}/raw", headers=auth(env.tokens["viewer"])
    )
    assert r.status_code == 403
    for role in ("verifier", "admin"):
        r = await client.get(
            f"/api/v1/quarantine/{entry['id']}/raw", headers=auth(env.tokens[role])
        )
        assert r.status_code == 200
        assert r.content == b"\x00garbage\xff"
        assert r.headers["x-content-sha256"] == entry["sha256"]
    # Paging.
    page1 = (await client.get(f"{S}/quarantine?limit=1", headers=auth(env.tokens["viewer"]))).json()
    assert page1["next_before_id"] == page1["entries"][0]["id"]
    page2 = (
        await client.get(
            f"{S}/quarantine?limit=1&before_id={page1['next_before_id']}",
            headers=auth(env.tokens["viewer"]),
        )
    ).json()
    assert page2["entries"][0]["id"] < page1["entries"][0]["id"]
    everything = (await client.get("/api/v1/quarantine", headers=auth(env.tokens["admin"]))).json()
    assert len(everything["entries"]) == 3


async def test_records_versions_and_bundle(env: Env, client: httpx.AsyncClient) -> None:
    h = auth(env.tokens["viewer"])
    assert (await client.get(f"{S}/records", headers=h)).json()["records"] == []
    r = await client.get(f"{S}/records/{MONTH}", headers=h)
    assert r.status_code == 404
    write_bundle(env.records_dir, SITE, MONTH, 1, 400.1)
    write_bundle(env.records_dir, SITE, MONTH, 2, 400.2)
    body = (await client.get(f"{S}/records", headers=h)).json()
    assert body["records"][0]["month"] == MONTH
    assert [v["version"] for v in body["records"][0]["versions"]] == [2, 1]
    latest = (await client.get(f"{S}/records/{MONTH}", headers=h)).json()
    assert latest["version"] == 2
    assert latest["record"]["parameters"][0]["value"] == 400.2
    v1 = (await client.get(f"{S}/records/{MONTH}/versions/1", headers=h)).json()
    assert v1["record"]["parameters"][0]["value"] == 400.1
    assert (await client.get(f"{S}/records/{MONTH}/versions/9", headers=h)).status_code == 404

    # Bundles: verifier and admin yes, viewer no.
    for path in (f"{S}/records/{MONTH}/bundle", f"{S}/records/{MONTH}/versions/1/bundle"):
        assert (await client.get(path, headers=h)).status_code == 403
    r = await client.get(f"{S}/records/{MONTH}/bundle", headers=auth(env.tokens["verifier"]))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert f"mrv-{SITE}-{MONTH}-v2.zip" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = zf.namelist()
        assert f"mrv-{SITE}-{MONTH}-v2/record.json" in names
        assert zf.read(f"mrv-{SITE}-{MONTH}-v2/batches.jsonl") == b'{"envelope": 1}\n' * 1000
        assert zf.testzip() is None
    r = await client.get(
        f"{S}/records/{MONTH}/versions/1/bundle", headers=auth(env.tokens["admin"])
    )
    assert r.status_code == 200


async def test_series_marks_substitutions_from_the_record(
    env: Env, client: httpx.AsyncClient
) -> None:
    write_bundle(env.records_dir, SITE, MONTH, 1, 400.1)
    body = (
        await client.get(
            f"{S}/parameters/line_current_ka/series?month={MONTH}",
            headers=auth(env.tokens["viewer"]),
        )
    ).json()
    assert body["substitutions"] == [
        {
            "start": OUTAGE_START,
            "end": OUTAGE_END,
            "rule": "SUB2_LOOKBACK_P90",
            "value": 402.1,
            "record_version": 1,
        }
    ]


# -- admin: tokens and keys --------------------------------------------------------------------
async def test_tokens_admin_api(env: Env, client: httpx.AsyncClient) -> None:
    admin = auth(env.tokens["admin"])
    r = await client.post(
        "/api/v1/tokens", json={"name": "ci", "role": "viewer", "sites": [SITE]}, headers=admin
    )
    assert r.status_code == 201
    new = r.json()
    assert new["token"].startswith("mrv_")
    listed = (await client.get("/api/v1/tokens", headers=admin)).json()["tokens"]
    assert any(t["id"] == new["id"] for t in listed)
    assert all("token" not in t for t in listed)
    assert (await client.get("/api/v1/me", headers=auth(new["token"]))).status_code == 200
    r = await client.delete(f"/api/v1/tokens/{new['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/me", headers=auth(new["token"]))).status_code == 401
    # Bad input and wrong roles.
    r = await client.post("/api/v1/tokens", json={"name": "x", "role": "viewer"}, headers=admin)
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/tokens",
        json={"name": "x", "role": "admin"},
        headers=auth(env.tokens["verifier"]),
    )
    assert r.status_code == 403
    assert (await client.delete("/api/v1/tokens/999", headers=admin)).status_code == 404


async def test_state_changes_need_the_header_not_the_cookie(
    env: Env, client: httpx.AsyncClient
) -> None:
    """A cross-site form can make a browser send cookies, never an Authorization header."""
    client.cookies.set("mrv_session", env.tokens["admin"])
    r = await client.post("/api/v1/tokens", json={"name": "csrf", "role": "admin"})
    assert r.status_code == 403  # no Origin/Referer and no token: refused as cross-site
    r = await client.post(
        "/api/v1/tokens",
        json={"name": "csrf", "role": "admin"},
        headers={"Origin": "http://testserver"},
    )
    assert r.status_code == 401  # same origin, but the cookie alone never authorises the API
    assert (await client.get("/api/v1/tokens")).status_code == 200  # reads may use the cookie


async def test_keys_enrol_and_list(env: Env, client: httpx.AsyncClient) -> None:
    from protocols.keys import generate_private_key, public_jwk

    jwk = public_jwk(generate_private_key())
    body = {"agent": "potline-2", "jwk": jwk}
    r = await client.post(f"{S}/keys", json=body, headers=auth(env.tokens["verifier"]))
    assert r.status_code == 403
    r = await client.post(f"{S}/keys", json=body, headers=auth(env.tokens["admin"]))
    assert r.status_code == 201 and r.json()["kid"] == jwk["kid"]
    r = await client.post(f"{OTHER}/keys", json=body, headers=auth(env.tokens["admin"]))
    assert r.status_code == 409  # bound to exactly one site and agent
    r = await client.post(
        f"{S}/keys", json={"agent": "x", "jwk": {"kty": "RSA"}}, headers=auth(env.tokens["admin"])
    )
    assert r.status_code == 422
    keys = (await client.get(f"{S}/keys", headers=auth(env.tokens["viewer"]))).json()["keys"]
    assert {k["agent"] for k in keys} == {"potline-1", "potline-2"}


# -- errors ------------------------------------------------------------------------------------
async def test_consistent_json_errors(env: Env, client: httpx.AsyncClient) -> None:
    h = auth(env.tokens["admin"])
    r = await client.get("/api/v1/nothing-here", headers=h)
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"status", "code", "message"}
    r = await client.get("/api/v1/sites/bad%20id", headers=h)
    assert r.status_code == 422
    r = await client.put("/api/v1/sites", headers=h)
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


async def test_server_error_hides_the_trace(env: Env, client: httpx.AsyncClient) -> None:
    # A record file that is not JSON: reading it fails inside the app.
    d = write_bundle(env.records_dir, SITE, MONTH, 1, 1.0)
    (d / "record.json").write_text(
        json.dumps({"site": SITE, "month": MONTH, "parameters": None, "evidence": 5}),
        encoding="utf-8",
    )
    client.cookies.set("mrv_session", env.tokens["admin"])
    r = await client.get(f"/sites/{SITE}/records/{MONTH}")
    assert r.status_code == 500
    assert "Traceback" not in r.text and "internal error" in r.text


async def test_openapi_docs(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/sites/{site}/parameters/{param}/series" in paths
    assert not any(p.startswith("/sites") for p in paths)  # pages are not API
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/api/v1/sites/{site}/records/{month}/bundle" in docs.text
    assert "cdn." not in docs.text  # the reference works offline
    assert (await client.get("/docs/swagger")).status_code == 200


async def test_records_built_by_the_record_builder(env: Env, client: httpx.AsyncClient) -> None:
    """The real builder writes the version table and the bundle; the API serves both."""
    from collector.records.builder import build_record
    from protocols.keys import generate_private_key
    from protocols.record import RecordSettings

    settings = RecordSettings.from_dict(
        {"site": SITE, "month": MONTH, "timezone": "Asia/Shanghai", "industry": "aluminium"}
    )
    built = build_record(
        env.store,
        env.store.records,
        settings,
        signing_key=generate_private_key(),
        out_dir=env.records_dir,
        workers=1,
    )
    h = auth(env.tokens["verifier"])
    body = (await client.get(f"{S}/records", headers=h)).json()
    (entry,) = body["records"]
    assert entry["month"] == MONTH and entry["versions"][0]["reason"] == "initial build"
    rec = (await client.get(f"{S}/records/{MONTH}", headers=h)).json()
    assert rec["version"] == built.version == 1
    assert rec["record"] == built.record
    r = await client.get(f"{S}/records/{MONTH}/versions/1/bundle", headers=h)
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        prefix = f"mrv-{SITE}-{MONTH}-v1/"
        assert zf.read(prefix + "record.json") == (built.bundle_dir / "record.json").read_bytes()
        assert {prefix + n for n in ("record.jws", "batches.jsonl", "keys.json")} <= set(
            zf.namelist()
        )
    client.cookies.set("mrv_session", env.tokens["verifier"])
    page = await client.get(f"/sites/{SITE}/records/{MONTH}")
    assert (
        page.status_code == 200
        and "line_current_ka" in page.text
        and "bundle-download" in page.text
    )
    # the emissions section: this store has no production or anode data, so no source is
    # computed (the record flags name what is missing); the page still shows the table
    assert built.record["emissions"] == {"sources": [], "total_co2e_t": 0.0}
    assert 'id="record-emissions"' in page.text
    series = (
        await client.get(f"{S}/parameters/line_current_ka/series?month={MONTH}", headers=h)
    ).json()
    assert series["substitutions"], "the outage is substituted in the built record"
    assert all(s["record_version"] == 1 for s in series["substitutions"])


async def test_admin_builds_records_through_the_api(env: Env, tmp_path: Path) -> None:
    from collector.web import create_app
    from collector.web.records import record_builder
    from protocols.keys import write_key_pair
    from tests.web.conftest import SITES

    key_path, _ = write_key_pair(tmp_path / "keys", name="collector")
    app = create_app(
        env.store,
        sites=SITES,
        records_dir=env.records_dir,
        builder=record_builder(env.store, SITES, env.records_dir, key_path),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        url = f"{S}/records/{MONTH}/build"
        r = await c.post(url, json={}, headers=auth(env.tokens["verifier"]))
        assert r.status_code == 403
        r = await c.post(url, json={}, headers=auth(env.tokens["admin"]))
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 1 and r.json()["bundle"] == f"{SITE}_{MONTH}_v1"
        r = await c.post(url, json={}, headers=auth(env.tokens["admin"]))
        assert r.status_code == 409 and "reason" in r.json()["error"]["message"]
        r = await c.post(url, json={"reason": "late data"}, headers=auth(env.tokens["admin"]))
        assert r.status_code == 201 and r.json()["version"] == 2
        body = (await c.get(f"{S}/records", headers=auth(env.tokens["viewer"]))).json()
        versions = body["records"][0]["versions"]
        assert [(v["version"], v["reason"]) for v in versions] == [
            (2, "late data"),
            (1, "initial build"),
        ]


async def test_build_unavailable_without_a_builder(env: Env, client: httpx.AsyncClient) -> None:
    r = await client.post(f"{S}/records/{MONTH}/build", json={}, headers=auth(env.tokens["admin"]))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/1"),
        ("POST", f"{S}/keys"),
        ("POST", f"{S}/records/{MONTH}/build"),
    ],
)
async def test_admin_actions_need_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path, json={}, headers={"Origin": "http://testserver"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
