"""The Modbus codec: known vectors, round trips for every type × byte order, clear errors."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.modbus_codec import (
    ByteOrder,
    CodecError,
    DataType,
    decode,
    decoder,
    encode,
    register_count,
)

INT_BOUNDS = {
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT64: (0, 2**64 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
}


def test_known_vectors_big_endian() -> None:
    assert encode(230.5, DataType.FLOAT32) == [0x4366, 0x8000]
    assert encode(123456789, DataType.UINT32) == [0x075B, 0xCD15]
    assert decode([0x4366, 0x8000], "FLOAT32", "ABCD") == 230.5
    assert decode([0x075B, 0xCD15], "UINT32", "ABCD") == 123456789


@pytest.mark.parametrize(
    ("order", "regs"),
    [
        (ByteOrder.ABCD, [0x0102, 0x0304]),
        (ByteOrder.DCBA, [0x0403, 0x0201]),
        (ByteOrder.BADC, [0x0201, 0x0403]),
        (ByteOrder.CDAB, [0x0304, 0x0102]),
    ],
)
def test_32_bit_orders_place_bytes_as_named(order: ByteOrder, regs: list[int]) -> None:
    assert encode(0x01020304, DataType.UINT32, order) == regs
    assert decode(regs, DataType.UINT32, order) == 0x01020304


@pytest.mark.parametrize(
    ("order", "regs"),
    [
        (ByteOrder.ABCD, [0x0102, 0x0304, 0x0506, 0x0708]),
        (ByteOrder.DCBA, [0x0807, 0x0605, 0x0403, 0x0201]),
        (ByteOrder.BADC, [0x0201, 0x0403, 0x0605, 0x0807]),
        (ByteOrder.CDAB, [0x0708, 0x0506, 0x0304, 0x0102]),
    ],
)
def test_64_bit_orders_extend_the_usual_way(order: ByteOrder, regs: list[int]) -> None:
    assert encode(0x0102030405060708, DataType.UINT64, order) == regs
    assert decode(regs, DataType.UINT64, order) == 0x0102030405060708


def test_16_bit_byte_swap_orders() -> None:
    assert encode(0x1234, DataType.UINT16, ByteOrder.ABCD) == [0x1234]
    assert encode(0x1234, DataType.UINT16, ByteOrder.CDAB) == [0x1234]
    assert encode(0x1234, DataType.UINT16, ByteOrder.DCBA) == [0x3412]
    assert encode(0x1234, DataType.UINT16, ByteOrder.BADC) == [0x3412]
    assert decode([0xFFFE], DataType.INT16) == -2


@given(data=st.data(), order=st.sampled_from(list(ByteOrder)))
def test_integer_round_trip_every_type_and_order(data: st.DataObject, order: ByteOrder) -> None:
    dtype = data.draw(st.sampled_from(list(INT_BOUNDS)))
    lo, hi = INT_BOUNDS[dtype]
    value = data.draw(st.integers(lo, hi))
    regs = encode(value, dtype, order)
    assert len(regs) == register_count(dtype)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode(regs, dtype, order) == value
    assert decoder(dtype, order)(regs) == value


@given(value=st.floats(allow_nan=False, width=32), order=st.sampled_from(list(ByteOrder)))
def test_float32_round_trip(value: float, order: ByteOrder) -> None:
    assert decode(encode(value, DataType.FLOAT32, order), DataType.FLOAT32, order) == value


@given(value=st.floats(allow_nan=False), order=st.sampled_from(list(ByteOrder)))
def test_float64_round_trip(value: float, order: ByteOrder) -> None:
    assert decode(encode(value, DataType.FLOAT64, order), DataType.FLOAT64, order) == value


def test_float_nan_survives() -> None:
    assert math.isnan(decode(encode(math.nan, "FLOAT32"), "FLOAT32"))  # type: ignore[arg-type]


@given(
    raw=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.001, 0.01, 0.1, 1.0, 10.0]),
    offset=st.sampled_from([0.0, -40.0, 273.15]),
    order=st.sampled_from(list(ByteOrder)),
)
def test_scale_and_offset(raw: int, scale: float, offset: float, order: ByteOrder) -> None:
    regs = encode(raw, DataType.UINT32, order)
    value = decode(regs, DataType.UINT32, order, scale=scale, offset=offset)
    assert value == pytest.approx(raw * scale + offset)
    assert decoder(DataType.UINT32, order, scale=scale, offset=offset)(regs) == pytest.approx(value)
    assert encode(value, DataType.UINT32, order, scale=scale, offset=offset) == regs


def test_scaled_engineering_value_rounds_to_register() -> None:
    # 1234.56 kWh with scale 0.01 is raw 123456
    assert encode(1234.56, DataType.UINT32, scale=0.01) == encode(123456, DataType.UINT32)


@given(
    text=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20),
    order=st.sampled_from(list(ByteOrder)),
)
def test_string_round_trip(text: str, order: ByteOrder) -> None:
    length = max(len(text), 1)
    regs = encode(text, DataType.STRING, order, length=length)
    assert len(regs) == (length + 1) // 2
    assert decode(regs, DataType.STRING, order, length=length) == text


def test_string_byte_layout() -> None:
    assert encode("AB", DataType.STRING, length=2) == [0x4142]
    assert encode("AB", DataType.STRING, ByteOrder.BADC, length=2) == [0x4241]
    assert decode([0x5052, 0x4F42, 0x4500], DataType.STRING, length=6) == "PROBE"


def test_bit_within_register() -> None:
    assert decode([0b1010_0000_0000_0101], DataType.BIT, bit=0) is True
    assert decode([0b1010_0000_0000_0101], DataType.BIT, bit=1) is False
    assert decode([0b1010_0000_0000_0101], DataType.BIT, bit=15) is True
    assert encode(True, DataType.BIT, bit=3) == [8]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decode([1], DataType.UINT32), "need 2 registers"),
        (lambda: decode([70000], DataType.UINT16), "not a 16-bit"),
        (lambda: encode(-1, DataType.UINT16), "out of range"),
        (lambda: encode(2**32, DataType.UINT32), "out of range"),
        (lambda: decode([1], DataType.BIT), "bit 0..15"),
        (lambda: register_count(DataType.STRING), "positive length"),
        (lambda: encode("TOO LONG", DataType.STRING, length=2), "does not fit"),
        (lambda: encode(1, DataType.UINT16, scale=0), "scale must not be zero"),
        (lambda: decode([1], "UINT24"), "UINT24"),
    ],
)
def test_bad_input_raises_clear_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_integer_types_round_engineering_values() -> None:
    assert encode(1.5, DataType.INT32) == encode(2, DataType.INT32)
    with pytest.raises(CodecError, match="needs an integer"):
        from protocols.modbus_codec import encode_raw

        encode_raw(1.5, DataType.INT32)


def test_codec_error_is_value_error() -> None:
    with pytest.raises(CodecError):
        decode([1, 2], DataType.FLOAT64)


def test_float32_matches_struct() -> None:
    for v in (0.0, -1.5, 1e-30, 3.4e38):
        (expected,) = struct.unpack(">f", struct.pack(">f", v))
        assert decode(encode(v, "FLOAT32", "CDAB"), "FLOAT32", "CDAB") == expected
