"""The evidence bundle's files and the collector's signature over ``record.json``.

``record.jws`` is a flattened JWS with a *detached* payload (RFC 7515 §7.2.2 and Appendix F):
``{"protected": B64(header), "signature": B64(sig)}`` where the header is
``{"alg":"EdDSA","kid":KID}`` and the signing input is
``B64(header) + "." + B64(bytes of record.json)``. Any JOSE library verifies it by putting
``B64(record.json)`` in as the ``payload`` member. ``record.json`` stays readable as-is and
its exact bytes are what is signed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from collector.models import EnrolledKey
from protocols.keys import (
    Ed25519PrivateKey,
    b64url,
    b64url_decode,
    jwk_thumbprint,
    public_jwk,
    public_key_from_jwk,
)

__all__ = [
    "BATCHES",
    "KEYS",
    "MANIFEST",
    "MANIFEST_SIGNATURE",
    "READINGS",
    "RECORD",
    "REPORT",
    "SIGNATURE",
    "JwsError",
    "bundle_name",
    "key_valid_at",
    "keys_document",
    "sign_record",
    "verify_record_signature",
]

RECORD = "record.json"
SIGNATURE = "record.jws"
BATCHES = "batches.jsonl"
KEYS = "keys.json"
READINGS = "readings.csv"
REPORT = "report.html"
#: Every file of the bundle with its SHA-256 (DESIGN.md "Bundle integrity and trust") and
#: the collector's detached JWS over the manifest's bytes: one byte changed in any file,
#: or a file added or removed after signing, and ``mrv-verify`` names it.
MANIFEST = "manifest.json"
MANIFEST_SIGNATURE = "manifest.jws"
MANIFEST_VERSION = 1


class JwsError(Exception):
    """record.jws is malformed or does not verify."""


def bundle_name(site: str, month: str, version: int) -> str:
    """``SITE_YYYY-MM_vN``: one directory per version, never overwritten."""
    return f"{site}_{month}_v{version}"


def sign_record(record_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The detached flattened JWS over ``record_bytes`` (record.jws content)."""
    kid = public_jwk(key)["kid"]
    header = json.dumps({"alg": "EdDSA", "kid": kid}, separators=(",", ":")).encode()
    protected = b64url(header)
    sig = key.sign(f"{protected}.{b64url(record_bytes)}".encode("ascii"))
    doc = {"protected": protected, "signature": b64url(sig)}
    return (json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n").encode("ascii")


def verify_record_signature(
    jws_bytes: bytes, record_bytes: bytes, jwk: dict[str, Any], *, name: str = RECORD
) -> str:
    """Check record.jws over record.json (or the JWS of another file ``name``, e.g.
    manifest.jws over manifest.json) with the collector's JWK; return the kid."""
    sig_name = name.removesuffix(".json") + ".jws"
    try:
        doc = json.loads(jws_bytes)
        protected = doc["protected"]
        sig = b64url_decode(doc["signature"])
        header = json.loads(b64url_decode(protected))
    except (ValueError, KeyError, TypeError) as exc:
        raise JwsError(f"{sig_name} is not a flattened JWS: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise JwsError(f"{sig_name}: protected header must say alg EdDSA")
    payload = doc.get("payload")
    if payload not in (None, "") and b64url_decode(payload) != record_bytes:
        raise JwsError(f"{sig_name} embeds a payload that is not {name}")
    kid = header.get("kid")
    expected = jwk_thumbprint(jwk)
    if kid != expected:
        raise JwsError(
            f"{sig_name} was signed with kid {kid}, but keys.json names the collector key {expected}"
        )
    try:
        public_key_from_jwk(jwk).verify(sig, f"{protected}.{b64url(record_bytes)}".encode("ascii"))
    except (InvalidSignature, ValueError):
        raise JwsError(
            f"{sig_name} does not verify over {name} with the collector key {kid}"
        ) from None
    return kid


def key_valid_at(bounds: tuple[int | None, int | None], created: int | None) -> bool:
    """The collector's ingest rule (``EnrolledKey.valid_at``), for the builder and the
    offline verifier alike: valid_from ≤ created < valid_to, each bound open when null; a
    batch without ``created`` passes only a key with no bounds."""
    lo, hi = bounds
    if lo is None and hi is None:
        return True
    if created is None:
        return False
    return (lo is None or created >= lo) and (hi is None or created < hi)


def keys_document(agents: list[EnrolledKey], collector: Ed25519PrivateKey) -> dict[str, Any]:
    """keys.json: ``{"agents": [{site, agent, kid, jwk, valid_from, valid_to, revoked_at,
    enrolled_at}], "collector": {kid, jwk}}``. The members beyond the contract's four (ms
    since the epoch, null = open / not revoked) let an offline verifier check that every
    batch was created while its key was valid, as the collector checked at ingest."""
    cj = public_jwk(collector)
    return {
        "agents": [k.as_dict() for k in sorted(agents, key=lambda x: (x.site, x.agent, x.kid))],
        "collector": {"kid": cj["kid"], "jwk": cj},
    }


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bundle_files(bundle: Path) -> list[str]:
    """Every file of a bundle (relative POSIX paths, sorted), the manifest pair and hidden
    temporaries left out: whatever a builder writes (documents/…, ledger.xlsx, any later
    addition) is covered by ``seal_bundle`` without being listed anywhere."""
    out = []
    for p in bundle.rglob("*"):
        rel = p.relative_to(bundle).as_posix()
        hidden = any(part.startswith(".") for part in Path(rel).parts)
        if p.is_file() and rel not in (MANIFEST, MANIFEST_SIGNATURE) and not hidden:
            out.append(rel)
    return sorted(out)


def manifest_document(bundle: Path, known: dict[str, str] | None = None) -> dict[str, Any]:
    """Every file with its SHA-256 and size; ``known`` gives the digests of files the caller
    hashed while writing them (batches.jsonl: hundreds of MB not read a second time)."""
    known = known or {}
    return {
        "v": MANIFEST_VERSION,
        "files": {
            rel: {
                "sha256": known.get(rel) or _sha256_file(bundle / rel),
                "size": (bundle / rel).stat().st_size,
            }
            for rel in bundle_files(bundle)
        },
    }


def seal_bundle(bundle: Path, key: Ed25519PrivateKey, known: dict[str, str] | None = None) -> None:
    """Write manifest.json (every file and its SHA-256) and manifest.jws (the collector's
    detached JWS over it). Call it last, once every file of the bundle is written;
    ``known``: digests the builder computed while writing (see ``manifest_document``)."""
    data = (
        json.dumps(manifest_document(bundle, known), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    ).encode("utf-8")
    (bundle / MANIFEST).write_bytes(data)
    (bundle / MANIFEST_SIGNATURE).write_bytes(sign_record(data, key))


def check_manifest(bundle: Path, manifest: Any) -> list[tuple[str, str]]:
    """``(file, what is wrong)`` for every file that differs from the signed manifest, is
    missing, or was added after signing; empty when the bundle is as the collector signed it."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return [(MANIFEST, "not a bundle manifest (no files member)")]
    listed: dict[str, Any] = manifest["files"]
    out: list[tuple[str, str]] = []
    for rel in sorted(listed):
        entry = listed[rel]
        path = bundle / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            out.append((rel, "manifest names a path outside the bundle"))
        elif not path.is_file():
            out.append((rel, "missing (the collector signed it)"))
        elif not isinstance(entry, dict) or _sha256_file(path) != entry.get("sha256"):
            out.append((rel, "changed since the collector signed the bundle (SHA-256 differs)"))
    for rel in bundle_files(bundle):
        if rel not in listed:
            out.append((rel, "not covered by the collector's signature (added after signing)"))
    return out
