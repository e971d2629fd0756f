"""Keys (RFC 7638 kid, file modes), topics and ids, payload validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from protocols.errors import EnvelopeError, InvalidId, KeyFileError, PayloadInvalid
from protocols.ids import validate_id
from protocols.keys import (
    jwk_thumbprint,
    load_private_key,
    load_public_jwk,
    public_jwk,
    write_key_pair,
)
from protocols.payload import encode_payload, parse_payload
from protocols.topics import ack_topic, data_topic, parse_topic, shared, status_topic


def test_kid_is_rfc7638_thumbprint_rfc8037_vector() -> None:
    # RFC 8037 Appendix A.3: the JWK thumbprint of the A.2 Ed25519 public key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_key_pair_files_and_modes(tmp_path: Path) -> None:
    key_path, jwk_path = write_key_pair(tmp_path / "k")
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    key = load_private_key(key_path)
    jwk = load_public_jwk(jwk_path)
    assert jwk == public_jwk(key)
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_pair(tmp_path / "k")


def test_refuses_key_file_others_can_read(tmp_path: Path) -> None:
    key_path, _ = write_key_pair(tmp_path)
    os.chmod(key_path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_private_key(key_path)


def test_key_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        load_private_key(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_private_key(bad)
    _, jwk_path = write_key_pair(tmp_path / "j")
    jwk = json.loads(jwk_path.read_text())
    jwk_path.write_text(json.dumps({**jwk, "kid": "forged"}))
    with pytest.raises(KeyFileError, match="thumbprint"):
        load_public_jwk(jwk_path)


def test_topics_round_trip() -> None:
    assert data_topic("s1", "a-1") == "mrv/v1/s1/a-1/data"
    assert status_topic("s1", "a_1") == "mrv/v1/s1/a_1/status"
    assert ack_topic("S", "A") == "mrv/v1/S/A/ack"
    t = parse_topic("mrv/v1/smelter-1/potline-a/data")
    assert (t.site, t.agent, t.kind) == ("smelter-1", "potline-a", "data")
    assert shared("mrv/v1/+/+/data", "collectors") == "$share/collectors/mrv/v1/+/+/data"


@pytest.mark.parametrize(
    "bad", ["", "a" * 65, "has space", "slash/x", "plus+", "hash#", "ünïcode", "dot.x"]
)
def test_invalid_ids_rejected(bad: str) -> None:
    with pytest.raises(InvalidId, match="not valid"):
        validate_id(bad, "site id")
    with pytest.raises(InvalidId):
        data_topic(bad, "agent")


@pytest.mark.parametrize(
    "topic",
    ["mrv/v2/s/a/data", "mrv/v1/s/a/other", "mrv/v1/s/a", "x/v1/s/a/data", "mrv/v1/s/+/data"],
)
def test_unparseable_topics(topic: str) -> None:
    with pytest.raises(InvalidId):
        parse_topic(topic)


def _batch(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "site": "s1",
        "agent": "a1",
        "seq": 1,
        "prev": None,
        "created": 1_760_000_000_000,
        "clock": {"source": "system", "synced": True},
        "readings": [
            {"id": "line_current_ka", "ts": 1_760_000_000_000, "value": 430.0, "quality": "good"},
            {
                "id": "cell_01_voltage_v",
                "ts": 1_760_000_000_000,
                "value": None,
                "quality": "bad",
                "reason": "timeout",
            },
        ],
        "events": [{"type": "anode_effect", "cell": 3, "start": 1, "end": 90_001, "peak_v": 31.2}],
    }
    base.update(over)
    return base


def test_valid_payload_parses() -> None:
    payload = parse_payload(encode_payload(_batch()))
    assert payload.seq == 1 and payload.readings[1].reason == "timeout"


@pytest.mark.parametrize(
    ("over", "where"),
    [
        ({"v": 3}, "v"),
        ({"site": "bad site"}, "site"),
        ({"seq": 0}, "seq"),
        ({"seq": 2}, "prev"),
        ({"prev": "ab" * 32}, "prev"),
        ({"readings": [{"id": "x", "ts": 1, "value": 1, "quality": "bad"}]}, "readings"),
        (
            {"readings": [{"id": "x", "ts": 1, "value": "high", "quality": "good"}]},
            "readings.0.value",  # no coercion: a string is never a number (wrong_type)
        ),
        ({"events": [{"type": "anode_effect", "cell": 1}]}, "events.0"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_payload_names_the_field(over: dict[str, object], where: str) -> None:
    with pytest.raises(PayloadInvalid, match=where) as info:
        parse_payload(encode_payload(_batch(**over)))
    want = {"readings.0.value": "wrong_type", "seq": "number_range"}.get(where, "schema")
    assert info.value.reason == want


def test_payload_not_json() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_payload(b"\xff\xfe")
    assert info.value.reason == "malformed"


def test_encode_payload_refuses_nan() -> None:
    with pytest.raises(ValueError):
        encode_payload({"x": float("nan")})
