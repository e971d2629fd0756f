"""``mrv-verify calc``: JSON output, human table, one-line usage errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.verify_cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_faraday_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "calc",
        "faraday",
        "--current-ka",
        "400",
        "--ce",
        "0.93",
        "--cells",
        "300",
        "--days",
        "30",
        "--json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["aluminium_t"] == pytest.approx(26963.955)
    assert out.count("\n") == 1  # exactly one JSON object on one line


def test_aem_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "calc", "aem", "--ae-minutes", "1500", "--cell-days", "9000", "--json"
    )
    assert code == 0 and json.loads(out)["aem"] == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("args", "cf4", "c2f6", "co2e"),
    [
        (
            ["--method", "slope", "--technology", "CWPB", "--aem", "0.5", "--gwp", "AR5"],
            0.715,
            0.086515,
            5700.7665,
        ),
        (
            [
                "--method",
                "slope",
                "--technology",
                "SWPB",
                "--coefficients",
                "ipcc2019",
                "--aem",
                "0.5",
                "--gwp",
                "AR6",
            ],
            1.165,
            0.3262,
            1.165 * 7380 + 0.3262 * 12400,
        ),
        (["--method", "china", "--aem", "0.5"], 0.72, 0.072, 5572.8),
        (["--method", "china"], 0.34, 0.034, 2631.6),
        (
            ["--method", "tier1", "--technology", "SWPB", "--gwp", "SAR"],
            16,
            4,
            16 * 6500 + 4 * 9200,
        ),
    ],
)
def test_pfc_json(
    capsys: pytest.CaptureFixture[str], args: list[str], cf4: float, c2f6: float, co2e: float
) -> None:
    code, out, _ = run(capsys, "calc", "pfc", *args, "--production-t", "10000", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["cf4_t"] == pytest.approx(cf4)
    assert doc["c2f6_t"] == pytest.approx(c2f6)
    assert doc["co2e_t"] == pytest.approx(co2e)
    assert {"method", "coefficients", "gwp_set", "coefficient_set"} <= set(doc)


def test_pfc_smelter_specific(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "calc",
        "pfc",
        "--method",
        "slope",
        "--technology",
        "PFPB-MW",
        "--aem",
        "0.2",
        "--production-t",
        "20000",
        "--s-cf4",
        "0.11",
        "--f-c2f6",
        "0.06",
        "--measured-on",
        "2025-03-14",
        "--json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["cf4_t"] == pytest.approx(0.44) and doc["measured_on"] == "2025-03-14"


def test_human_output_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "calc", "pfc", "--method", "china", "--production-t", "100")
    assert code == 0 and "CO2e (t)" in out and "AR5" in out


@pytest.mark.parametrize(
    "args",
    [
        ["calc", "faraday", "--current-ka", "abc", "--ce", "0.9", "--cells", "1", "--days", "1"],
        ["calc", "faraday", "--current-ka", "400", "--ce", "93", "--cells", "1", "--days", "1"],
        ["calc", "aem", "--ae-minutes", "10"],
        ["calc", "aem", "--ae-minutes", "10", "--cell-days", "0"],
        ["calc", "pfc", "--method", "slope", "--production-t", "5", "--aem", "1"],
        [
            "calc",
            "pfc",
            "--method",
            "slope",
            "--technology",
            "PFPB-MW",
            "--coefficients",
            "ipcc2019",
            "--aem",
            "0.1",
            "--production-t",
            "1",
        ],
        ["calc", "pfc", "--method", "bogus", "--production-t", "5"],
        ["calc", "pfc", "--method", "china", "--production-t", "5", "--gwp", "AR9"],
        ["calc", "nope"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.strip().count("\n") == 0 and "error" in err
    assert "Traceback" not in err


def test_bundle_form_on_a_missing_directory_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(tmp_path / "no-such-bundle"))
    assert code == 2 and "is not a directory" in err and "Traceback" not in err


def test_console_script_subprocess() -> None:
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from collector.verify_cli import main; main()",
            "calc",
            "aem",
            "--ae-minutes",
            "3",
            "--cell-days",
            "6",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["aem"] == 0.5
    bad = subprocess.run(
        [sys.executable, "-c", "from collector.verify_cli import main; main()", "calc", "aem"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
