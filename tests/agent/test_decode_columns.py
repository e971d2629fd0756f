"""A response whose points are all plain is decoded by one struct call: the readings are
exactly those of decoding point by point, and a NaN, a limit or a swap takes that path.
From the lean client's data bytes (``decode_data``) the readings are the same again."""

from __future__ import annotations

import struct
from typing import Any

from agent.config import DeviceConfig
from agent.drivers import DeviceState
from agent.drivers.modbus import decode_data, decode_into
from agent.plan import plan_requests
from protocols.modbus_codec import encode


def _device(points: list[dict[str, Any]]) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {"name": "d", "host": "127.0.0.1", "port": 502, "points": points}
    )


def _registers(dev: DeviceConfig, values: dict[str, float]) -> list[int]:
    regs = [0] * 40
    for p in dev.points:
        raw = encode(values[p.id], p.type, p.byte_order, scale=p.scale, offset=p.offset)
        regs[p.address : p.address + len(raw)] = raw
    return regs


def _both(dev: DeviceConfig, regs: list[int]) -> tuple[list[Any], list[Any], bool]:
    (req,) = plan_requests(dev, dev.points)
    words = regs[req.address : req.address + req.count]
    data = struct.pack(f">{len(words)}H", *words)
    fast: list[Any] = []
    decode_into(fast, req, words, 7, DeviceState())
    from_bytes: list[Any] = []
    decode_data(from_bytes, req, data, 7, DeviceState())
    columns, req.columns = req.columns is not None, None
    slow: list[Any] = []
    decode_into(slow, req, words, 7, DeviceState())
    slow_bytes: list[Any] = []
    decode_data(slow_bytes, req, data, 7, DeviceState())
    assert from_bytes == fast and slow_bytes == slow
    return fast, slow, columns


POINTS = [
    {"id": "u16", "address": 0, "type": "UINT16"},
    {"id": "i16", "address": 1, "type": "INT16", "byte_order": "CDAB"},
    {"id": "f32", "address": 2, "type": "FLOAT32"},
    {"id": "i32", "address": 5, "type": "INT32"},  # a one-register hole before it
    {"id": "f64", "address": 7, "type": "FLOAT64"},
    {"id": "u64", "address": 11, "type": "UINT64"},
]
VALUES = {"u16": 65535, "i16": -2, "f32": 421.08313, "i32": -70000, "f64": 0.1, "u64": 2**60}


def test_plain_points_are_decoded_in_one_call_as_point_by_point() -> None:
    dev = _device([{**p, "table": "holding"} for p in POINTS])
    dev.quirks.gap_fill = 1
    fast, slow, columns = _both(dev, _registers(dev, VALUES))
    assert columns
    assert fast == slow
    assert [(r[0], r[2], type(r[2])) for r in fast] == [
        (k, v if k != "f32" else struct.unpack(">f", struct.pack(">f", v))[0], type(v))
        for k, v in VALUES.items()
    ]


def test_a_nan_is_still_a_bad_reading() -> None:
    dev = _device([{**p, "table": "holding"} for p in POINTS])
    dev.quirks.gap_fill = 1
    fast, slow, _ = _both(dev, _registers(dev, {**VALUES, "f32": float("nan")}))
    assert fast == slow
    assert [r[2:5] for r in fast if r[0] == "f32"] == [(None, "bad", "not_finite")]


def test_points_with_limits_scale_or_swapped_words_decode_one_by_one() -> None:
    for extra in ({"max": 10.0}, {"scale": 0.1}, {"byte_order": "CDAB"}, {"frozen_polls": 3}):
        a = {"id": "a", "table": "holding", "address": 0, "type": "FLOAT32", **extra}
        pts = [a, POINTS[0] | {"table": "holding", "address": 2}]
        dev = _device(pts)
        fast, slow, columns = _both(dev, _registers(dev, {"a": 12.5, "u16": 3}))
        assert not columns and fast == slow, extra


def test_coils_from_packed_bytes_are_the_bits_read_one_by_one() -> None:
    bits = [1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1]  # 11 coils: two data bytes
    dev = _device([{"id": f"c{i}", "table": "coil", "address": i} for i in range(len(bits))])
    (req,) = plan_requests(dev, dev.points)
    packed = bytes(
        [sum(b << i for i, b in enumerate(bits[:8])), sum(b << i for i, b in enumerate(bits[8:]))]
    )
    from_bytes: list[Any] = []
    decode_data(from_bytes, req, packed, 7, DeviceState())
    from_bits: list[Any] = []
    decode_into(from_bits, req, bits, 7, DeviceState())
    assert from_bytes == from_bits
    assert [r[2] for r in from_bytes] == bits
