"""Errors shared by agent, collector and verifier.

Each rejection carries a short machine ``reason`` (stored with quarantined messages and shown
by ``mrv-collector status``) and a sentence a person can act on.
"""

from __future__ import annotations


class MrvError(Exception):
    """Base of every Plant MRV error; ``reason`` is a stable machine-readable code."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class InvalidId(MrvError):
    reason = "invalid_id"


class EnvelopeError(MrvError):
    """A batch envelope that must not be accepted."""

    reason = "malformed"


class EnvelopeTooLarge(EnvelopeError):
    reason = "too_large"


class MalformedEnvelope(EnvelopeError):
    reason = "malformed"


class UnsupportedAlgorithm(EnvelopeError):
    reason = "bad_alg"


class UnknownKey(EnvelopeError):
    reason = "unknown_kid"


class KeyNotBound(EnvelopeError):
    """The kid is enrolled, but for another site/agent than the topic or payload names."""

    reason = "kid_mismatch"


class BadSignature(EnvelopeError):
    reason = "bad_signature"


class PayloadInvalid(EnvelopeError):
    reason = "schema"


class KeyFileError(MrvError):
    reason = "key_file"


class StrictJsonError(EnvelopeError):
    """JSON the wire contract does not allow (see ``protocols.strict_json``)."""

    reason = "malformed"


class JsonSyntaxError(StrictJsonError, MalformedEnvelope):
    """Not JSON at all (or not UTF-8)."""

    reason = "malformed"


class JsonTooLarge(StrictJsonError):
    reason = "too_large"


class JsonTooDeep(StrictJsonError):
    reason = "too_deep"


class DuplicateMember(StrictJsonError):
    reason = "duplicate_member"


class NonFiniteNumber(StrictJsonError):
    reason = "non_finite"


class NumberOutOfRange(StrictJsonError):
    reason = "number_range"


class WrongType(PayloadInvalid):
    """A value of another JSON type than the contract says (e.g. the string "420.5")."""

    reason = "wrong_type"


class FieldOutOfRange(PayloadInvalid):
    """An integer outside its field's range (a count of 2^53, seq 0)."""

    reason = "number_range"
