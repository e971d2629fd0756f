"""Plain-language, bilingual (中文 / English) explanations of what a monthly record says, and
one view of a record that the web UI's record page, ``report.html`` and the demo summary all
read, so the three never disagree with ``record.json`` or with each other.

Nothing here computes a number: every value shown comes from ``record.json`` as built.
"""

from __future__ import annotations

import math
from typing import Any

#: Flag code → (中文, English). Codes are the record's; an unknown code falls back to its
#: message from the record.
FLAGS: dict[str, tuple[str, str]] = {
    "backfill_submitted_only": (
        "补录月份：本月没有仪表数据，仅依据提交的化验单、结算单等数值生成",
        "Backfilled month: no metered evidence; built from submitted lab, invoice and manual"
        " values alone",
    ),
    "not_measured": (
        "未测量：本月没有代理上报该参数，不赋值、不替代",
        "Not measured: no agent reported it this month; no value, nothing substituted",
    ),
    "no_data": (
        "本月没有有效区间，无法给出月度值",
        "No valid interval in the month, so no monthly value",
    ),
    "uncatalogued": (
        "不在本行业的参数目录中，按其汇总规则计算",
        "Not in the industry's parameter catalogue; aggregated by its own rule",
    ),
    "uncertain_quality": (
        "使用了质量为“不确定”的读数（例如超出设定量程）",
        "Readings of uncertain quality (e.g. outside the configured range) were used",
    ),
    "bad_quality": (
        "质量为“坏”的读数（通讯中断、设备异常应答）未使用，其区间按缺失处理",
        "Bad readings (no answer, device exception) were not used; their intervals count as missing",
    ),
    "clock_unsynced": (
        "部分读数来自时钟未同步（NTP/chrony）的批次",
        "Some readings come from batches whose clock was not synchronised (NTP/chrony)",
    ),
    "clock_unsynced_batches": (
        "有批次的时钟未同步（NTP/chrony），其时间戳可信度较低",
        "Some batches had an unsynchronised clock (NTP/chrony); their timestamps are less certain",
    ),
    "clock_events": (
        "代理报告了时钟跳变",
        "Agents reported clock jumps",
    ),
    "low_completeness": (
        "完整率低于阈值：缺失区间采用更保守的替代层级",
        "Completeness below the threshold: missing intervals take the conservative substitution tiers",
    ),
    "counter_rollover": (
        "计数器达到寄存器上限后回绕归零，回绕量已计入",
        "The counter wrapped at its register limit; the wrapped amount is counted",
    ),
    "counter_reset": (
        "表计复位（从零重新计数）：复位前最后读数之后的用量无法计入",
        "Meter reset (restarted from zero): use between the last reading and the restart cannot be counted",
    ),
    "counter_replacement": (
        "表计更换：按旧表末值和新表初值计算",
        "Meter replaced: counted from the old meter's final and the new meter's initial reading",
    ),
    "counter_suspect": (
        "一次不合理的计数器读数被暂存，未计入",
        "An implausible counter reading was held as suspect and not counted",
    ),
    "counter_glitch": (
        "单次错误的计数器读数，已忽略",
        "A single wrong counter reading, ignored",
    ),
    "counter_rebaseline": (
        "计数器跳变（预置或未申报的换表）：以新值为基准，跳变量不计入",
        "The counter jumped (preset or unannounced replacement): new baseline, the jump is not counted",
    ),
    "counter_stale": (
        "时间戳未递增的计数器读数被忽略",
        "Counter readings whose timestamp did not increase were ignored",
    ),
    "counter_frozen": (
        "计数器在设定时长内没有变化（停产或表计卡滞）",
        "The counter did not change for the configured time (process stopped or meter stuck)",
    ),
    "start_not_bracketed": (
        "月初之前没有计数器读数：月初部分的用量无法确定",
        "No counter reading at or before the month start: use at the start cannot be bounded",
    ),
    "end_not_bracketed": (
        "月末之后没有计数器读数：月末部分的用量无法确定",
        "No counter reading at or after the month end: use at the end cannot be bounded",
    ),
    "inputs_not_measured": (
        "计算所需的输入参数本月未测量",
        "Input parameter(s) of this calculation were not measured this month",
    ),
    "agent_values_not_used": (
        "代理自算的值未使用：记录由当月输入重新计算",
        "The agent's own values are not used: the record derives it from the month's inputs",
    ),
    "evidence_gap": (
        "批次序号不连续：中间的批次不在证据中",
        "Batch sequence numbers are missing between evidence ranges",
    ),
    "pfc_on_faraday_production": (
        "无实测原铝产量：PFC 按法拉第估算产量计算",
        "No measured metal: PFC uses the Faraday estimate of production",
    ),
    "faraday_not_computed": (
        "法拉第估算未计算：缺少系列电流或在产槽数",
        "Faraday estimate not computed: line current or operating cells missing",
    ),
    "aem_not_computed": (
        "阳极效应系数未计算：没有运行槽日",
        "AEM not computed: no operating cell-days",
    ),
    "pfc_not_computed": (
        "PFC 未计算：没有原铝产量（实测或法拉第估算）",
        "PFC not computed: no metal production (measured or Faraday)",
    ),
    "implied_ce_out_of_range": (
        "实测产量隐含的电流效率超出合理范围：请核对产量或电流",
        "The current efficiency implied by measured metal is implausible: check production or current",
    ),
    "specific_dc_energy_out_of_range": (
        "直流电耗超出合理范围：请核对电量或产量",
        "Specific DC energy is implausible: check energy or production",
    ),
}

#: Substitution rule → (中文, English). US EPA 40 CFR 75.33 style tiers (data_quality.py).
RULES: dict[str, tuple[str, str]] = {
    "SUB1_NEIGHBOUR_MAX": (
        "短缺口：取缺口前后相邻有效值中较大者（保守）",
        "Short gap: the larger of the valid values just before and after it (conservative)",
    ),
    "SUB1_NEIGHBOUR_AVG": (
        "短缺口：取缺口前后相邻有效值的平均",
        "Short gap: the mean of the valid values just before and after it",
    ),
    "SUB1_NEIGHBOUR_MIN": (
        "短缺口：取缺口前后相邻有效值中较小者（对该参数偏小为保守）",
        "Short gap: the smaller of its neighbours (lower is conservative for this parameter)",
    ),
    "SUB2_LOOKBACK_P90": (
        "较长缺口：取回看窗口内有效值的第 90 百分位",
        "Longer gap: the 90th percentile of valid values in the look-back window",
    ),
    "SUB2_LOOKBACK_P10": (
        "较长缺口：取回看窗口内有效值的第 10 百分位",
        "Longer gap: the 10th percentile of valid values in the look-back window",
    ),
    "SUB3_LOOKBACK_MAX": (
        "可用率低于 90%：取回看窗口内的最大值",
        "Availability below 90 %: the maximum of the look-back window",
    ),
    "SUB3_LOOKBACK_MIN": (
        "可用率低于 90%：取回看窗口内的最小值",
        "Availability below 90 %: the minimum of the look-back window",
    ),
    "SUB4_FALLBACK": (
        "没有任何有效数据：采用设定的后备值",
        "No valid data anywhere: the configured fallback value",
    ),
    "SUB0_UNSUBSTITUTED": (
        "无依据可替代：缺口保持为空",
        "Nothing to substitute from: the gap stays empty",
    ),
    "COUNTER_SPAN": (
        "计数器跨缺口：缺口两侧读数之差按时间分摊，月度总量保持准确",
        "Counter across a gap: the difference of the readings on both sides is spread over it; the month total stays exact",
    ),
}

#: Aggregation rule → (中文, English).
AGGREGATIONS: dict[str, tuple[str, str]] = {
    "counter_delta": (
        "累计计数器：月初与月末边界读数之差（处理回绕、复位、换表）",
        "Cumulative counter: difference of the month-boundary readings (rollovers, resets, replacements handled)",
    ),
    "sum": ("各区间之和", "Sum of the interval values"),
    "time_weighted_mean": ("各区间的时间加权平均", "Time-weighted mean of the interval values"),
    "derived": ("由其他参数计算", "Computed from other parameters"),
}

#: Method of a derived parameter (as the record names it) → (中文, English).
METHODS: dict[str, tuple[str, str]] = {
    "protocols.methods.aem.aem": (
        "阳极效应系数 = 阳极效应分钟 ÷ 运行槽日",
        "AEM = anode-effect minutes ÷ operating cell-days",
    ),
    "protocols.methods.faraday.faraday_production": (
        "法拉第定律：Al (t) = 0.00805375 × I (kA) × 电流效率 × 槽数 × 天数",
        "Faraday's law: Al (t) = 0.00805375 × I (kA) × CE × cells × days",
    ),
    "protocols.methods.faraday.implied_current_efficiency": (
        "隐含电流效率 = 实测原铝产量 ÷ 法拉第理论产量",
        "Implied current efficiency = measured metal ÷ Faraday's theoretical production",
    ),
    "protocols.methods.pfc.pfc": (
        "全氟化碳排放：按派生结果中所列方法、系数和 GWP",
        "PFC emissions: by the method, coefficients and GWP set listed under derived results",
    ),
}

COUNTER_KINDS: dict[str, tuple[str, str]] = {
    k.removeprefix("counter_"): v for k, v in FLAGS.items() if k.startswith("counter_")
}

PFC_METHODS: dict[str, tuple[str, str]] = {
    "china": (
        "中国核算指南：EF_CF4 = 0.143 × AEM kg/t，EF_C2F6 = 0.1 × EF_CF4",
        "China guideline: EF_CF4 = 0.143 × AEM kg/t, EF_C2F6 = 0.1 × EF_CF4",
    ),
    "slope": (
        "斜率法（IPCC 2006 第3卷 式4.26）：E_CF4 = S × AEM × 产量 × 0.001",
        "Slope method (IPCC 2006 Vol 3 Eq. 4.26): E_CF4 = S × AEM × production × 0.001",
    ),
    "tier1": ("IPCC 一级缺省排放因子", "IPCC Tier 1 default emission factors"),
}


def pair(table: dict[str, tuple[str, str]], key: str | None, fallback: str = "") -> dict[str, str]:
    zh, en = table.get(key or "", ("", fallback or (key or "")))
    return {"zh": zh, "en": en}


def flag_text(flag: dict[str, Any] | str) -> dict[str, str]:
    """A record flag as {code, zh, en, detail}: the explanation and the record's own message."""
    if isinstance(flag, str):
        flag = {"code": flag, "message": flag}
    code = str(flag.get("code") or "")
    zh, en = FLAGS.get(code, ("", str(flag.get("message") or code)))
    detail = str(flag.get("message") or "")
    reasons = flag.get("reasons")
    if isinstance(reasons, list) and reasons:
        from protocols.reasons import describe_reason

        detail += " — " + "; ".join(
            f"{describe_reason(str(r.get('reason')))} ×{r.get('readings')}" for r in reasons
        )
    return {"code": code, "zh": zh, "en": en, "detail": detail}


def method_text(entry: dict[str, Any]) -> dict[str, str]:
    """How a parameter's monthly value was obtained, in words (never a module path)."""
    method = entry.get("method")
    agg = entry.get("aggregation")
    if isinstance(method, str) and method in METHODS:
        return pair(METHODS, method)
    if agg == "derived" and isinstance(method, str) and not method.startswith("protocols."):
        return {"zh": f"计算式：{method}", "en": f"formula: {method}"}
    if isinstance(agg, str) and agg in AGGREGATIONS:
        return pair(AGGREGATIONS, agg)
    return {"zh": "", "en": method if isinstance(method, str) and "." not in method else ""}


def number(x: Any, digits: int = 6) -> str:
    """A value for people: thousands separators, ``—`` for none, never ``None``/``nan``."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "是 yes" if x else "否 no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "—"
        if x == 0:
            return "0"
        if x.is_integer() and abs(x) < 1e9:
            return f"{int(x):,}"
        mag = math.floor(math.log10(abs(x)))
        if abs(x) >= 1e9 or abs(x) < 1e-4:
            return f"{x:.{digits - 1}e}"
        text = f"{x:,.{max(0, digits - 1 - mag)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(x)


def param_value(record: dict[str, Any], pid: str) -> float | None:
    for p in record.get("parameters") or []:
        if p.get("id") == pid:
            v = p.get("value")
            return float(v) if isinstance(v, int | float) else None
    return None


def ae_count(record: dict[str, Any]) -> int | None:
    """Anode effects of the month as the record counts them: the ``ae_count`` key parameter
    (pot-controller counters) when measured, else the AEM's own count (events)."""
    v = param_value(record, "ae_count")
    if v is not None:
        return round(v)
    aem = (record.get("derived") or {}).get("aem") or {}
    inputs = aem.get("inputs") or {}
    n = inputs.get("ae_count")
    if isinstance(n, int | float):
        return round(n)
    events = aem.get("events") or {}
    n = events.get("count")
    return round(n) if isinstance(n, int | float) else None


KIND_NAMES: dict[str, tuple[str, str]] = {
    "anode_co2": ("阳极消耗 CO2", "Anode consumption CO2"),
    "pfc": ("全氟化碳（阳极效应）", "PFC (anode effects)"),
    "fuel_co2": ("化石燃料燃烧 CO2", "Fossil fuel combustion CO2"),
    "clinker_co2": ("熟料煅烧 CO2", "Clinker calcination CO2"),
    "carbonate_co2": ("碳酸盐分解 CO2", "Carbonate decomposition CO2"),
    "carbon_balance": ("碳平衡法 CO2", "Carbon balance CO2"),
}

ORIGINS: dict[str, tuple[str, str]] = {
    "measured": ("实测值", "measured"),
    "default": ("缺省值", "guideline default"),
    "calculated": ("计算值", "calculated"),
    "estimated": ("估算值", "estimated"),
    "meter": ("仪表", "meter"),
    "lab": ("化验", "laboratory"),
    "manual": ("人工录入", "manual entry"),
    "invoice": ("结算单", "invoice"),
}


def _row(zh: str, en: str, value: Any, unit: str = "", how: tuple[str, str] = ("", "")) -> dict:
    return {
        "zh": zh,
        "en": en,
        "value": number(value) if not isinstance(value, str) else value,
        "raw": value if isinstance(value, int | float) else None,
        "unit": unit,
        "how_zh": how[0],
        "how_en": how[1],
    }


def derived_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Derived results (production, AEM, PFC, specific energy) as labelled rows."""
    d = record.get("derived") or {}
    rows: list[dict[str, Any]] = []
    pr = d.get("production") or {}
    if pr:
        rows.append(_row("实测原铝产量", "Measured aluminium", pr.get("measured_t"), "t"))
        far = pr.get("faraday") or {}
        if far:
            i = far.get("inputs") or {}
            rows.append(
                _row(
                    "法拉第估算产量",
                    "Faraday estimate",
                    far.get("aluminium_t"),
                    "t",
                    (
                        f"0.00805375 × {number(i.get('current_ka'))} kA × 电流效率 {number(i.get('ce'))}"
                        f" × {number(i.get('cells'))} 槽 × {number(i.get('days'))} 天",
                        f"0.00805375 × {number(i.get('current_ka'))} kA × CE {number(i.get('ce'))}"
                        f" × {number(i.get('cells'))} cells × {number(i.get('days'))} days",
                    ),
                )
            )
        lo_hi = pr.get("ce_range") or [None, None]
        rows.append(
            _row(
                "隐含电流效率",
                "Implied current efficiency",
                pr.get("implied_ce"),
                "",
                (
                    f"实测产量 ÷ 法拉第理论产量；合理范围 {number(lo_hi[0])}–{number(lo_hi[1])}",
                    f"measured ÷ Faraday at 100 %; plausible {number(lo_hi[0])}–{number(lo_hi[1])}",
                ),
            )
        )
    a = d.get("aem") or {}
    if a:
        i = a.get("inputs") or {}
        dfn = a.get("anode_effect_definition") or {}
        n = ae_count(record)
        rows.append(_row("阳极效应次数", "Anode effects", n, "", _ae_source(record)))
        rows.append(
            _row(
                "阳极效应系数 AEM",
                "Anode-effect minutes per cell-day (AEM)",
                a.get("aem"),
                "min/(cell·d)",
                (
                    f"{number(i.get('ae_minutes'))} 效应分钟 ÷ {number(i.get('cell_days'))} 槽日；"
                    f"判据 > {number(dfn.get('trigger_v'))} V 持续 ≥ {number(dfn.get('min_duration_s'))} s",
                    f"{number(i.get('ae_minutes'))} AE-minutes ÷ {number(i.get('cell_days'))} cell-days;"
                    f" trigger > {number(dfn.get('trigger_v'))} V for ≥ {number(dfn.get('min_duration_s'))} s",
                ),
            )
        )
    f = d.get("pfc") or {}
    if f:
        m = PFC_METHODS.get(str(f.get("method")), ("", str(f.get("method") or "")))
        coeff = ", ".join(
            f"{c.get('name')} {number(c.get('value'))}" for c in f.get("coefficients") or []
        )
        gwp = f.get("gwp") or {}
        how = (
            f"{m[0]}；系数 {f.get('coefficient_set') or ''} {f.get('technology') or ''} {coeff}",
            f"{m[1]}; coefficients {f.get('coefficient_set') or ''} {f.get('technology') or ''} {coeff}",
        )
        rows.append(_row("CF4 排放", "CF4 emitted", f.get("cf4_t"), "t", how))
        rows.append(_row("C2F6 排放", "C2F6 emitted", f.get("c2f6_t"), "t", how))
        rows.append(
            _row(
                "全氟化碳 CO2 当量",
                "PFC as CO2 equivalent",
                f.get("co2e_t"),
                "t CO2e",
                (
                    f"GWP {f.get('gwp_set')}：CF4 {number(gwp.get('CF4'))}，C2F6 {number(gwp.get('C2F6'))}",
                    f"GWP {f.get('gwp_set')}: CF4 {number(gwp.get('CF4'))}, C2F6 {number(gwp.get('C2F6'))}"
                    f" ({gwp.get('source') or ''})",
                ),
            )
        )
    se = d.get("specific_energy") or {}
    if se:
        rng = se.get("range") or [None, None]
        rows.append(
            _row(
                "直流电耗",
                "Specific DC energy",
                se.get("measured_kwh_per_kg"),
                "kWh/kg",
                (
                    f"直流电量 ÷ 原铝产量；合理范围 {number(rng[0])}–{number(rng[1])}",
                    f"DC energy ÷ aluminium; plausible {number(rng[0])}–{number(rng[1])}",
                ),
            )
        )
        if se.get("faraday_kwh_per_kg") is not None:
            rows.append(
                _row(
                    "直流电耗（法拉第）",
                    "Specific DC energy (Faraday)",
                    se.get("faraday_kwh_per_kg"),
                    "kWh/kg",
                    ("2.980 × 槽电压 ÷ 电流效率", "2.980 × cell voltage ÷ CE"),
                )
            )
    return rows


def _ae_source(record: dict[str, Any]) -> tuple[str, str]:
    if param_value(record, "ae_count") is not None:
        return ("槽控机阳极效应计数器（参数 ae_count）", "pot-controller AE counters (ae_count)")
    return ("电压事件检测", "detected from cell-voltage events")


def emission_rows(record: dict[str, Any]) -> dict[str, Any] | None:
    """``record.emissions`` as sources with bilingual kind names and input tables."""
    em = record.get("emissions")
    if not isinstance(em, dict):
        return None
    sources = []
    for s in em.get("sources") or []:
        kind = str(s.get("kind") or "")
        zh, en = KIND_NAMES.get(kind, ("", kind))
        inputs = []
        raw = s.get("inputs") or {}
        if isinstance(raw, dict) and ("in" in raw or "out" in raw):
            for side, label in (("in", ("输入", "in")), ("out", ("输出", "out"))):
                for x in raw.get(side) or []:
                    o = ORIGINS.get(str(x.get("origin")), ("", str(x.get("origin") or "")))
                    inputs.append(
                        {
                            "name": f"{label[1]}: {x.get('name')}",
                            "value": f"{number(x.get('quantity'))} × C {number(x.get('carbon_fraction'))}",
                            "unit": "",
                            "origin_zh": o[0],
                            "origin_en": o[1],
                            "source": source_text(x.get("source")),
                        }
                    )
        elif isinstance(raw, dict):
            for name, x in raw.items():
                x = x if isinstance(x, dict) else {"value": x}
                o = ORIGINS.get(str(x.get("origin")), ("", str(x.get("origin") or "")))
                inputs.append(
                    {
                        "name": name,
                        "value": number(x.get("value")),
                        "unit": x.get("unit") or "",
                        "origin_zh": o[0],
                        "origin_en": o[1],
                        "source": source_text(x.get("source")),
                    }
                )
        sources.append(
            {
                "id": s.get("id"),
                "zh": zh,
                "en": en,
                "gas": s.get("gas") or "",
                "t": number(s.get("t")),
                "co2e_t": number(s.get("co2e_t")),
                "co2e_raw": s.get("co2e_t"),
                "method": source_text(s.get("method")),
                "inputs": inputs,
            }
        )
    return {
        "sources": sources,
        "total": number(em.get("total_co2e_t")),
        "total_raw": em.get("total_co2e_t"),
    }


def source_text(x: Any) -> str:
    """A source/method member of the record, for people: lists joined, dicts as k: v."""
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    if isinstance(x, list | tuple):
        return ", ".join(source_text(i) for i in x)
    if isinstance(x, dict):
        return "; ".join(f"{k}: {source_text(v)}" for k, v in x.items() if v is not None)
    return number(x)


def parameter_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in record.get("parameters") or []:
        flags = [flag_text(f) for f in p.get("flags") or []]
        subs = []
        for s in p.get("substitutions") or []:
            zh, en = RULES.get(str(s.get("rule")), ("", str(s.get("rule"))))
            subs.append(
                {
                    "rule": s.get("rule"),
                    "zh": zh,
                    "en": en,
                    "start": s.get("start"),
                    "end": s.get("end"),
                    "intervals": s.get("intervals"),
                    "contribution": number(s.get("contribution")),
                }
            )
        counter = p.get("counter") or {}
        kinds = [
            {"kind": k, **dict(zip(("zh", "en"), COUNTER_KINDS.get(k, ("", k)), strict=True))}
            for k in counter.get("kinds") or []
        ]
        comp = p.get("completeness")
        rows.append(
            {
                "id": p.get("id"),
                "name_zh": p.get("name_zh") or "",
                "name_en": p.get("name_en") or p.get("id"),
                "value": number(p.get("value")),
                "raw": p.get("value"),
                "unit": p.get("unit") or "",
                "method": method_text(p),
                "not_measured": any(f["code"] == "not_measured" for f in flags),
                "completeness": comp,
                "completeness_text": "—" if comp is None else f"{100 * comp:.1f} %",
                "valid": p.get("valid_intervals"),
                "expected": p.get("expected_intervals"),
                "gaps": len(p.get("gaps") or []),
                "substitutions": subs,
                "substituted_share": p.get("substituted_share"),
                "flags": flags,
                "counter_kinds": kinds,
                "derived": p.get("aggregation") == "derived",
            }
        )
    return rows


def record_view(record: dict[str, Any]) -> dict[str, Any]:
    """Everything a person reads about a record, in display form (no ``None``, no paths)."""
    explained: dict[str, dict[str, str]] = {}
    params = parameter_rows(record)
    for p in params:
        for f in p["flags"]:
            explained.setdefault(f["code"], {"zh": f["zh"], "en": f["en"]})
        for s in p["substitutions"]:
            explained.setdefault(s["rule"], {"zh": s["zh"], "en": s["en"]})
    rflags = [flag_text(f) for f in record.get("flags") or []]
    for f in rflags:
        explained.setdefault(f["code"], {"zh": f["zh"], "en": f["en"]})
    period = record.get("period") or {}
    return {
        "site": record.get("site"),
        "month": record.get("month"),
        "version": record.get("version"),
        "period": period,
        "collector_kid": (record.get("collector") or {}).get("kid"),
        "parameters": params,
        "key_parameters": [p for p in params if not p["derived"]],
        "derived_parameters": [p for p in params if p["derived"]],
        "derived": derived_rows(record),
        "emissions": emission_rows(record),
        "flags": rflags,
        "explained": explained,
        "ae_count": ae_count(record),
        "evidence": list(record.get("evidence") or []),
        "summary": record.get("summary") or {},
    }
