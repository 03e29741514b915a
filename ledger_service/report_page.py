"""The report as a page a person reads and prints: one self-contained HTML file (inline CSS and SVG charts drawn
with matplotlib, no script, no external asset), every value from the report escaped."""

from __future__ import annotations

import io
from typing import Any

from flask import render_template_string
from markupsafe import Markup

__all__ = ["render"]

_VERDICT = {"pass": "pass", "fail": "FAIL", "not_applicable": "n/a"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence report {{ r.organisation }} {{ r.period.since }} to {{ r.period.until }}</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #bbb}h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #e4e4e4}
code,pre{font:12px ui-monospace,monospace;word-break:break-all;white-space:pre-wrap}
.pass{color:#075e07;font-weight:600}.FAIL{color:#b00000;font-weight:700}.n\\/a{color:#666}
.summary{font-size:1.05rem}figure{margin:1rem 0;page-break-inside:avoid}svg{max-width:100%;height:auto}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}tr{page-break-inside:avoid}}
</style></head><body>
<h1>Evidence report</h1>
<p>Organisation <code>{{ r.organisation }}</code> · period {{ r.period.since }} to {{ r.period.until }} · generated {{ r.generated_at }}</p>
<p class="summary">{{ counts.pass }} checks pass, {{ counts.fail }} fail, {{ counts.not_applicable }} not applicable, over
{{ r.inputs.records }} records of the chain ({{ r.statistics.decisions }} decisions in the period).</p>
<h2 id="verdicts">Verdicts</h2>
<table><thead><tr><th>check</th><th>EU AI Act</th><th>verdict</th></tr></thead><tbody>
{% for c in r.checks %}<tr><td><a href="#{{ c.id }}">{{ c.title }}</a></td><td>{{ c.article }}</td>
<td class="{{ verdict[c.verdict] }}">{{ verdict[c.verdict] }}</td></tr>
{% endfor %}</tbody></table>
<h2 id="monitoring">Post-market monitoring</h2>
{% for title, svg in charts %}<figure><figcaption>{{ title }}</figcaption>{{ svg }}</figure>{% else %}<p>No decisions in the period.</p>{% endfor %}
<h2 id="evidence">What each verdict rests on</h2>
{% for c in r.checks %}<h3 id="{{ c.id }}">{{ c.title }} <span class="{{ verdict[c.verdict] }}">{{ verdict[c.verdict] }}</span></h3>
<p>{{ c.article }}</p><pre>{{ c.evidence | tojson(indent=2) }}</pre>{% endfor %}
<h2 id="inputs">Inputs and how to check this report</h2>
<p>Built from records 0 to {{ r.inputs.records - 1 }} of the chain (SHA-256 over their record hashes:
<code>{{ r.inputs.records_digest }}</code>), the organisation's signed log checkpoint below, and the ledger's stated
configuration; the ledger signed the whole (key <code>{{ r.attestation.key_id }}</code>). Anyone holding the export
bundle re-derives every verdict and number, and checks the signatures:</p>
<pre>xase verify evidence.jsonl --report report.json --key ledger-public-key.pem</pre>
<h3>Checkpoint</h3><pre>{{ r.inputs.checkpoint }}</pre>
<h3>Configuration stated by the ledger</h3><pre>{{ r.inputs.facts | tojson(indent=2) }}</pre>
</body></html>"""


def _svg(figure: Any) -> Markup:
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = out.getvalue()
    # matplotlib's own markup: text is drawn as glyph paths, and the comments naming it are escaped (tested with hostile names)
    return Markup(text[text.index("<svg") :])  # noqa: S704


def _charts(statistics: dict[str, Any]) -> list[tuple[str, Markup]]:
    """Decisions per week and the confidence distribution, one line or bar series per policy."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    pyplot.rcParams.update({"svg.hashsalt": "xase-report", "font.size": 9})
    charts = []
    weekly = statistics.get("decisions_by_week") or {}
    if weekly:
        figure, axes = pyplot.subplots(figsize=(8, 3))
        weeks = sorted({week for series in weekly.values() for week in series})
        for policy, series in weekly.items():
            axes.plot(weeks, [series.get(week, 0) for week in weeks], marker="o", label=policy)
        axes.set_ylabel("decisions")
        axes.legend(fontsize=8)
        axes.tick_params(axis="x", labelrotation=45)
        charts.append(("Decisions per ISO week, per policy", _svg(figure)))
        pyplot.close(figure)
    confidence = statistics.get("confidence_by_policy") or {}
    if confidence:
        figure, axes = pyplot.subplots(figsize=(8, 3))
        bins = [f"{step / 10:.1f}" for step in range(10)] + ["none"]
        width = 0.8 / max(1, len(confidence))
        for offset, (policy, counts) in enumerate(confidence.items()):
            axes.bar([index + offset * width for index in range(len(bins))], [counts.get(name, 0) for name in bins], width=width, label=policy)
        axes.set_xticks([index + 0.4 - width / 2 for index in range(len(bins))], bins)
        axes.set_xlabel("confidence (lower bound of each tenth)")
        axes.set_ylabel("decisions")
        axes.legend(fontsize=8)
        charts.append(("Confidence distribution, per policy", _svg(figure)))
        pyplot.close(figure)
    return charts


def render(report: dict[str, Any]) -> str:
    counts = {verdict: sum(1 for check in report["checks"] if check["verdict"] == verdict) for verdict in _VERDICT}
    return render_template_string(_PAGE, r=report, counts=counts, verdict=_VERDICT, charts=_charts(report["statistics"]))
