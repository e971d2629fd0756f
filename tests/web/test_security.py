"""Web hardening (issue 16): security headers and a CSP without inline script, the
Origin/Referer check on state-changing requests (login included), rate limits on failed
logins and bad tokens (429 + Retry-After), bounded integers (422, never 500), and HTTPS
with Secure cookies (``http.tls``)."""

from __future__ import annotations

import datetime as dt
import re
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collector import Collector
from collector.web.security import MAX_FAILURES
from collector.web.tokens import TokenStore
from tests.collector.helpers import config_for
from tests.support.servers import Mosquitto
from tests.web.conftest import Env, auth
from tests.web.simdata import SITE

TEMPLATES = Path(__file__).resolve().parents[2] / "collector" / "web" / "templates"
SAME = {"Origin": "http://testserver"}


async def test_security_headers_and_no_inline_script(client: httpx.AsyncClient, env: Env) -> None:
    for path, headers in (("/login", {}), (f"/api/v1/sites/{SITE}", auth(env.tokens["admin"]))):
        r = await client.get(path, headers=headers)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    for t in TEMPLATES.glob("*.html"):
        text = t.read_text(encoding="utf-8")
        inline = [m for m in re.findall(r"<script\b[^>]*>", text) if "src=" not in m]
        assert not inline, (t.name, inline)
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", text), t.name  # no onclick= etc.


async def test_cross_origin_login_and_posts_are_refused(
    client: httpx.AsyncClient, env: Env
) -> None:
    good = {"token": env.tokens["admin"], "next": "/"}
    evil = await client.post("/login", data=good, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "mrv_session" not in evil.headers.get("set-cookie", "")
    ref = await client.post("/login", data=good, headers={"Referer": "https://evil.example/x"})
    assert ref.status_code == 403
    bare = await client.post("/login", data=good)  # a browser always sends one of them
    assert bare.status_code == 403
    cross = await client.post("/login", data=good, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    # what Chromium sends for its own form under Referrer-Policy: no-referrer
    null = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/login", data=good, headers=null)).status_code == 303
    ok = await client.post("/login", data=good, headers=SAME)
    assert ok.status_code == 303 and "mrv_session" in ok.headers["set-cookie"]
    r = await client.post(
        "/api/v1/tokens",
        json={"name": "x", "role": "viewer", "sites": [SITE]},
        headers={**auth(env.tokens["admin"]), "Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    r = await client.post(  # an API client with a token and no Origin is not a browser
        "/api/v1/tokens",
        json={"name": "x", "role": "viewer", "sites": [SITE]},
        headers=auth(env.tokens["admin"]),
    )
    assert r.status_code == 201


async def test_failed_logins_and_bad_tokens_are_rate_limited(
    client: httpx.AsyncClient, env: Env
) -> None:
    for _ in range(MAX_FAILURES):
        r = await client.post("/login", data={"token": "mrv_wrong"}, headers=SAME)
        assert r.status_code == 401
    r = await client.post("/login", data={"token": env.tokens["admin"]}, headers=SAME)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    r = await client.get(f"/api/v1/sites/{SITE}", headers=auth("mrv_bad"))
    assert r.status_code == 429 and "retry-after" in r.headers


async def test_out_of_range_integers_are_422_not_500(client: httpx.AsyncClient, env: Env) -> None:
    h = auth(env.tokens["admin"])
    for path in (
        "/api/v1/quarantine/10000000000000000000000000",
        "/api/v1/quarantine?before_id=1e21",
        f"/api/v1/quarantine?before_id={2**64}",
        f"/api/v1/sites/{SITE}/records/2026-01/versions/99999999999999999999999",
    ):
        r = await client.get(path, headers=h)
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    r = await client.post(
        f"/api/v1/sites/{SITE}/keys",
        json={"agent": "a1", "jwk": jwk, "valid_from": 1e30},
        headers=h,
    )
    assert r.status_code == 422, r.text


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    c, k = tmp / "web.crt", tmp / "web.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


async def test_https_with_secure_cookies(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cert, key = _self_signed(tmp_path)
    cfg = config_for(
        tmp_path,
        mosquitto.port,
        http={
            "enabled": True,
            "host": "127.0.0.1",
            "port": 0,
            "tls": {"cert_file": str(cert), "key_file": str(key)},
        },
    )
    async with Collector(cfg) as c:
        token = TokenStore(c.store.tokens).add("ops", "admin")[0]
        base = f"https://127.0.0.1:{c.http_port}"
        ctx = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=ctx) as h:
            r = await h.post(
                f"{base}/login", data={"token": token, "next": "/"}, headers={"Origin": base}
            )
            assert r.status_code == 303
            cookie = r.headers["set-cookie"].lower()
            assert "mrv_session=" in cookie and "secure" in cookie and "httponly" in cookie
            assert r.headers["x-frame-options"] == "DENY"
