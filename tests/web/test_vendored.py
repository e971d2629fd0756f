"""The vendored chart library ships in the package (setuptools package-data covers it)."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "collector" / "web"


def test_package_data_covers_every_static_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["*"]
    # setuptools expands each pattern with glob relative to the package directory
    covered = {Path(p) for pat in patterns for p in glob.glob(str(WEB / pat)) if Path(p).is_file()}
    shipped = {p for p in (WEB / "static").rglob("*") if p.is_file()}
    assert WEB / "static/vendor/uplot/uPlot.iife.min.js" in shipped
    assert shipped - covered == set()


def test_vendored_uplot_has_licence_and_version() -> None:
    vendor = WEB / "static/vendor/uplot"
    assert "MIT License" in (vendor / "LICENSE").read_text()
    readme = (vendor / "README.md").read_text()
    assert "1.6.32" in readme and "1.6.32" in (vendor / "uPlot.iife.min.js").read_text()[:2000]
