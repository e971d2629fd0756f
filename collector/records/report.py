"""``report.html``: the record for people — self-contained, bilingual 中文/English, offline.

One HTML file with inline CSS and inline SVG charts (no scripts, fonts or anything fetched
from a network): summary of every key parameter (those nobody measured say so), a collapsed
table of the other measured signals, derived results and cross-checks, a chart
per parameter with invalid intervals shaded red and substituted ones marked orange, the
anode-effect table and the evidence ranges. The numbers shown are those of record.json.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from protocols.record import RecordComputation

__all__ = ["render_report", "write_report"]

W, H, PAD = 760, 150, 36
BUCKETS = 380
MAX_MARKS = 400
MAX_AE_ROWS = 2000


def _num(x: Any, digits: int = 6) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x == 0:
            return "0"
        if abs(x) >= 1e6 or abs(x) < 1e-3:
            return f"{x:.{digits - 1}e}"
        return f"{x:,.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"
    return str(x)


def _chart(entry: dict[str, Any], values: list[float | None], substituted: list[bool]) -> str:
    """Inline SVG: bucket min–max band and mean line; gaps red, substitutions orange."""
    n = len(values)
    if n == 0:
        return ""
    per = max(1, math.ceil(n / BUCKETS))
    pts: list[tuple[int, float, float, float]] = []
    for b in range(0, n, per):
        chunk = [v for v in values[b : b + per] if v is not None]
        if chunk:
            pts.append((b, min(chunk), max(chunk), math.fsum(chunk) / len(chunk)))
    x = lambda k: PAD + (W - PAD - 8) * k / n  # noqa: E731
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        'xmlns="http://www.w3.org/2000/svg" role="img">',
        f'<rect x="{PAD}" y="8" width="{W - PAD - 8}" height="{H - 30}" fill="#fafafa" '
        'stroke="#ddd"/>',
    ]
    for g in entry.get("gaps", [])[:MAX_MARKS]:
        a, m = g["start_index"], g["intervals"]
        parts.append(
            f'<rect x="{x(a):.1f}" y="8" width="{max(1.0, x(a + m) - x(a)):.1f}" '
            f'height="{H - 30}" fill="#e53935" fill-opacity="0.18"><title>gap 缺失 {g["start"]} '
            f"→ {g['end']} ({m} intervals)</title></rect>"
        )
    if pts:
        lo = min(p[1] for p in pts)
        hi = max(p[2] for p in pts)
        if hi == lo:
            hi, lo = hi + 1.0, lo - 1.0
        y = lambda v: 8 + (H - 30) * (1 - (v - lo) / (hi - lo))  # noqa: E731
        band = " ".join(f"{x(b):.1f},{y(mx):.1f}" for b, _, mx, _ in pts)
        band += " " + " ".join(f"{x(b):.1f},{y(mn):.1f}" for b, mn, _, _ in reversed(pts))
        parts.append(f'<polygon points="{band}" fill="#1e88e5" fill-opacity="0.15"/>')
        line = " ".join(f"{x(b):.1f},{y(m):.1f}" for b, _, _, m in pts)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="1.2"/>')
        parts.append(f'<text x="2" y="16" class="ax">{_num(hi, 4)}</text>')
        parts.append(f'<text x="2" y="{H - 22}" class="ax">{_num(lo, 4)}</text>')
    for s in entry.get("substitutions", [])[:MAX_MARKS]:
        a, m = s["start_index"], s["intervals"]
        parts.append(
            f'<rect x="{x(a):.1f}" y="{H - 24}" width="{max(2.0, x(a + m) - x(a)):.1f}" height="6" '
            f'fill="#fb8c00"><title>{s["rule"]} 替代 {s["start"]} → {s["end"]}</title></rect>'
        )
    parts.append(f'<text x="{PAD}" y="{H - 4}" class="ax">1</text>')
    parts.append(f'<text x="{W - 40}" y="{H - 4}" class="ax">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>月度存证 Monthly record · {{ r.site }} · {{ r.month }} · v{{ r.version }}</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#b71c1c}.ok{color:#2e7d32}.muted{color:#777;font-size:12px}
.chart{display:block;margin:4px 0 18px}.ax{font-size:10px;fill:#666}
tr.nm td{color:#777;background:#fafafa}details{margin:12px 0}summary{cursor:pointer;font-size:15px}
.legend span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px}
</style></head><body>
<h1>月度存证 Monthly verification record</h1>
<table>
<tr><th>站点 Site</th><td>{{ r.site }}</td><th>月份 Month</th><td>{{ r.month }}</td></tr>
<tr><th>期间 Period</th><td colspan="3">{{ r.period.start }} → {{ r.period.end }} ({{ r.period.timezone }}, {{ r.period.intervals }} × {{ r.period.interval_s }} s)</td></tr>
<tr><th>版本 Version</th><td>v{{ r.version }}</td><th>原因 Reason</th><td>{{ r.reason }}</td></tr>
<tr><th>生成时间 Created</th><td>{{ r.created }}</td><th>行业 Industry</th><td>{{ r.settings.industry }}</td></tr>
<tr><th>签名密钥 Collector key</th><td colspan="3"><code>{{ r.collector.kid }}</code></td></tr>
{% if r.previous %}<tr><th>上一版本 Previous</th><td colspan="3">v{{ r.previous.version }} · sha256 <code>{{ r.previous.record_sha256 }}</code></td></tr>{% endif %}
</table>
<p class="muted">核验 Verify offline: <code>mrv-verify {{ bundle }}</code> — 重新检查签名、哈希链并从批次重算每个数值 / re-checks every signature and chain and recomputes every value from the batches.</p>

<h2>关键参数 Key parameters</h2>
<table><tr><th>参数 Parameter</th><th>名称 Name</th><th>值 Value</th><th>单位 Unit</th><th>汇总 Aggregation</th><th>完整率 Completeness</th><th>有效/应有 Valid/expected</th><th>替代 Substituted</th><th>标志 Flags</th></tr>
{% for p in r.parameters %}{% set nm = p.id in not_measured %}<tr{% if nm %} class="nm"{% endif %}><td><code>{{ p.id }}</code></td><td>{{ p.name_zh or "" }} {{ p.name_en or "" }}</td>
{% if nm %}<td class="n">未测量 not measured</td><td>{{ p.unit or "" }}</td><td>{{ p.aggregation }}</td><td class="n">—</td><td class="n">0/{{ p.expected_intervals }}</td><td class="n">—</td>
{% else %}<td class="n">{{ num(p.value) }}</td><td>{{ p.unit or "" }}</td><td>{{ p.aggregation }}</td>
<td class="n">{{ "%.1f"|format(100 * p.completeness) }} %</td><td class="n">{{ p.valid_intervals if p.valid_intervals is not none else "—" }}/{{ p.expected_intervals }}</td>
<td class="n">{{ p.substituted_intervals if p.substituted_intervals is defined else "" }}{% if p.substituted_share %} ({{ "%.2f"|format(100 * p.substituted_share) }} %){% endif %}</td>{% endif %}
<td class="flag">{% for f in p.flags %}{{ f.code }} {% endfor %}</td></tr>
{% endfor %}</table>
{% if not_measured %}<p class="muted">未测量 Not measured: 本月无任何代理上报，不赋值、不替代 / no agent reported these in the month — no value, nothing substituted: {% for i in not_measured %}<code>{{ i }}</code> {% endfor %}</p>{% endif %}

{% if r.signals %}<details id="signals"><summary><b>其他测量信号 Other measured signals ({{ r.signals|length }})</b> — 非关键参数，仅供参考；不汇总、不替代 / not key parameters: listed for transparency, never aggregated or substituted</summary>
<table><tr><th>信号 Signal</th><th>对应参数 Of</th><th>单位 Unit</th><th>样本 Samples</th><th>首个 First</th><th>末个 Last</th><th>最小 Min</th><th>最大 Max</th><th>平均 Mean</th><th>首值 First value</th><th>末值 Last value</th><th>质量 good/uncertain/bad</th></tr>
{% for g in r.signals %}<tr><td><code>{{ g.id }}</code></td><td>{% if g.of %}<code>{{ g.of }}</code>{% endif %}</td><td>{{ g.unit or "" }}</td><td class="n">{{ num(g.samples) }}</td><td>{{ g.first_ts or "—" }}</td><td>{{ g.last_ts or "—" }}</td>
<td class="n">{{ num(g.min) }}</td><td class="n">{{ num(g.max) }}</td><td class="n">{{ num(g.mean) }}</td><td class="n">{{ num(g.first_value) }}</td><td class="n">{{ num(g.last_value) }}</td>
<td class="n">{{ g.quality.good }}/{{ g.quality.uncertain }}/{{ g.quality.bad }}</td></tr>
{% endfor %}</table></details>{% endif %}

{% if r.derived %}<h2>派生结果 Derived results</h2>
<table>
{% set pr = r.derived.production %}{% if pr %}
<tr><th>实测原铝产量 Measured aluminium (t)</th><td class="n">{{ num(pr.measured_t) }}</td></tr>
<tr><th>法拉第估算 Faraday estimate (t)</th><td class="n">{{ num(pr.faraday.aluminium_t if pr.faraday else none) }}{% if pr.faraday %} <span class="muted">(CE {{ pr.faraday.inputs.ce }}, I {{ num(pr.faraday.inputs.current_ka) }} kA, {{ num(pr.faraday.inputs.cells) }} cells, {{ num(pr.faraday.inputs.days) }} d)</span>{% endif %}</td></tr>
<tr><th>隐含电流效率 Implied current efficiency</th><td class="n">{{ num(pr.implied_ce) }} <span class="muted">range 范围 {{ pr.ce_range }}</span></td></tr>{% endif %}
{% set a = r.derived.aem %}{% if a %}
<tr><th>阳极效应系数 AEM (min/cell·d)</th><td class="n">{{ num(a.aem) }} <span class="muted">{% if a.inputs %}{{ num(a.inputs.ae_minutes) }} AE-min ÷ {{ num(a.inputs.cell_days) }} cell-days, {{ a.inputs.ae_count }} AEs; trigger {{ a.anode_effect_definition.trigger_v }} V, ≥ {{ a.anode_effect_definition.min_duration_s }} s{% endif %}</span></td></tr>{% endif %}
{% set f = r.derived.pfc %}{% if f %}
<tr><th>CF4 (t)</th><td class="n">{{ num(f.cf4_t) }}</td></tr>
<tr><th>C2F6 (t)</th><td class="n">{{ num(f.c2f6_t) }}</td></tr>
<tr><th>全氟化碳 PFC (t CO2e)</th><td class="n">{{ num(f.co2e_t) }} <span class="muted">method {{ f.method }}, {{ f.coefficient_set }} {{ f.technology or "" }}, GWP {{ f.gwp_set }} (CF4 {{ f.gwp.CF4 }}, C2F6 {{ f.gwp.C2F6 }})</span></td></tr>{% endif %}
{% set se = r.derived.specific_energy %}{% if se %}
<tr><th>直流电耗 Specific DC energy (kWh/kg)</th><td class="n">{{ num(se.measured_kwh_per_kg) }} <span class="muted">Faraday 2.980·V/CE: {{ num(se.faraday_kwh_per_kg) }}; range {{ se.range }}</span></td></tr>{% endif %}
</table>{% endif %}

{% set em = r.emissions %}{% if em %}<h2>直接排放 Direct emissions (t CO2e)</h2>
<table id="emissions"><tr><th>排放源 Source</th><th>类型 Kind</th><th>气体 Gas</th><th>排放量 t</th><th>t CO2e</th><th>方法 Method</th><th>输入 Inputs (获取方式 origin · 数据来源 source)</th></tr>
{% for s in em.sources %}<tr><td><code>{{ s.id }}</code></td><td>{{ kind_zh.get(s.kind, "") }} {{ s.kind }}</td><td>{{ s.gas }}</td><td class="n">{{ num(s.t) }}</td><td class="n">{{ num(s.co2e_t) }}</td><td class="muted">{{ s.method }}</td><td class="muted">
{% if s.kind == "carbon_balance" %}{% for side in ("in", "out") %}{% for f in s.inputs[side] %}{{ "入 in" if side == "in" else "出 out" }} {{ f.name }}: {{ num(f.quantity) }} {{ f.unit }} × {{ f.carbon_fraction }} <b>{{ origin_zh.get(f.origin, "") }} {{ f.origin }}</b>/{{ f.carbon_origin }} · {{ f.source }}<br>{% endfor %}{% endfor %}
{% else %}{% for k, v in s.inputs.items() %}{{ k }} = {{ v.value if v.value is string else num(v.value) }} {{ v.unit or "" }}{% if v.unrounded is defined %} (未修约 unrounded {{ num(v.unrounded) }}){% endif %} <b>{{ origin_zh.get(v.origin, "") }} {{ v.origin }}</b> · {{ v.source }}<br>{% endfor %}{% endif %}</td></tr>
{% endfor %}<tr><th colspan="4">合计 Total</th><td class="n"><b>{{ num(em.total_co2e_t) }}</b></td><td colspan="2" class="muted">电力为辅助参数，不计入排放 / electricity is an auxiliary parameter, not an emission</td></tr></table>{% endif %}

<h2>标志与交叉核对 Flags and cross-checks</h2>
{% if r.flags %}<ul>{% for f in r.flags %}<li class="flag"><code>{{ f.code }}</code> {{ f.message }}</li>{% endfor %}</ul>{% else %}<p class="ok">无 None</p>{% endif %}

<h2>参数曲线 Parameter charts</h2>
<p class="legend">区间值 interval values<span style="background:#1565c0"></span>
缺失/无效 gap (invalid)<span style="background:#e53935;opacity:.4"></span>
替代 substituted<span style="background:#fb8c00"></span></p>
{% for c in charts %}<h3 style="font-size:14px;margin-bottom:0"><code>{{ c.id }}</code> {{ c.name_zh or "" }} {{ c.name_en or "" }} {% if c.unit %}({{ c.unit }}){% endif %}</h3>
<div class="muted">{{ c.method }}</div>{{ c.svg|safe }}{% endfor %}

<h2>阳极效应 Anode effects ({{ r.anode_effects|length }})</h2>
{% if r.anode_effects %}<table><tr><th>槽号 Cell</th><th>开始 Start</th><th>结束 End</th><th>时长 Duration (s)</th><th>峰值电压 Peak (V)</th><th>触发 Trigger (V)</th><th>批次 Batch</th></tr>
{% for e in r.anode_effects[:max_ae] %}<tr><td>{{ e.cell }}</td><td>{{ e.start }}</td><td>{{ e.end }}</td><td class="n">{{ num(e.duration_s) }}</td><td class="n">{{ num(e.peak_v) }}</td><td class="n">{{ num(e.trigger_v) }}</td><td>{{ e.agent }} #{{ e.seq }}</td></tr>{% endfor %}
</table>{% if r.anode_effects|length > max_ae %}<p class="muted">first {{ max_ae }} shown; all are in record.json</p>{% endif %}{% else %}<p>无 None</p>{% endif %}

<h2>证据 Evidence</h2>
<table><tr><th>站点 Site</th><th>代理 Agent</th><th>首批 First seq</th><th>首批 prev</th><th>末批 Last seq</th><th>末批哈希 Last hash</th><th>批次数 Batches</th></tr>
{% for e in r.evidence %}<tr><td>{{ e.site }}</td><td>{{ e.agent }}</td><td class="n">{{ e.first_seq }}</td><td><code>{{ (e.first_prev or "null")[:16] }}…</code></td><td class="n">{{ e.last_seq }}</td><td><code>{{ e.last_hash[:16] }}…</code></td><td class="n">{{ e.batches }}</td></tr>{% endfor %}
</table>
<p class="muted">{{ r.summary.batches }} batches · {{ r.summary.readings }} readings · {{ r.summary.events }} events. 文件 Files: record.json, record.jws, batches.jsonl, keys.json, readings.csv, report.html.</p>
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_TPL = _ENV.from_string(_TEMPLATE)


def render_report(
    record: dict[str, Any], comp: RecordComputation, bundle: str = "BUNDLE_DIR"
) -> str:
    charts = []
    not_measured = [
        p["id"]
        for p in record["parameters"]
        if any(f["code"] == "not_measured" for f in p["flags"])
    ]
    for p in record["parameters"]:
        s = comp.series.get(p["id"])
        if s is None or p["id"] in not_measured:
            continue  # an empty chart of a parameter nobody measured would look like a loss
        charts.append({**p, "svg": _chart(p, s.values, s.substituted)})
    return _TPL.render(
        r=record,
        charts=charts,
        num=_num,
        bundle=bundle,
        max_ae=MAX_AE_ROWS,
        not_measured=not_measured,
        kind_zh=KIND_ZH,
        origin_zh=ORIGIN_ZH,
    )


#: emission source kinds and input origins in the guidelines' Chinese terms
KIND_ZH = {
    "anode_co2": "阳极消耗",
    "pfc": "阳极效应全氟化碳",
    "fuel_co2": "化石燃料燃烧",
    "clinker_co2": "熟料生产过程",
    "carbonate_co2": "碳酸盐分解",
    "carbon_balance": "碳平衡",
}
ORIGIN_ZH = {
    "measured": "实测值",
    "default": "缺省值",
    "calculated": "计算值",
    "estimated": "估算值",
}


def write_report(path: Path, record: dict[str, Any], comp: RecordComputation) -> None:
    name = f"{record['site']}_{record['month']}_v{record['version']}"
    path.write_text(render_report(record, comp, name), encoding="utf-8")
