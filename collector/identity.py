"""The collector's own Ed25519 key: it signs acks (DESIGN.md "Delivery") and records.

``signing_key:`` in the config names it; without it the collector keeps one in its
``data_dir`` (``collector.key``, mode 0600, created on first start) and writes the public
JWK beside it (``collector.pub.jwk``): that file is what every agent's ``collector_key:``
points at.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from collector.config import CollectorConfig, ConfigError
from protocols.errors import KeyFileError
from protocols.keys import Ed25519PrivateKey, load_private_key, public_jwk, write_key_pair

KEY_NAME = "collector"


def key_path(cfg: CollectorConfig) -> Path:
    return cfg.signing_key or cfg.data_dir / f"{KEY_NAME}.key"


def public_jwk_path(cfg: CollectorConfig) -> Path:
    p = key_path(cfg)
    return p.with_name(p.name.removesuffix(".key") + ".pub.jwk")


def collector_key(cfg: CollectorConfig, *, create: bool = True) -> Ed25519PrivateKey:
    """Load the collector's key (creating the default one in ``data_dir`` when allowed);
    raise ``ConfigError`` naming the field and the fix."""
    path = key_path(cfg)
    if cfg.signing_key is None and not path.exists():
        if not create:
            raise ConfigError(
                f"signing_key: not set and {path} does not exist; start the collector once "
                "(it creates the key there) or set signing_key to an Ed25519 key file"
            )
        try:
            write_key_pair(path.parent, name=KEY_NAME)
        except (OSError, KeyFileError) as exc:
            raise ConfigError(f"signing_key: cannot create {path}: {exc}") from None
    try:
        key = load_private_key(path)
    except KeyFileError as exc:
        raise ConfigError(f"signing_key: {exc}") from None
    pub = public_jwk_path(cfg)
    if not pub.exists():
        # read-only next to a configured key: `mrv-collector key` prints it instead
        with contextlib.suppress(OSError):
            pub.write_text(json.dumps(public_jwk(key), indent=2) + "\n", encoding="utf-8")
    return key
