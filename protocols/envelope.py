"""The batch envelope: a JWS in flattened JSON serialization (RFC 7515 §7.2.2), EdDSA/Ed25519.

The payload bytes are signed once at the edge and carried verbatim forever. Verification is
split in steps (``parse_envelope`` then ``verify_signature``) so the collector can quarantine
each failure with its own reason, in the contract's order: size, structure, kid, signature.
"""

from __future__ import annotations

import hashlib
import json
import mmap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from protocols import strict_json
from protocols.errors import (
    BadSignature,
    EnvelopeTooLarge,
    MalformedEnvelope,
    StrictJsonError,
    UnknownKey,
    UnsupportedAlgorithm,
)
from protocols.keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    b64url,
    b64url_bytes,
    b64url_decode,
)

ALG = "EdDSA"
#: Largest envelope accepted by default (bytes). A batch of 5,000 readings is ≈ 0.6 MB.
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


def payload_hash(payload: bytes) -> str:
    """Chain hash of a batch: lowercase hex SHA-256 of the payload bytes."""
    return hashlib.sha256(payload).hexdigest()


def protected_header(kid: str) -> bytes:
    return json.dumps({"alg": ALG, "kid": kid}, separators=(",", ":")).encode("ascii")


#: Payload bytes base64-encoded per step (a multiple of 3: only the last step can need
#: padding, so the steps' encodings concatenate to the encoding of the whole).
_B64_STEP = 3 * 16384


def _b64url_into(buf: mmap.mmap, pos: int, pieces: Iterable[bytes]) -> int:
    """Write ``b64url(b"".join(pieces))`` into ``buf`` at ``pos``; return the end position."""
    rest = b""  # 0–2 bytes carried to the next piece, so every step is a multiple of 3
    for piece in pieces:
        view = memoryview(piece)
        if rest:
            need = 3 - len(rest)
            if len(view) < need:
                rest += view.tobytes()
                continue
            group = b64url_bytes(rest + view[:need].tobytes())
            buf[pos : pos + 4] = group
            pos += 4
            view = view[need:]
        whole = len(view) - len(view) % 3
        for i in range(0, whole, _B64_STEP):
            chunk = b64url_bytes(view[i : min(i + _B64_STEP, whole)])
            buf[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
        rest = view[whole:].tobytes()
    if rest:
        chunk = b64url_bytes(rest)
        buf[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    return pos


#: The flattened JWS JSON exactly as we write it, in four pieces around the protected
#: header, payload and signature text (``_sealed_parts``, ``protocols.packed`` and the
#: record's quick envelope read take this layout apart).
ENV_START = b'{"protected":"'
ENV_PAYLOAD = b'","payload":"'
ENV_SIGNATURE = b'","signature":"'
ENV_END = b'"}'


def _flattened(header: bytes | memoryview, body: bytes | memoryview, signature: bytes) -> bytes:
    """The envelope of base64url ``header`` and ``body`` and the raw ``signature``."""
    return b"".join(
        (ENV_START, header, ENV_PAYLOAD, body, ENV_SIGNATURE, b64url_bytes(signature), ENV_END)
    )


def seal_pieces(pieces: list[bytes], key: Ed25519PrivateKey, kid: str) -> tuple[str, bytes]:
    """``(payload_hash(p), sign_envelope(p, key, kid))`` of ``p = b"".join(pieces)``, without
    ever joining the payload; ``pieces`` is emptied once encoded (its bytes are not needed).

    A 5,000-reading payload is ~0.4 MB and its base64 ~0.55 MB. The signing input
    ``BASE64URL(header) "." BASE64URL(payload)`` (RFC 7515 §5.1) is encoded step by step
    into an anonymous memory map of its final size, unmapped as soon as the envelope is
    made: its pages go back to the system at once instead of staying in the allocator's
    free lists, and neither a joined payload nor an intermediate base64 copy ever exists.
    """
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    protected = b64url(protected_header(kid)).encode("ascii")
    dot = len(protected)
    size = dot + 1 + (4 * sum(len(p) for p in pieces) + 2) // 3  # unpadded base64
    buf = mmap.mmap(-1, size)
    try:
        buf[:dot] = protected
        buf[dot : dot + 1] = b"."
        end = _b64url_into(buf, dot + 1, pieces)
        assert end == size
        pieces.clear()
        with memoryview(buf) as view:
            signature = key.sign(view)
            header, body = view[:dot], view[dot + 1 :]
            envelope = _flattened(header, body, signature)
            header.release()
            body.release()
    finally:
        buf.close()
    return digest.hexdigest(), envelope


#: Below this many payload bytes ``sign_envelope`` joins in memory (an ack, a status): the
#: memory map of ``seal_pieces`` only pays for itself on large batches.
_SMALL_PAYLOAD = 64 * 1024


def sign_envelope(
    payload: bytes, key: Ed25519PrivateKey, kid: str, *, protected: bytes | None = None
) -> bytes:
    """Sign ``payload`` and return the flattened JWS JSON, as bytes ready to publish.

    ``protected``: ``b64url(protected_header(kid))`` as bytes, when the caller signs many
    small payloads with one key (the collector's acks) and has it at hand."""
    if len(payload) >= _SMALL_PAYLOAD:
        return seal_pieces([payload], key, kid)[1]
    if protected is None:
        protected = b64url(protected_header(kid)).encode("ascii")
    body = b64url_bytes(payload)
    return _flattened(protected, body, key.sign(b"".join((protected, b".", body))))


@dataclass(frozen=True, slots=True)
class ParsedEnvelope:
    """A structurally valid envelope whose signature is not yet checked."""

    kid: str
    header: dict[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def _sealed_parts(
    envelope: bytes, signing_input: bool = True
) -> tuple[bytes, bytes, bytes, bytes] | None:
    """(header, payload, signature, signing input) of an envelope in exactly the form
    ``seal_pieces`` writes, else None (then the full parse decides, with its own reason).
    ``signing_input=False``: ``b""`` in its place (a reader that checks no signature).

    Each member's text must be strict base64url, so none holds a quote or a backslash:
    the bytes are then that one JSON object, and the text need not be parsed as JSON."""
    if (
        type(envelope) is not bytes
        or not envelope.startswith(ENV_START)
        or not envelope.endswith(ENV_END)
    ):
        return None
    a = len(ENV_START)
    b = envelope.find(ENV_PAYLOAD, a)
    if b < 0:
        return None
    c = envelope.find(ENV_SIGNATURE, b + len(ENV_PAYLOAD))
    if c < 0:
        return None
    protected = envelope[a:b]
    body = envelope[b + len(ENV_PAYLOAD) : c]
    try:
        header = b64url_decode(protected.decode("ascii"))
        payload = b64url_decode(body.decode("ascii"))
        signature = b64url_decode(envelope[c + len(ENV_SIGNATURE) : -len(ENV_END)].decode("ascii"))
    except ValueError:  # UnicodeDecodeError included
        return None
    return header, payload, signature, b"".join((protected, b".", body)) if signing_input else b""


def parse_envelope(envelope: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> ParsedEnvelope:
    """Check size and JWS structure; raise a specific ``EnvelopeError`` on the first fault."""
    if len(envelope) > max_bytes:
        raise EnvelopeTooLarge(f"envelope of {len(envelope)} bytes exceeds the {max_bytes} limit")
    parts = _sealed_parts(envelope)
    if parts is None:
        parts = _parts(envelope)
    header_bytes, payload, signature, signing_input = parts
    try:
        header = strict_json.loads(header_bytes)
    except StrictJsonError as exc:
        raise type(exc)(f"protected header: {exc}") from None
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
    return ParsedEnvelope(kid, header, signing_input, payload, signature)


def _parts(envelope: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """What ``_sealed_parts`` gives, for any envelope: parsed as strict JSON and checked
    member by member (each fault with its reason)."""
    try:
        obj = strict_json.loads(envelope)
    except StrictJsonError as exc:
        raise type(exc)(f"envelope: {exc}") from None
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
    signing_input = f"{obj['protected']}.{obj['payload']}".encode("ascii")
    return header_bytes, payload, signature, signing_input


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
