"""``sites.SITE.records`` in the collector config: record settings without ``--settings``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from collector.cli import app as collector_app
from collector.config import ConfigError, parse_config
from collector.store.sqlite import SqliteEvidenceStore
from collector.verify_cli import main as verify_main
from protocols.keys import write_key_pair
from protocols.record import RecordSettings
from tests.records.test_bundle import MONTH, SITE, _fill

RECORDS = {
    "interval_s": 900,
    "aluminium": {
        "faraday_ce": 0.95,
        "pfc": {"method": "slope", "technology": "CWPB", "coefficients": "ipcc2006", "gwp": "AR6"},
    },
    "counters": {"dc_energy_mwh": {"width_bits": 32, "scale": 0.001}},
}


def _config(tmp_path: Path, records: dict[str, object] | None) -> Path:
    key_path, _ = write_key_pair(tmp_path / "keys", name="collector")
    site: dict[str, object] = {"industry": "aluminium", "timezone": "Asia/Shanghai"}
    if records is not None:
        site["records"] = records
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "signing_key": str(key_path),
                "sites": {SITE: site},
            }
        )
    )
    with SqliteEvidenceStore(tmp_path / "data" / "evidence.sqlite") as store:
        _fill(store, RecordSettings(site=SITE, month=MONTH, interval_s=3600))
    return cfg


def _build(cfg: Path, *extra: str) -> dict[str, object]:
    args = ["record", "build", "--site", SITE, "--month", MONTH, "-c", str(cfg), "--json"]
    r = CliRunner().invoke(collector_app, [*args, "--workers", "1", *extra])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    record = json.loads((Path(out["bundle"]) / "record.json").read_text())
    assert verify_main([out["bundle"], "--json"]) == 0
    return dict(record["settings"])


def test_record_build_uses_the_sites_records_section(tmp_path: Path) -> None:
    s = _build(_config(tmp_path, RECORDS))
    al = s["aluminium"]
    assert s["interval_s"] == 900 and al["faraday_ce"] == 0.95  # type: ignore[index]
    assert al["pfc"]["technology"] == "CWPB" and al["pfc"]["gwp"] == "AR6"  # type: ignore[index]
    assert s["counters"]["dc_energy_mwh"]["width_bits"] == 32  # type: ignore[index]
    assert s["timezone"] == "Asia/Shanghai" and s["industry"] == "aluminium"


def test_settings_file_overrides_the_config(tmp_path: Path) -> None:
    cfg = _config(tmp_path, RECORDS)
    override = tmp_path / "settings.yaml"
    override.write_text("interval_s: 3600\naluminium: {pfc: {method: china, gwp: AR5}}\n")
    s = _build(cfg, "--settings", str(override))
    al = s["aluminium"]  # the file's industry block merges into the config's, key by key
    assert s["interval_s"] == 3600 and al["faraday_ce"] == 0.95  # type: ignore[index]
    assert al["pfc"]["method"] == "china"  # type: ignore[index]


def test_without_records_the_defaults_apply(tmp_path: Path) -> None:
    s = _build(_config(tmp_path, None))
    assert s["interval_s"] == RecordSettings(site=SITE, month=MONTH).interval_s


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({"interval_s": 7}, "interval_s"),
        ({"aluminium": {"pfc": {"method": "guess"}}}, "pfc.method"),
        ({"pfc": {"method": "china"}}, "aluminium: {pfc"),
        ({"bogus": 1}, "bogus"),
        ({"month": "2026-01"}, "month"),
        ({"aluminium": {"pfc": {"gwp": "AR9"}}}, "AR9"),
    ],
)
def test_invalid_records_section_names_the_field(records: dict[str, object], message: str) -> None:
    data = {"sites": {SITE: {"industry": "aluminium", "records": records}}}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert f"sites.{SITE}.records" in str(exc.value) and message in str(exc.value)
