"""Every flag and substitution rule the record can carry has a bilingual explanation, and the
record view never shows Python reprs (None, dicts, module paths)."""

from __future__ import annotations

import re
from pathlib import Path

from collector.records.explain import FLAGS, RULES, method_text, number, record_view
from protocols.methods import counters, data_quality

REPO = Path(__file__).resolve().parents[2]


def _flag_codes() -> set[str]:
    text = (REPO / "protocols/record/compute.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'_flag\(\s*"([a-z_]+)"', text))
    for kind in (
        counters.ROLLOVER,
        counters.RESET,
        counters.REPLACEMENT,
        counters.SUSPECT,
        counters.GLITCH,
        counters.REBASELINE,
        counters.STALE,
    ):
        codes.add(f"counter_{kind}")
    codes |= {"implied_ce_out_of_range", "specific_dc_energy_out_of_range"}
    return codes


def test_every_flag_and_rule_is_explained_in_both_languages() -> None:
    missing = sorted(c for c in _flag_codes() if c not in FLAGS)
    assert not missing, f"add explanations to collector/records/explain.py FLAGS: {missing}"
    rules = {r for tier in data_quality._RULES.values() for r in tier}
    rules |= {"SUB4_FALLBACK", "SUB0_UNSUBSTITUTED", "COUNTER_SPAN"}
    assert rules <= set(RULES), sorted(rules - set(RULES))
    for zh, en in [*FLAGS.values(), *RULES.values()]:
        assert re.search(r"[\u4e00-\u9fff]", zh) and en and en.isascii() is not None


def test_numbers_and_methods_read_as_words() -> None:
    assert number(None) == "—" and number(float("nan")) == "—"
    assert number(2269.4373) == "2,269.44" and number(45.0) == "45" and number(0.94) == "0.94"
    assert "protocols." not in str(method_text({"method": "protocols.methods.pfc.pfc"}))
    assert method_text({"aggregation": "counter_delta", "method": "counter delta ... (x.y)"})[
        "en"
    ].startswith("Cumulative counter")


def test_record_view_has_no_python_reprs() -> None:
    record = {
        "site": "s",
        "month": "2026-11",
        "collector": {"kid": "K"},
        "parameters": [
            {"id": "ae_count", "value": 45.0, "aggregation": "sum", "flags": [], "method": "x"},
            {
                "id": "pfc_co2e_t",
                "value": None,
                "aggregation": "derived",
                "method": "protocols.methods.pfc.pfc",
                "flags": [{"code": "no_data", "message": "inputs missing; not computed"}],
            },
        ],
        "derived": {"aem": {"aem": 0.1, "inputs": {"ae_count": 3}, "events": {"count": 0}}},
    }
    view = record_view(record)
    assert view["ae_count"] == 45  # the counter parameter, not the (empty) events
    shown = [p["value"] for p in view["parameters"]]
    shown += [p["method"][k] for p in view["parameters"] for k in ("zh", "en")]
    shown += [r[k] for r in view["derived"] for k in ("value", "how_zh", "how_en")]
    for text in shown:
        for bad in ("None", "protocols.", "{'", "nan"):
            assert bad not in text, (bad, text)
    assert "no_data" in view["explained"] and view["collector_kid"] == "K"
