"""The batch envelope: a JWS in flattened JSON serialization (RFC 7515 §7.2.2), EdDSA/Ed25519.

The payload bytes are signed once at the edge and carried verbatim forever. Verification is
split in steps (``parse_envelope`` then ``verify_signature``) so the collector can quarantine
each failure with its own reason, in the contract's order: size, structure, kid, signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from protocols.errors import (
    BadSignature,
    EnvelopeTooLarge,
    MalformedEnvelope,
    UnknownKey,
    UnsupportedAlgorithm,
)
from protocols.keys import Ed25519PrivateKey, Ed25519PublicKey, b64url, b64url_decode

ALG = "EdDSA"
#: Largest envelope accepted by default (bytes). A batch of 5,000 readings is ≈ 0.6 MB.
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


def payload_hash(payload: bytes) -> str:
    """Chain hash of a batch: lowercase hex SHA-256 of the payload bytes."""
    return hashlib.sha256(payload).hexdigest()


def protected_header(kid: str) -> bytes:
    return json.dumps({"alg": ALG, "kid": kid}, separators=(",", ":")).encode("ascii")


def sign_envelope(payload: bytes, key: Ed25519PrivateKey, kid: str) -> bytes:
    """Sign ``payload`` and return the flattened JWS JSON, as bytes ready to publish."""
    protected = b64url(protected_header(kid))
    body = b64url(payload)
    signature = key.sign(f"{protected}.{body}".encode("ascii"))
    return (
        b'{"protected":"'
        + protected.encode("ascii")
        + b'","payload":"'
        + body.encode("ascii")
        + b'","signature":"'
        + b64url(signature).encode("ascii")
        + b'"}'
    )


@dataclass(frozen=True, slots=True)
class ParsedEnvelope:
    """A structurally valid envelope whose signature is not yet checked."""

    kid: str
    header: dict[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def parse_envelope(envelope: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> ParsedEnvelope:
    """Check size and JWS structure; raise a specific ``EnvelopeError`` on the first fault."""
    if len(envelope) > max_bytes:
        raise EnvelopeTooLarge(f"envelope of {len(envelope)} bytes exceeds the {max_bytes} limit")
    try:
        obj = json.loads(envelope)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEnvelope(f"envelope is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedEnvelope("envelope is not a JSON object")
    for member in ("protected", "payload", "signature"):
        if not isinstance(obj.get(member), str):
            raise MalformedEnvelope(f"envelope lacks the JWS member {member!r} (flattened JSON)")
    if "header" in obj:
        raise MalformedEnvelope("unprotected JWS header is not allowed")
    extra = set(obj) - {"protected", "payload", "signature"}
    if extra:
        raise MalformedEnvelope(f"unexpected envelope members: {', '.join(sorted(extra))}")
    try:
        header_bytes = b64url_decode(obj["protected"])
        payload = b64url_decode(obj["payload"])
        signature = b64url_decode(obj["signature"])
    except ValueError as exc:
        raise MalformedEnvelope(f"JWS member is not base64url: {exc}") from None
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, ValueError):
        raise MalformedEnvelope("protected header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedEnvelope("protected header is not a JSON object")
    if header.get("alg") != ALG:
        raise UnsupportedAlgorithm(f"alg {header.get('alg')!r} is not allowed; only {ALG}")
    crit = header.get("crit")
    if crit is not None:
        raise MalformedEnvelope(f"unsupported critical header parameters: {crit!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedEnvelope("protected header has no kid")
    signing_input = f"{obj['protected']}.{obj['payload']}".encode("ascii")
    return ParsedEnvelope(kid, header, signing_input, payload, signature)


def verify_signature(parsed: ParsedEnvelope, key: Ed25519PublicKey) -> None:
    if len(parsed.signature) != 64:
        raise BadSignature("Ed25519 signature must be 64 bytes")
    try:
        key.verify(parsed.signature, parsed.signing_input)
    except InvalidSignature:
        raise BadSignature(f"signature does not verify with key {parsed.kid}") from None


def verify_envelope(
    envelope: bytes,
    key_for_kid: Callable[[str], Ed25519PublicKey | None],
    *,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> ParsedEnvelope:
    """Parse and verify in one call; return the envelope with its payload bytes."""
    parsed = parse_envelope(envelope, max_bytes=max_bytes)
    key = key_for_kid(parsed.kid)
    if key is None:
        raise UnknownKey(f"kid {parsed.kid} is not enrolled")
    verify_signature(parsed, key)
    return parsed
