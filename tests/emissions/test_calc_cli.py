"""``mrv-verify calc anode-co2|fuel-co2|clinker-co2|carbonate-co2|carbon-balance``: one JSON
object with ``co2_t`` and the inputs used; a record's source recomputes with its own inputs."""

from __future__ import annotations

import json

import pytest

from collector.verify_cli import main

K = 44 / 12


def calc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["calc", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else {}), err


@pytest.mark.parametrize(
    ("args", "co2"),
    [
        (["anode-co2", "--net-anode-t-per-t", "0.4", "--production-t", "1000", "--sulphur",
          "0.02", "--ash", "0.004"], 390.4 * K),
        (["fuel-co2", "--quantity", "100", "--ncv", "19.57", "--carbon-content", "0.02618",
          "--oxidation", "0.98"], 50.209575 * K),
        (["clinker-co2", "--clinker-t", "1000", "--cao", "0.65", "--mgo", "0.02"],
         1000 * (0.65 * 44 / 56 + 0.022)),
        (["clinker-co2", "--clinker-t", "1000", "--ef", "0.538"], 538.0),
        (["carbonate-co2", "--quantity", "100", "--purity", "0.9", "--kind", "limestone"],
         39.5739),
        (["carbon-balance", "--input", "coke=1000:0.83", "--output", "steel=100:0.01"], 829 * K),
    ],
)  # fmt: skip
def test_calc_json(capsys: pytest.CaptureFixture[str], args: list[str], co2: float) -> None:
    code, doc, _ = calc(capsys, *args, "--json")
    assert code == 0 and doc["co2_t"] == pytest.approx(co2)
    assert "inputs" in doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clinker-co2", "--clinker-t", "1", "--ef", "0.5", "--cao", "0.6"], "--ef replaces"),
        (["clinker-co2", "--clinker-t", "1"], "--cao and --mgo"),
        (["carbon-balance", "--input", "coke"], "NAME=QUANTITY:CARBON_FRACTION"),
        (["anode-co2", "--net-anode-t-per-t", "0.4", "--production-t", "1", "--sulphur", "2",
          "--ash", "0"], "sulphur"),
    ],
)  # fmt: skip
def test_calc_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = calc(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_record_source_recomputes_with_its_calc_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from protocols.record import RecordSettings
    from tests.emissions.test_emissions import MONTH, _month, _sources

    s = RecordSettings.from_dict(
        {"site": "s1", "month": MONTH, "interval_s": 86400,
         "aggregation": {"anode_consumption_t": "sum"}}
    )  # fmt: skip
    src = _sources(_month(s, {"al_production_t": 901.3, "anode_consumption_t": 355.0}))
    a = src["anode_co2"]["inputs"]
    args = [f"--{k.replace('_', '-')}={a[k]['value']!r}" for k in a]
    code, doc, _ = calc(capsys, "anode-co2", *args, "--json")
    assert code == 0 and doc["co2_t"] == src["anode_co2"]["co2e_t"]
    p = src["pfc"]["inputs"]
    code, doc, _ = calc(
        capsys, "pfc", "--method", "china", f"--production-t={p['production_t']['value']!r}",
        "--gwp", "AR5", "--json",
    )  # fmt: skip
    assert code == 0 and doc["co2e_t"] == src["pfc"]["co2e_t"]
