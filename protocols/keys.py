"""Ed25519 keys: private keys as PEM files readable only by their owner, public keys as JWK.

The ``kid`` of a public key is its RFC 7638 JWK thumbprint, so it is stable and anyone can
recompute it from the JWK alone. The file helpers here are the one small piece of I/O in
``protocols``: agent and collector must treat key files identically.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocols.errors import KeyFileError

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "b64url",
    "b64url_bytes",
    "b64url_decode",
    "generate_private_key",
    "jwk_thumbprint",
    "load_private_key",
    "load_public_jwk",
    "public_jwk",
    "public_key_from_jwk",
    "write_key_pair",
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: The standard alphabet's two letters mapped onto base64url's, for ``b64url_bytes``.
_STD_TO_URL = bytes.maketrans(b"+/", b"-_")


def b64url_bytes(data: bytes | memoryview) -> bytes:
    """``b64url(data)`` as ASCII bytes, with one copy less: ``=`` only ever occurs as
    padding, so deleting it while translating the alphabet is the same as stripping it."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_URL, b"=")


#: base64url's two letters mapped onto the standard alphabet's, for ``binascii``.
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); raises ``ValueError`` otherwise.

    Hot path of record builds and verification (hundreds of MB of payloads), hence one
    C-level translate and ``binascii``'s strict mode, which rejects any character outside
    the alphabet, instead of ``base64.b64decode(validate=True)``'s regular expression.
    """
    if not isinstance(text, str):
        raise ValueError("base64url value must be a string")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    if b"=" in raw or b"+" in raw or b"/" in raw:
        raise ValueError("not unpadded base64url")
    try:
        return binascii.a2b_base64(
            raw.translate(_URL_TO_STD) + b"=" * (-len(raw) % 4), strict_mode=True
        )
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an OKP/Ed25519 JWK: the key id."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("JWK must be an Ed25519 OKP key with kty, crv and x")
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(key: Ed25519PublicKey | Ed25519PrivateKey) -> dict[str, str]:
    """The public JWK with ``kid`` (thumbprint), ``alg`` and ``use`` set."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(_raw_public(pub))}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": "EdDSA", "use": "sig"}


def public_key_from_jwk(jwk: dict[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("only Ed25519 OKP keys are supported (kty OKP, crv Ed25519)")
    try:
        raw = b64url_decode(jwk["x"])
        return Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, ValueError) as exc:
        raise ValueError("JWK x is not a 32-byte base64url Ed25519 public key") from exc


def write_key_pair(
    out_dir: Path, *, name: str = "agent", overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``NAME.key`` (PKCS#8 PEM, mode 0600) and ``NAME.pub.jwk``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path = out_dir / f"{name}.key"
    jwk_path = out_dir / f"{name}.pub.jwk"
    if not overwrite:
        for p in (key_path, jwk_path):
            if p.exists():
                raise KeyFileError(f"{p} already exists; refusing to overwrite a key")
    key = generate_private_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    fd = os.open(key_path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(key_path, 0o600)
    jwk_path.write_text(json.dumps(public_jwk(key), indent=2) + "\n", encoding="utf-8")
    return key_path, jwk_path


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    """Load a PEM Ed25519 private key, refusing files that group or others can read."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} not found (create one with: mrv-agent keygen)"
        ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is accessible by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"key file {path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_jwk(path: Path | str) -> dict[str, str]:
    """Read a public JWK file and return it with its ``kid`` recomputed (never trusted)."""
    path = Path(path)
    try:
        jwk = json.loads(Path(path).read_text(encoding="utf-8"))
        public_key_from_jwk(jwk)
    except FileNotFoundError:
        raise KeyFileError(f"public key file {path} not found") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise KeyFileError(f"{path} is not an Ed25519 public JWK: {exc}") from exc
    base = {"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"]}
    kid = jwk_thumbprint(base)
    if "kid" in jwk and jwk["kid"] != kid:
        raise KeyFileError(f"{path}: kid {jwk['kid']!r} is not the key's RFC 7638 thumbprint")
    return {**base, "kid": kid, "alg": "EdDSA", "use": "sig"}
