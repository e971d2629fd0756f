"""The batch envelope interoperates with an independent JOSE library and rejects tampering."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OKPKey

from protocols.envelope import (
    MAX_ENVELOPE_BYTES,
    parse_envelope,
    payload_hash,
    sign_envelope,
    verify_envelope,
)
from protocols.errors import (
    BadSignature,
    EnvelopeError,
    EnvelopeTooLarge,
    MalformedEnvelope,
    UnknownKey,
    UnsupportedAlgorithm,
)
from protocols.keys import (
    Ed25519PublicKey,
    b64url,
    b64url_decode,
    generate_private_key,
    public_jwk,
    public_key_from_jwk,
)
from protocols.payload import encode_payload

# joserfc warns that "EdDSA" is superseded by the fully specified "Ed25519" (RFC 9864);
# the wire contract fixes "EdDSA", which every JOSE library still verifies.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _payload(seq: int = 1) -> bytes:
    return encode_payload(
        {
            "v": 1,
            "site": "smelter-1",
            "agent": "potline-a",
            "seq": seq,
            "prev": None,
            "created": 1_760_000_000_000,
            "clock": {"source": "system", "synced": True},
            "readings": [{"id": "line_current_ka", "ts": 1, "value": 431.5, "quality": "good"}],
            "events": [],
        }
    )


@pytest.fixture
def key():  # type: ignore[no-untyped-def]
    return generate_private_key()


def _lookup(key):  # type: ignore[no-untyped-def]
    kid = public_jwk(key)["kid"]
    pub = key.public_key()

    def find(k: str) -> Ed25519PublicKey | None:
        return pub if k == kid else None

    return kid, find


def test_our_envelope_verifies_with_joserfc(key) -> None:  # type: ignore[no-untyped-def]
    kid, _ = _lookup(key)
    envelope = sign_envelope(_payload(), key, kid)
    jwk = OKPKey.import_key(public_jwk(key))
    result = jws.deserialize_json(json.loads(envelope), jwk, algorithms=["EdDSA"])
    assert result.payload == _payload()
    assert result.headers() == {"alg": "EdDSA", "kid": kid}


def test_joserfc_envelope_verifies_here() -> None:
    theirs = OKPKey.generate_key("Ed25519", private=True)
    pub_jwk = theirs.as_dict(private=False)
    ours = public_key_from_jwk(pub_jwk)
    kid = public_jwk(ours)["kid"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flattened = jws.serialize_json(
            {"protected": {"alg": "EdDSA", "kid": kid}}, _payload(), theirs, algorithms=["EdDSA"]
        )
    parsed = verify_envelope(json.dumps(flattened).encode(), lambda k: ours if k == kid else None)
    assert parsed.payload == _payload()
    assert parsed.kid == kid


def test_flipping_any_byte_of_any_member_fails(key) -> None:  # type: ignore[no-untyped-def]
    kid, find = _lookup(key)
    envelope = json.loads(sign_envelope(_payload(), key, kid))
    checked = 0
    for member in ("protected", "payload", "signature"):
        raw = bytearray(b64url_decode(envelope[member]))
        for i in range(len(raw)):
            tampered = bytearray(raw)
            tampered[i] ^= 0x01
            forged = dict(envelope, **{member: b64url(bytes(tampered))})
            with pytest.raises(EnvelopeError):
                verify_envelope(json.dumps(forged).encode(), find)
            checked += 1
    assert checked > 100


def test_payload_hash_is_sha256_hex_of_payload_bytes(key) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    kid, find = _lookup(key)
    parsed = verify_envelope(sign_envelope(_payload(), key, kid), find)
    assert payload_hash(parsed.payload) == hashlib.sha256(_payload()).hexdigest()


@pytest.mark.parametrize(
    ("envelope", "error", "message"),
    [
        (b"\x00\xffgarbage", MalformedEnvelope, "not JSON"),
        (b"[1, 2]", MalformedEnvelope, "not a JSON object"),
        (b'{"payload": "e30"}', MalformedEnvelope, "protected"),
        (
            b'{"protected": "e30", "payload": "e30", "signature": "!!"}',
            MalformedEnvelope,
            "base64url",
        ),
        (
            b'{"protected": "'
            + b64url(b'{"alg":"HS256","kid":"k"}').encode()
            + b'", "payload": "e30", "signature": "AA"}',
            UnsupportedAlgorithm,
            "HS256",
        ),
        (
            b'{"protected": "'
            + b64url(b'{"alg":"none"}').encode()
            + b'", "payload": "e30", "signature": ""}',
            UnsupportedAlgorithm,
            "none",
        ),
        (
            b'{"protected": "'
            + b64url(b'{"alg":"EdDSA"}').encode()
            + b'", "payload": "e30", "signature": "AA"}',
            MalformedEnvelope,
            "no kid",
        ),
    ],
)
def test_bad_envelopes_raise_specific_errors(
    envelope: bytes, error: type[EnvelopeError], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_envelope(envelope)


def test_unknown_kid_and_wrong_key(key) -> None:  # type: ignore[no-untyped-def]
    kid, _ = _lookup(key)
    envelope = sign_envelope(_payload(), key, kid)
    with pytest.raises(UnknownKey, match="not enrolled") as info:
        verify_envelope(envelope, lambda k: None)
    assert info.value.reason == "unknown_kid"
    other = generate_private_key().public_key()
    with pytest.raises(BadSignature) as info2:
        verify_envelope(envelope, lambda k: other)
    assert info2.value.reason == "bad_signature"


def test_oversized_envelope_rejected_before_parsing() -> None:
    with pytest.raises(EnvelopeTooLarge, match="exceeds") as info:
        parse_envelope(b" " * (MAX_ENVELOPE_BYTES + 1))
    assert info.value.reason == "too_large"
    with pytest.raises(EnvelopeTooLarge):
        parse_envelope(b"{}" * 100, max_bytes=100)


@pytest.mark.parametrize("length", range(0, 70))
def test_b64url_decode_round_trips_every_length(length: int) -> None:
    data = bytes((i * 37 + length) % 256 for i in range(length))
    assert b64url_decode(b64url(data)) == data


@pytest.mark.parametrize(
    "text",
    ["a", "abcde", "AA==", "AA=", "a+bc", "a/bc", "ab c", "ab\n", "ab.c", "äbcd", "AB\x00C"],
)
def test_b64url_decode_rejects_anything_but_unpadded_base64url(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def _reference_envelope(payload: bytes, key, kid: str) -> bytes:  # type: ignore[no-untyped-def]
    """The envelope as RFC 7515 §7.2.2 spells it, built the obvious way."""
    protected = b64url(json.dumps({"alg": "EdDSA", "kid": kid}, separators=(",", ":")).encode())
    body = b64url(payload)
    signature = b64url(key.sign(f"{protected}.{body}".encode("ascii")))
    return json.dumps(
        {"protected": protected, "payload": body, "signature": signature}, separators=(",", ":")
    ).encode("ascii")


def test_envelope_bytes_equal_the_obvious_construction(key) -> None:  # type: ignore[no-untyped-def]
    """sign_envelope builds the envelope in one buffer; the bytes must not change."""
    import random

    from protocols.envelope import _B64_STEP, _SMALL_PAYLOAD, seal_pieces

    kid, _ = _lookup(key)
    rng = random.Random(7)
    sizes = [0, 1, 2, 3, 4, 5, 100, _B64_STEP - 1, _B64_STEP, _B64_STEP + 1, 2 * _B64_STEP + 2]
    sizes += [_SMALL_PAYLOAD - 1, _SMALL_PAYLOAD, _SMALL_PAYLOAD + 1]  # joined / memory map
    for size in [*sizes, 420_183]:
        payload = rng.randbytes(size)
        expected = _reference_envelope(payload, key, kid)
        assert sign_envelope(payload, key, kid) == expected, size
        for _ in range(4):  # any split of the payload into pieces seals to the same bytes
            cuts = sorted(rng.randrange(size + 1) for _ in range(rng.randrange(6)))
            pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, size], strict=True)]
            assert seal_pieces(pieces, key, kid) == (payload_hash(payload), expected), cuts
            assert pieces == []  # consumed


@pytest.mark.parametrize("length", range(0, 70))
def test_b64url_bytes_is_b64url_as_ascii(length: int) -> None:
    from protocols.keys import b64url_bytes

    data = bytes((i * 151 + length) % 256 for i in range(length))
    assert b64url_bytes(data) == b64url(data).encode("ascii")


def test_ack_signer_signs_what_sign_ack_signs_and_it_verifies(key) -> None:  # type: ignore[no-untyped-def]
    """The collector's ``AckSigner`` (kid and header worked out once) gives the bytes of
    ``sign_ack``, which an agent verifies; every ack is still signed on its own."""
    from protocols.ack import Ack, AckSigner, sign_ack, verify_ack

    kid, _ = _lookup(key)
    signer = AckSigner(key)
    assert signer.kid == kid
    for ack in (Ack("smelter-1", "potline-a", 1, "a" * 64, 0),
                Ack("s_2", "A-9", 2**53 - 1, "0123456789abcdef" * 4, 1_796_000_000_000)):  # fmt: skip
        body = signer.sign(ack)
        assert body == sign_ack(ack, key) == _reference_envelope(ack.payload(), key, kid)
        assert verify_ack(body, key.public_key(), kid, site=ack.site, agent=ack.agent) == ack


_SEALED_KEY = generate_private_key()
_SEALED = sign_envelope(_payload(), _SEALED_KEY, public_jwk(_SEALED_KEY)["kid"])


def _outcome(env: bytes) -> object:
    try:
        p = parse_envelope(env)
    except EnvelopeError as exc:
        return (type(exc), exc.reason, str(exc))
    return p


@settings(max_examples=400, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(_SEALED)),
            st.integers(0, 3),
            st.sampled_from([b" ", b"\\", b'"', b"A", b"=", b"+", b"\xff", b",", b"\\u0041"]),
        ),
        max_size=3,
    )
)
def test_sealed_form_shortcut_decides_as_the_full_parse(
    edits: list[tuple[int, int, bytes]],
) -> None:
    """``parse_envelope`` skips the JSON parse for an envelope in exactly the form
    ``seal_pieces`` writes; for any envelope, altered or not, it returns or raises what the
    full parse does, with the same reason and message."""
    import protocols.envelope as envelope

    env = _SEALED
    for at, cut, text in edits:
        env = env[:at] + text + env[at + cut :]
    fast = _outcome(env)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(envelope, "_sealed_parts", lambda _: None)
        full = _outcome(env)
    assert fast == full


def test_an_envelope_as_sealed_takes_the_shortcut() -> None:
    import protocols.envelope as envelope

    parts = envelope._sealed_parts(_SEALED)
    assert parts is not None and parts == envelope._parts(_SEALED)
    spaced = _SEALED.replace(b'","payload"', b'", "payload"')
    assert envelope._sealed_parts(spaced) is None
    assert parse_envelope(spaced) == parse_envelope(_SEALED)  # the full parse takes it
