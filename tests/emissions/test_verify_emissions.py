"""``mrv-verify`` recomputes the record's emissions like every other value."""

from __future__ import annotations

import json
from pathlib import Path

from collector.verify_bundle import verify_bundle
from tests.records.test_bundle import _copy, built

__all__ = ["built"]  # the module fixture: a real bundle built from the evidence store


def test_edited_emission_is_found(built: dict, tmp_path: Path) -> None:
    b = _copy(built, tmp_path)
    rec = json.loads((b / "record.json").read_bytes())
    src = {s["id"]: s for s in rec["emissions"]["sources"]}
    assert {"pfc"} <= set(src)  # the bundle's smelter month has metal, so PFC is computed
    true = src["pfc"]["co2e_t"]
    src["pfc"]["co2e_t"] = true * 0.5
    rec["emissions"]["total_co2e_t"] -= true * 0.5
    (b / "record.json").write_text(json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False))
    rep = verify_bundle(b, workers=1)
    where = [p.where for p in rep.problems if p.check == "value"]
    assert any("emissions" in w and "co2e_t" in w for w in where), where
    assert any("total_co2e_t" in w for w in where), where
