"""Modbus register codec: turn 16-bit registers into engineering values and back.

Pure functions, no I/O. Devices disagree about byte order, so every multi-register type is
read in one of four orders, named as Telegraf names them and extended to 64 bit the usual
way. For the value whose big-endian bytes are ``A B C D (E F G H)``:

========  ==========================  ==================================
order     32-bit registers            64-bit registers
========  ==========================  ==================================
ABCD      ``AB CD`` (big-endian)      ``AB CD EF GH``
DCBA      ``DC BA`` (little-endian)   ``HG FE DC BA``
BADC      ``BA DC`` (bytes swapped)   ``BA DC FE HG``
CDAB      ``CD AB`` (words swapped)   ``GH EF CD AB``
========  ==========================  ==================================

16-bit types use ``AB`` for ABCD/CDAB and ``BA`` for DCBA/BADC. Strings carry two characters
per register, first character in the high byte (ABCD/CDAB) or the low byte (DCBA/BADC).
Engineering value = raw × scale + offset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import cache

__all__ = [
    "ByteOrder",
    "CodecError",
    "DataType",
    "decode",
    "decode_raw",
    "decoder",
    "encode",
    "encode_raw",
    "register_count",
]


class CodecError(ValueError):
    """A value or register list that cannot be converted as asked."""


class DataType(StrEnum):
    BIT = "BIT"
    UINT16 = "UINT16"
    INT16 = "INT16"
    UINT32 = "UINT32"
    INT32 = "INT32"
    UINT64 = "UINT64"
    INT64 = "INT64"
    FLOAT32 = "FLOAT32"
    FLOAT64 = "FLOAT64"
    STRING = "STRING"


class ByteOrder(StrEnum):
    ABCD = "ABCD"
    DCBA = "DCBA"
    BADC = "BADC"
    CDAB = "CDAB"


# struct format character and register count of each fixed-width numeric type.
_NUMERIC: dict[DataType, tuple[str, int]] = {
    DataType.UINT16: ("H", 1),
    DataType.INT16: ("h", 1),
    DataType.UINT32: ("I", 2),
    DataType.INT32: ("i", 2),
    DataType.UINT64: ("Q", 4),
    DataType.INT64: ("q", 4),
    DataType.FLOAT32: ("f", 2),
    DataType.FLOAT64: ("d", 4),
}

_INT_RANGE: dict[DataType, tuple[int, int]] = {
    DataType.UINT16: (0, 0xFFFF),
    DataType.INT16: (-0x8000, 0x7FFF),
    DataType.UINT32: (0, 0xFFFF_FFFF),
    DataType.INT32: (-0x8000_0000, 0x7FFF_FFFF),
    DataType.UINT64: (0, 0xFFFF_FFFF_FFFF_FFFF),
    DataType.INT64: (-0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF),
}


def _swaps(order: ByteOrder) -> tuple[bool, bool]:
    """(reverse the word order, swap the two bytes inside each word)."""
    return (
        order in (ByteOrder.DCBA, ByteOrder.CDAB),
        order in (ByteOrder.DCBA, ByteOrder.BADC),
    )


def register_count(dtype: DataType | str, length: int | None = None) -> int:
    """How many 16-bit registers a value of this type occupies (STRING: ``length`` chars)."""
    dtype = DataType(dtype)
    if dtype is DataType.BIT:
        return 1
    if dtype is DataType.STRING:
        if length is None or length < 1:
            raise CodecError("STRING needs a positive length (characters)")
        return (length + 1) // 2
    return _NUMERIC[dtype][1]


@cache
def _numeric_decoder(dtype: DataType, order: ByteOrder) -> Callable[[Sequence[int]], float | int]:
    fmt, words = _NUMERIC[dtype]
    reverse_words, swap_bytes = _swaps(order)
    word_fmt = ("<" if swap_bytes else ">") + "H" * words
    value_fmt = ">" + fmt
    pack = struct.Struct(word_fmt).pack
    unpack = struct.Struct(value_fmt).unpack

    if reverse_words:

        def dec(regs: Sequence[int]) -> float | int:
            return unpack(pack(*reversed(regs[:words])))[0]  # type: ignore[no-any-return]

    else:

        def dec(regs: Sequence[int]) -> float | int:
            return unpack(pack(*regs[:words]))[0]  # type: ignore[no-any-return]

    return dec


def _check_registers(registers: Sequence[int], needed: int) -> None:
    if len(registers) < needed:
        raise CodecError(f"need {needed} registers, got {len(registers)}")
    for r in registers[:needed]:
        if not 0 <= r <= 0xFFFF:
            raise CodecError(f"register value {r} is not a 16-bit unsigned integer")


def decode_raw(
    registers: Sequence[int],
    dtype: DataType | str,
    byte_order: ByteOrder | str = ByteOrder.ABCD,
    *,
    bit: int | None = None,
    length: int | None = None,
) -> int | float | bool | str:
    """Decode registers to the raw value (no scale/offset)."""
    dtype = DataType(dtype)
    order = ByteOrder(byte_order)
    n = register_count(dtype, length)
    _check_registers(registers, n)
    if dtype is DataType.BIT:
        if bit is None or not 0 <= bit <= 15:
            raise CodecError("BIT in a register needs bit 0..15")
        return bool((registers[0] >> bit) & 1)
    if dtype is DataType.STRING:
        _, swap_bytes = _swaps(order)
        raw = struct.pack(("<" if swap_bytes else ">") + "H" * n, *registers[:n])
        return raw[: length or len(raw)].rstrip(b"\x00 ").decode("ascii", errors="replace")
    return _numeric_decoder(dtype, order)(registers)


def decoder(
    dtype: DataType | str,
    byte_order: ByteOrder | str = ByteOrder.ABCD,
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    bit: int | None = None,
    length: int | None = None,
) -> Callable[[Sequence[int]], int | float | bool | str]:
    """A fast decoding function for one point, built once and called on every poll."""
    dtype = DataType(dtype)
    order = ByteOrder(byte_order)
    if dtype in _NUMERIC:
        dec = _numeric_decoder(dtype, order)
        if scale == 1.0 and offset == 0.0:
            return dec
        return lambda regs: dec(regs) * scale + offset

    def generic(regs: Sequence[int]) -> int | float | bool | str:
        return decode(regs, dtype, order, scale=scale, offset=offset, bit=bit, length=length)

    return generic


def decode(
    registers: Sequence[int],
    dtype: DataType | str,
    byte_order: ByteOrder | str = ByteOrder.ABCD,
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    bit: int | None = None,
    length: int | None = None,
) -> int | float | bool | str:
    """Decode registers to the engineering value: raw × scale + offset (numbers only)."""
    raw = decode_raw(registers, dtype, byte_order, bit=bit, length=length)
    if isinstance(raw, (bool, str)) or (scale == 1.0 and offset == 0.0):
        return raw
    return raw * scale + offset


def encode_raw(
    value: int | float | bool | str,
    dtype: DataType | str,
    byte_order: ByteOrder | str = ByteOrder.ABCD,
    *,
    bit: int | None = None,
    length: int | None = None,
) -> list[int]:
    """Encode a raw value (no scale/offset) to registers."""
    dtype = DataType(dtype)
    order = ByteOrder(byte_order)
    reverse_words, swap_bytes = _swaps(order)
    if dtype is DataType.BIT:
        if bit is None or not 0 <= bit <= 15:
            raise CodecError("BIT in a register needs bit 0..15")
        return [(1 << bit) if value else 0]
    if dtype is DataType.STRING:
        if not isinstance(value, str):
            raise CodecError("STRING needs a str value")
        n = register_count(dtype, length)
        data = value.encode("ascii")
        if len(data) > n * 2:
            raise CodecError(f"string of {len(data)} characters does not fit {n} registers")
        data = data.ljust(n * 2, b"\x00")
        return list(struct.unpack(("<" if swap_bytes else ">") + "H" * n, data))
    fmt, words = _NUMERIC[dtype]
    if dtype in _INT_RANGE:
        if isinstance(value, float):
            if not value.is_integer():
                raise CodecError(f"{dtype} needs an integer, got {value!r}")
            value = int(value)
        lo, hi = _INT_RANGE[dtype]
        if not lo <= int(value) <= hi:
            raise CodecError(f"{value} is out of range for {dtype} ({lo}..{hi})")
    try:
        packed = struct.pack(">" + fmt, value)
    except (OverflowError, struct.error) as exc:
        raise CodecError(f"{value!r} does not fit {dtype}: {exc}") from None
    regs = list(struct.unpack(">" + "H" * words, packed))
    if swap_bytes:
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    if reverse_words:
        regs.reverse()
    return regs


def encode(
    value: int | float | bool | str,
    dtype: DataType | str,
    byte_order: ByteOrder | str = ByteOrder.ABCD,
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    bit: int | None = None,
    length: int | None = None,
) -> list[int]:
    """Encode an engineering value: raw = (value − offset) ÷ scale, rounded for integer types."""
    dtype = DataType(dtype)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if scale == 0:
            raise CodecError("scale must not be zero")
        if scale != 1.0 or offset != 0.0:
            value = (value - offset) / scale
        if dtype in _INT_RANGE:
            value = round(value)
    return encode_raw(value, dtype, byte_order, bit=bit, length=length)
