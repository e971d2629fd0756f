"""The factor-review policy (protocols/emissions/factors.py) holds for every default table."""

from __future__ import annotations

from protocols.emissions import factor_table
from protocols.emissions.defaults_aluminium import ALUMINIUM_DEFAULTS
from protocols.emissions.defaults_fuels import FUELS
from protocols.emissions.defaults_steel import STEEL_CARBON
from protocols.emissions.inputs import Wanted, default_lookup
from protocols.industry import Industry

# the only values confirmed: exact chemistry (molar-mass ratios)
CONFIRMED = {"carbonate.limestone", "carbonate.dolomite", "crude_benzene"}


def test_only_chemistry_is_confirmed_and_reproductions_stay_unconfirmed() -> None:
    seen: set[str] = set()
    for industry in Industry:
        for key, f in factor_table(industry).items():
            assert f["ref"], key
            if f["confirmed"]:
                seen.add(key)
            if f.get("reproduced_by"):
                assert f["confirmed"] is False, key
                assert f["reproduced_by"].startswith(
                    ("as reproduced", "same value", "consistent")
                ), key
    assert seen == CONFIRMED


def test_reproduced_rows_carry_their_reproduction_into_the_record_settings() -> None:
    steel = factor_table(Industry.STEEL)
    assert steel["limestone"]["value"] == 0.12
    assert "Table 4.3" in steel["limestone"]["reproduced_by"]
    assert "reproduced_by" not in steel["scrap"]  # no agreeing reproduction found
    al = factor_table(Industry.ALUMINIUM)
    assert al["anode_sulphur"]["reproduced_by"] and al["anode_sulphur"]["confirmed"] is False
    assert "0.1454" in al["pfc_default_ef_cf4"]["note"]  # the doubt a reviewer must see
    assert "reproduced_by" in al["fuel.diesel.ncv"]
    assert "not 13.58" in al["fuel.coke_oven_gas.carbon_content"]["note"]


def test_a_reproduced_default_still_resolves_as_unconfirmed() -> None:
    got = default_lookup(Wanted("s", None, "fraction", ALUMINIUM_DEFAULTS["anode_sulphur"]))
    assert got is not None and got.source.endswith("(unconfirmed)")
    assert got.value == 0.02


def test_fuel_and_gas_values_unchanged_by_the_review() -> None:
    # no value was corrected: no source text showed a different one (see 14-factors.md)
    assert FUELS["bituminous_coal"].carbon_content.value == 26.18 / 1000.0
    assert FUELS["natural_gas"].ncv.value == 389.31
    assert STEEL_CARBON["bf_gas"].value == 33.00 * 70.8 / 1000.0
