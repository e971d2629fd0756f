"""``report.html``: the record for people — self-contained, bilingual 中文/English, offline.

One HTML file with inline CSS and inline SVG charts (no scripts, fonts or anything fetched
from a network): summary of every key parameter (those nobody measured say so), a collapsed
table of the other measured signals, derived results and cross-checks, a chart
per parameter with invalid intervals shaded red and substituted ones marked orange, the
anode-effect table and the evidence ranges. The numbers shown are those of record.json.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape

from collector.records.explain import number, record_view
from protocols.record import RecordComputation

__all__ = ["render_report", "write_report"]

W, H, PAD, BOTTOM = 1200, 170, 64, 24
BUCKETS = 600
MAX_MARKS = 400
MAX_AE_ROWS = 2000
DAY_MS = 86_400_000


def _num(x: Any, digits: int = 6) -> str:
    return number(x, digits)


def _ticks(start_ms: int, end_ms: int, tz: str) -> list[tuple[int, str]]:
    """Local midnights every few days (about eight labels across the month)."""
    zone = ZoneInfo(tz)
    first = datetime.fromtimestamp(start_ms / 1000, zone).replace(hour=0, minute=0, second=0)
    span_days = max(1, (end_ms - start_ms) // DAY_MS)
    step = max(1, math.ceil(span_days / 8))
    out = []
    d = first
    while True:
        ms = int(d.timestamp() * 1000)
        if ms >= end_ms:
            break
        if ms >= start_ms:
            out.append((ms, d.strftime("%m-%d")))
        d = (d + timedelta(days=step)).replace(hour=0)
    return out


def _chart(
    entry: dict[str, Any],
    values: list[float | None],
    substituted: list[bool],
    period: dict[str, Any],
) -> str:
    """Inline SVG over the month's dates: min–max band and mean line per bucket of
    intervals, invalid intervals shaded red, substituted ones marked orange."""
    n = len(values)
    if n == 0:
        return ""
    start_ms = int(period.get("start_ms") or 0)
    iv_ms = int(period.get("interval_s") or 3600) * 1000
    end_ms = int(period.get("end_ms") or start_ms + n * iv_ms)
    tz = str(period.get("timezone") or "UTC")
    per = max(1, math.ceil(n / BUCKETS))
    pts: list[tuple[int, float, float, float]] = []
    for b in range(0, n, per):
        chunk = [v for v in values[b : b + per] if v is not None]
        if chunk:
            pts.append((b, min(chunk), max(chunk), math.fsum(chunk) / len(chunk)))
    plot_w, plot_h = W - PAD - 12, H - 8 - BOTTOM
    x = lambda k: PAD + plot_w * k / n  # noqa: E731  (interval index -> px)
    xt = lambda ms: PAD + plot_w * (ms - start_ms) / max(1, end_ms - start_ms)  # noqa: E731
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" preserveAspectRatio="none" '
        'xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{entry.get("id")}">',
        f'<rect x="{PAD}" y="8" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for ms, label in _ticks(start_ms, end_ms, tz):
        px = xt(ms)
        parts.append(
            f'<line x1="{px:.1f}" y1="8" x2="{px:.1f}" y2="{8 + plot_h}" stroke="#e5e5e5"/>'
            f'<text x="{px:.1f}" y="{H - 8}" class="ax" text-anchor="middle">{label}</text>'
        )
    for g in entry.get("gaps", [])[:MAX_MARKS]:
        a, m = g["start_index"], g["intervals"]
        parts.append(
            f'<rect x="{x(a):.1f}" y="8" width="{max(1.0, x(a + m) - x(a)):.1f}" '
            f'height="{plot_h}" fill="#e53935" fill-opacity="0.18"><title>缺失 gap {g["start"]} '
            f"→ {g['end']} ({m} intervals)</title></rect>"
        )
    if pts:
        lo = min(p[1] for p in pts)
        hi = max(p[2] for p in pts)
        if hi == lo:
            hi, lo = hi + 1.0, lo - 1.0
        y = lambda v: 8 + plot_h * (1 - (v - lo) / (hi - lo))  # noqa: E731
        c = lambda b: x(b + per / 2)  # noqa: E731  (bucket centre)
        band = " ".join(f"{c(b):.1f},{y(mx):.1f}" for b, _, mx, _ in pts)
        band += " " + " ".join(f"{c(b):.1f},{y(mn):.1f}" for b, mn, _, _ in reversed(pts))
        parts.append(f'<polygon points="{band}" fill="#1e88e5" fill-opacity="0.15"/>')
        line = " ".join(f"{c(b):.1f},{y(m):.1f}" for b, _, _, m in pts)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="1.2" '
            'vector-effect="non-scaling-stroke"/>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="16" class="ax" text-anchor="end">{_num(hi, 4)}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{8 + plot_h}" class="ax" text-anchor="end">{_num(lo, 4)}</text>'
        )
    for s in entry.get("substitutions", [])[:MAX_MARKS]:
        a, m = s["start_index"], s["intervals"]
        parts.append(
            f'<rect x="{x(a):.1f}" y="{8 + plot_h - 6}" width="{max(2.0, x(a + m) - x(a)):.1f}" '
            f'height="6" fill="#fb8c00"><title>{s["rule"]} 替代 substituted {s["start"]} → '
            f"{s['end']}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>月度存证 Monthly record · {{ r.site }} · {{ r.month }} · v{{ r.version }}</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif;margin:24px 32px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
table.wide{width:100%}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.flag{color:#b71c1c}.ok{color:#2e7d32}.muted{color:#777;font-size:12px}.en{color:#555}
.chart{display:block;width:100%;height:170px;margin:4px 0 18px}.ax{font-size:11px;fill:#666}
tr.nm td{color:#777;background:#fafafa}details{margin:12px 0}summary{cursor:pointer;font-size:15px}
.legend{font-size:13px}.legend i{display:inline-block;width:14px;height:10px;margin:0 4px 0 14px;vertical-align:middle}
code{font-size:12px}
</style></head><body>
<h1>月度存证 Monthly verification record</h1>
<table>
<tr><th>站点 Site</th><td>{{ r.site }}</td><th>月份 Month</th><td>{{ r.month }}</td></tr>
<tr><th>期间 Period</th><td colspan="3">{{ r.period.start }} → {{ r.period.end }} ({{ r.period.timezone }}, {{ r.period.intervals }} × {{ r.period.interval_s }} s)</td></tr>
<tr><th>版本 Version</th><td>v{{ r.version }}</td><th>原因 Reason</th><td>{{ r.reason or "—" }}</td></tr>
<tr><th>生成时间 Created</th><td>{{ r.created }}</td><th>行业 Industry</th><td>{{ r.settings.industry }}</td></tr>
<tr><th>签名密钥 Collector key</th><td colspan="3"><code>{{ v.collector_kid }}</code></td></tr>
{% if r.previous %}<tr><th>上一版本 Previous</th><td colspan="3">v{{ r.previous.version }} · sha256 <code>{{ r.previous.record_sha256 }}</code></td></tr>{% endif %}
</table>
<p class="muted">核验 Verify offline: <code>mrv-verify {{ bundle }}</code> — 重新检查签名、哈希链并从批次重算每个数值 / re-checks every signature and chain and recomputes every value from the batches.</p>

<h2>关键参数 Key parameters</h2>
<table class="wide" id="parameters"><tr><th>参数 Parameter</th><th>名称 Name</th><th>值 Value</th><th>单位 Unit</th><th>方法 Method</th><th>完整率 Completeness</th><th>有效/应有 Valid/expected</th><th>替代 Substituted</th><th>标志 Flags</th></tr>
{% for p in v.key_parameters %}<tr{% if p.not_measured %} class="nm"{% endif %} data-param="{{ p.id }}"><td><code>{{ p.id }}</code></td><td>{{ p.name_zh }} <span class="en">{{ p.name_en }}</span></td>
{% if p.not_measured %}<td class="n">未测量 not measured</td><td>{{ p.unit }}</td><td>{{ p.method.zh }} <span class="en">{{ p.method.en }}</span></td><td class="n">—</td><td class="n">0/{{ p.expected }}</td><td class="n">—</td>
{% else %}<td class="n value">{{ p.value }}</td><td>{{ p.unit }}</td><td>{{ p.method.zh }} <span class="en">{{ p.method.en }}</span></td>
<td class="n">{{ p.completeness_text }}</td><td class="n">{{ p.valid if p.valid is not none else "—" }}/{{ p.expected }}</td>
<td class="n">{% for s in p.substitutions[:3] %}<div>{{ s.rule }} {{ s.contribution }}</div>{% endfor %}{% if p.substitutions|length > 3 %}<div>+{{ p.substitutions|length - 3 }}</div>{% endif %}{% if p.substituted_share %}<div class="muted">{{ "%.2f"|format(100 * p.substituted_share) }} %</div>{% endif %}</td>{% endif %}
<td class="flag">{% for f in p.flags %}<div title="{{ f.detail }}">{{ f.code }}</div>{% endfor %}</td></tr>
{% endfor %}</table>

{% if v.derived_parameters %}<h2>计算参数 Calculated parameters</h2>
<table class="wide" id="calculated"><tr><th>参数 Parameter</th><th>名称 Name</th><th>值 Value</th><th>单位 Unit</th><th>方法 Method</th><th>标志 Flags</th></tr>
{% for p in v.derived_parameters %}<tr data-param="{{ p.id }}"><td><code>{{ p.id }}</code></td><td>{{ p.name_zh }} <span class="en">{{ p.name_en }}</span></td><td class="n value">{{ p.value }}</td><td>{{ p.unit }}</td><td>{{ p.method.zh }} <span class="en">{{ p.method.en }}</span></td><td class="flag">{% for f in p.flags %}<div title="{{ f.detail }}">{{ f.code }}</div>{% endfor %}</td></tr>
{% endfor %}</table>{% endif %}

{% if v.derived %}<h2>派生结果 Derived results</h2>
<table class="wide" id="derived"><tr><th>结果 Result</th><th>值 Value</th><th>单位 Unit</th><th>计算方法 How it is computed</th></tr>
{% for d in v.derived %}<tr><th>{{ d.zh }} <span class="en">{{ d.en }}</span></th><td class="n value">{{ d.value }}</td><td>{{ d.unit }}</td><td>{{ d.how_zh }} <span class="en">{{ d.how_en }}</span></td></tr>{% endfor %}
</table>{% endif %}

{% set em = r.emissions %}{% if em %}<h2>直接排放 Direct emissions (t CO2e)</h2>
<table id="emissions"><tr><th>排放源 Source</th><th>类型 Kind</th><th>气体 Gas</th><th>排放量 t</th><th>t CO2e</th><th>方法 Method</th><th>输入 Inputs (获取方式 origin · 数据来源 source)</th></tr>
{% for s in em.sources %}<tr><td><code>{{ s.id }}</code></td><td>{{ kind_zh.get(s.kind, "") }} {{ s.kind }}</td><td>{{ s.gas }}</td><td class="n">{{ num(s.t) }}</td><td class="n">{{ num(s.co2e_t) }}</td><td class="muted">{{ s.method }}</td><td class="muted">
{% if s.kind == "carbon_balance" %}{% for side in ("in", "out") %}{% for f in s.inputs[side] %}{{ "入 in" if side == "in" else "出 out" }} {{ f.name }}: {{ num(f.quantity) }} {{ f.unit }} × {{ f.carbon_fraction }} <b>{{ origin_zh.get(f.origin, "") }} {{ f.origin }}</b>/{{ f.carbon_origin }} · {{ f.source }}<br>{% endfor %}{% endfor %}
{% else %}{% for k, v in s.inputs.items() %}{{ k }} = {{ v.value if v.value is string else num(v.value) }} {{ v.unit or "" }}{% if v.unrounded is defined %} (未修约 unrounded {{ num(v.unrounded) }}){% endif %} <b>{{ origin_zh.get(v.origin, "") }} {{ v.origin }}</b> · {{ v.source }}<br>{% endfor %}{% endif %}</td></tr>
{% endfor %}<tr><th colspan="4">合计 Total</th><td class="n"><b>{{ num(em.total_co2e_t) }}</b></td><td colspan="2" class="muted">电力为辅助参数，不计入排放 / electricity is an auxiliary parameter, not an emission</td></tr></table>{% endif %}

<h2>标志与交叉核对 Flags and cross-checks</h2>
{% if v.flags %}<ul>{% for f in v.flags %}<li class="flag"><code>{{ f.code }}</code> {{ f.zh }} <span class="en">{{ f.en }}</span>{% if f.detail %} <span class="muted">— {{ f.detail }}</span>{% endif %}</li>{% endfor %}</ul>{% else %}<p class="ok">无 None</p>{% endif %}
{% if v.explained %}<h3 style="font-size:14px">标志与替代规则说明 What the flags and rules mean</h3>
<table class="wide" id="glossary">{% for code, t in v.explained.items() %}<tr><td><code>{{ code }}</code></td><td>{{ t.zh }} <span class="en">{{ t.en }}</span></td></tr>{% endfor %}</table>{% endif %}

{% if r.signals %}<details id="signals"><summary><b>其他测量信号 Other measured signals ({{ r.signals|length }})</b> — 非关键参数，仅供参考；不汇总、不替代 / not key parameters: listed for transparency, never aggregated or substituted</summary>
<table><tr><th>信号 Signal</th><th>对应参数 Of</th><th>单位 Unit</th><th>样本 Samples</th><th>首个 First</th><th>末个 Last</th><th>最小 Min</th><th>最大 Max</th><th>平均 Mean</th><th>首值 First value</th><th>末值 Last value</th><th>质量 good/uncertain/bad</th></tr>
{% for g in r.signals %}<tr><td><code>{{ g.id }}</code></td><td>{% if g.of %}<code>{{ g.of }}</code>{% endif %}</td><td>{{ g.unit or "" }}</td><td class="n">{{ num(g.samples) }}</td><td>{{ g.first_ts or "—" }}</td><td>{{ g.last_ts or "—" }}</td>
<td class="n">{{ num(g.min) }}</td><td class="n">{{ num(g.max) }}</td><td class="n">{{ num(g.mean) }}</td><td class="n">{{ num(g.first_value) }}</td><td class="n">{{ num(g.last_value) }}</td>
<td class="n">{{ g.quality.good }}/{{ g.quality.uncertain }}/{{ g.quality.bad }}</td></tr>
{% endfor %}</table></details>{% endif %}

<h2>参数曲线 Parameter charts</h2>
<p class="legend"><i style="background:#1565c0"></i>区间值 interval values
<i style="background:#1e88e5;opacity:.3"></i>最小–最大 min–max
<i style="background:#e53935;opacity:.4"></i>缺失/无效 gap (invalid)
<i style="background:#fb8c00"></i>替代 substituted · <span class="muted">横轴：{{ r.period.timezone }} 日期 x axis: local date</span></p>
{% for c in charts %}<h3 style="font-size:14px;margin-bottom:0"><code>{{ c.id }}</code> {{ c.name_zh or "" }} {{ c.name_en or "" }} {% if c.unit %}({{ c.unit }}){% endif %}</h3>
{{ c.svg|safe }}{% endfor %}

<h2>阳极效应 Anode effects ({{ v.ae_count if v.ae_count is not none else r.anode_effects|length }})</h2>
{% if r.anode_effects %}<table><tr><th>槽号 Cell</th><th>开始 Start</th><th>结束 End</th><th>时长 Duration (s)</th><th>峰值电压 Peak (V)</th><th>触发 Trigger (V)</th><th>批次 Batch</th></tr>
{% for e in r.anode_effects[:max_ae] %}<tr><td>{{ e.cell }}</td><td>{{ e.start }}</td><td>{{ e.end }}</td><td class="n">{{ num(e.duration_s) }}</td><td class="n">{{ num(e.peak_v) }}</td><td class="n">{{ num(e.trigger_v) }}</td><td>{{ e.agent }} #{{ e.seq }}</td></tr>{% endfor %}
</table>{% if r.anode_effects|length > max_ae %}<p class="muted">first {{ max_ae }} shown; all are in record.json</p>{% endif %}
{% elif v.ae_count %}<p>由槽控机阳极效应计数器统计，无逐次事件 / counted by the pot controllers' AE counters; no per-effect events were reported.</p>{% else %}<p>无 None</p>{% endif %}

<h2>证据 Evidence</h2>
<table><tr><th>站点 Site</th><th>代理 Agent</th><th>首批 First seq</th><th>首批 prev</th><th>末批 Last seq</th><th>末批哈希 Last hash</th><th>批次数 Batches</th></tr>
{% for e in r.evidence %}<tr><td>{{ e.site }}</td><td>{{ e.agent }}</td><td class="n">{{ e.first_seq }}</td><td><code>{{ (e.first_prev or "—")[:16] }}{% if e.first_prev %}…{% endif %}</code></td><td class="n">{{ e.last_seq }}</td><td><code>{{ e.last_hash[:16] }}…</code></td><td class="n">{{ e.batches }}</td></tr>{% endfor %}
</table>
<p class="muted">{{ num(r.summary.batches) }} batches · {{ num(r.summary.readings) }} readings · {{ num(r.summary.events) }} events. 文件 Files: record.json, record.jws, batches.jsonl, keys.json, readings.csv, report.html.</p>
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
        charts.append({**p, "svg": _chart(p, s.values, s.substituted, record["period"])})
    return _TPL.render(
        r=record,
        v=record_view(record),
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
