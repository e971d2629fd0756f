"""A signed envelope kept compact and given back byte for byte: its protected header, its
64-byte signature and its payload bytes (not their base64) deflated, optionally against a
dictionary. Used where envelopes rest (the agent's outbox during an outage, the
collector's evidence store); the bytes signed and published are never changed.

Only an envelope in the form ``seal_pieces`` writes (``{"protected":…,"payload":…,
"signature":…}``, no whitespace) whose bytes come back exactly from its parts is packed;
any other is kept as received (``pack`` returns None).
"""

from __future__ import annotations

import struct
import zlib

from protocols.envelope import ENV_END as _ENV_END
from protocols.envelope import ENV_PAYLOAD as _ENV_PAYLOAD
from protocols.envelope import ENV_SIGNATURE as _ENV_SIGNATURE
from protocols.envelope import ENV_START as _ENV_START
from protocols.keys import b64url_bytes, b64url_decode

__all__ = ["PACKED_HEAD", "join", "pack", "split", "unpack"]

#: A packed envelope: its length, the length of its protected header, then the header,
#: the 64 signature bytes and the deflated payload.
PACKED_HEAD = struct.Struct(">IH")


def split(envelope: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(protected header text, payload bytes, signature bytes) of a flattened JWS in the
    form ``seal_pieces`` writes, if the envelope comes back byte for byte from them."""
    if not envelope.startswith(_ENV_START) or not envelope.endswith(_ENV_END):
        return None
    a = len(_ENV_START)
    b = envelope.find(_ENV_PAYLOAD, a)
    c = envelope.find(_ENV_SIGNATURE, b + 1)
    if b < 0 or c < 0:
        return None
    text = envelope[b + len(_ENV_PAYLOAD) : c]
    sig_text = envelope[c + len(_ENV_SIGNATURE) : -len(_ENV_END)]
    try:
        payload = b64url_decode(text.decode("ascii"))
        signature = b64url_decode(sig_text.decode("ascii"))
    except ValueError:
        return None
    # Strict decoding leaves one way to differ: unused bits set in the last characters;
    # the slices above are the envelope's own bytes, so encoding back the tails suffices.
    tail = len(payload) % 3 or 3
    if (
        len(signature) != 64
        or b64url_bytes(signature) != sig_text
        or not text.endswith(b64url_bytes(payload[-tail:]))
    ):
        return None
    return envelope[a:b], payload, signature


def join(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    return b"".join(
        (
            _ENV_START,
            protected,
            _ENV_PAYLOAD,
            b64url_bytes(payload),
            _ENV_SIGNATURE,
            b64url_bytes(signature),
            _ENV_END,
        )
    )


def pack(
    envelope: bytes, zdict: bytes | None = None, *, level: int = 6
) -> tuple[bytes, bytes] | None:
    """The packed form of ``envelope`` and its payload (None: keep it as it is)."""
    parts = split(envelope)
    if parts is None:
        return None
    protected, payload, signature = parts
    z = zlib.compressobj(level, zdict=zdict) if zdict else zlib.compressobj(level)
    body = z.compress(payload) + z.flush()
    head = PACKED_HEAD.pack(len(envelope), len(protected))
    return b"".join((head, protected, signature, body)), payload


def unpack(packed: bytes, zdict: bytes | None = None) -> bytes:
    """The envelope ``pack`` packed, byte for byte."""
    _, n = PACKED_HEAD.unpack_from(packed)
    at = PACKED_HEAD.size
    protected, signature = packed[at : at + n], packed[at + n : at + n + 64]
    z = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
    payload = z.decompress(packed[at + n + 64 :]) + z.flush()
    return join(protected, payload, signature)
