"""``mrv-agent check`` calls plainly wrong decodings what they are, not "good"."""

from __future__ import annotations

from agent.check import did_you_mean, plausibility
from protocols.modbus_codec import decode_raw, encode_raw
from protocols.reasons import describe_reason


def test_wrong_word_order_and_units_are_implausible() -> None:
    regs = encode_raw(764011.0, "FLOAT32", "ABCD")  # an energy meter's kWh
    swapped = decode_raw(regs, "FLOAT32", "CDAB")  # the wrong word order
    assert isinstance(swapped, float) and abs(swapped) < 1e-30
    problems = plausibility("power_import_mwh", "MWh", swapped)
    assert any("wrong byte order or address" in p for p in problems), problems
    assert plausibility("power_import_mwh", "MWh", 764.011) == []
    (unit,) = plausibility("power_import_mwh", "kWh", 764011.0)
    assert "catalogue id power_import_mwh is in MWh" in unit
    (neg,) = plausibility("power_import_mwh", "MWh", -5.0)
    assert "cannot be negative" in neg
    assert plausibility("l1_voltage_v", "V", 231.2) == []  # not a catalogue id: just a signal


def test_did_you_mean_and_modbus_meanings() -> None:
    assert did_you_mean("line_curent_ka") == (
        "line_curent_ka is not a catalogue id: did you mean line_current_ka?"
    )
    assert did_you_mean("line_current_ka") is None and did_you_mean("l1_current_a") is None
    assert describe_reason("exception:11").startswith("Modbus exception 11: gateway target")
    assert describe_reason("backoff:timeout").startswith("not polled: back-off")
