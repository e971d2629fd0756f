"""The collector's signed acknowledgement (DESIGN.md "Wire contract", topic ``.../ack``).

An ack is a flattened JWS (EdDSA), signed with the collector's key, over
``{"v":1, "site", "agent", "through", "hash", "at"}``: every batch ≤ ``through`` is durably
stored and ``hash`` is the SHA-256 of the payload stored at ``through``. An agent deletes
batches only on an ack it could verify (``verify_ack``) with the collector key it was
configured with, that names its own site and agent; so anyone who can publish on the broker
can no longer make an agent drop its outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols import strict_json
from protocols.envelope import parse_envelope, protected_header, sign_envelope, verify_signature
from protocols.errors import EnvelopeError, MrvError
from protocols.keys import Ed25519PrivateKey, Ed25519PublicKey, b64url, public_jwk
from protocols.wire import encode_payload

ACK_VERSION = 1
#: An ack is small; anything larger on the ack topic is not one.
MAX_ACK_BYTES = 4096

__all__ = ["ACK_VERSION", "Ack", "AckRejected", "AckSigner", "sign_ack", "verify_ack"]


class AckRejected(MrvError):
    """A message on the ack topic that must not be trusted; ``reason`` says why."""

    reason = "ack_invalid"


@dataclass(frozen=True, slots=True)
class Ack:
    site: str
    agent: str
    through: int
    hash: str
    at: int

    def payload(self) -> bytes:
        return encode_payload(
            {
                "v": ACK_VERSION,
                "site": self.site,
                "agent": self.agent,
                "through": self.through,
                "hash": self.hash,
                "at": self.at,
            }
        )


def sign_ack(ack: Ack, key: Ed25519PrivateKey) -> bytes:
    """The flattened JWS to publish (retained) on the agent's ack topic."""
    return AckSigner(key).sign(ack)


class AckSigner:
    """Signs acks with one key: its kid and protected header are worked out once, not per
    ack (one Ed25519 signature per ack remains: every ack is signed)."""

    __slots__ = ("_key", "_protected", "kid")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.kid: str = public_jwk(key)["kid"]
        self._protected = b64url(protected_header(self.kid)).encode("ascii")

    def sign(self, ack: Ack) -> bytes:
        """What ``sign_ack(ack, key)`` gives, byte for byte."""
        return sign_envelope(ack.payload(), self._key, self.kid, protected=self._protected)


def _is_int(x: object) -> bool:
    return type(x) is int


def verify_ack(data: bytes, key: Ed25519PublicKey, kid: str, *, site: str, agent: str) -> Ack:
    """Verify an ack for ``site``/``agent`` with the collector's key; raise ``AckRejected``
    (reasons ``unsigned``, ``bad_signature``, ``wrong_key``, ``invalid``, ``other_agent``)."""
    try:
        parsed = parse_envelope(data, max_bytes=MAX_ACK_BYTES)
    except EnvelopeError as exc:
        raise AckRejected(f"not a signed ack: {exc}", reason="unsigned") from None
    if parsed.kid != kid:
        raise AckRejected(
            f"ack signed by key {parsed.kid}, not the configured collector key {kid}",
            reason="wrong_key",
        )
    try:
        verify_signature(parsed, key)
    except EnvelopeError as exc:
        raise AckRejected(f"ack signature: {exc}", reason="bad_signature") from None
    try:
        obj = strict_json.loads(parsed.payload)
    except EnvelopeError as exc:
        raise AckRejected(f"ack payload: {exc}", reason="invalid") from None
    fields = ("v", "site", "agent", "through", "hash", "at")
    if not isinstance(obj, dict) or set(obj) != set(fields):
        raise AckRejected(f"ack payload must hold exactly {', '.join(fields)}", reason="invalid")
    h = obj["hash"]
    if (
        obj["v"] != ACK_VERSION
        or not _is_int(obj["v"])
        or not _is_int(obj["through"])
        or obj["through"] < 1
        or not _is_int(obj["at"])
        or not isinstance(h, str)
        or len(h) != 64
        or h.strip("0123456789abcdef")
    ):
        raise AckRejected("ack payload has a field of the wrong type or range", reason="invalid")
    if (obj["site"], obj["agent"]) != (site, agent):
        raise AckRejected(
            f"ack names {obj['site']}/{obj['agent']}, not this agent ({site}/{agent})",
            reason="other_agent",
        )
    return Ack(site, agent, obj["through"], h, obj["at"])
