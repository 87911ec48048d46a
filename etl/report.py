"""The warehouse report: one self-contained HTML page (and a markdown digest) from report rows.

The figures come from ``etl.warehouse.report`` (all SQL lives there); this module
only draws them. Charts are Plotly figures sharing one inlined copy of plotly.js,
so the page needs no network: it opens from a laptop offline and can be mailed
around as one file. Plotly draws SVG, keeps hover values on every bar, and its
Python package needs no pandas.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from etl.warehouse.report import ReportData

COLORS = {
    "kept": "#2e7d32",
    "exact": "#1565c0",
    "near": "#64b5f6",
    "rejects": "#c62828",
}
LABELS = {"kept": "kept", "exact": "exact duplicates", "near": "near duplicates", "rejects": "rejects"}
MEASURE_COLORS = {"jaccard": "#1565c0", "containment": "#ef6c00", "edit": "#6a1b9a", "hash": "#455a64"}
STATUS_CODES = {"done": 0, "empty": 1, "running": 2, "pending": 3, "failed": 4}
STATUS_COLORS = ["#2e7d32", "#bdbdbd", "#f9a825", "#90caf9", "#c62828"]
MAX_SOURCE_PANELS = 6
# A small template of our own: plotly's named templates are copied into every figure
# through its validators, which costs ~0.4 s a chart.
TEMPLATE = {
    "layout": {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692"],
        "xaxis": {"gridcolor": "#eceff1", "linecolor": "#cfd8dc", "zerolinecolor": "#cfd8dc"},
        "yaxis": {"gridcolor": "#eceff1", "linecolor": "#cfd8dc", "zerolinecolor": "#cfd8dc"},
        "hoverlabel": {"align": "left"},
    }
}
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222;
       background: #f6f7f9; }
header { background: #263238; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #cfd8dc; }
main { padding: 8px 32px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid #e0e3e7; border-radius: 6px; padding: 14px 18px;
          margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 8px; }
p.why { color: #555; margin: 0 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { flex: 1 1 140px; border-radius: 6px; padding: 10px 14px; background: #eceff1; }
.card b { display: block; font-size: 24px; }
.card.kept { background: #e8f5e9; } .card.exact { background: #e3f2fd; }
.card.near { background: #e1f5fe; } .card.rejects { background: #ffebee; }
table { border-collapse: collapse; margin-top: 8px; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff1; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; background: #f1f3f4; padding: 1px 4px; border-radius: 3px; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.grid section { margin: 0; min-width: 0; }
@media (max-width: 1000px) { .grid { grid-template-columns: minmax(0, 1fr); } }
td.w { overflow-wrap: anywhere; }
.empty { color: #777; font-style: italic; }
"""


def render_html(data: ReportData, *, generated: datetime | None = None) -> str:
    """The whole report page, with plotly.js inlined once for all charts."""
    from plotly.offline import get_plotlyjs  # the script only: figures are plain dicts

    generated = generated or datetime.now(UTC)
    scope = []
    if data.source:
        scope.append(f"source {data.source}")
    if data.since:
        scope.append(f"since {data.since.isoformat()}")
    subtitle = (
        f"{data.warehouse} &middot; {html.escape(', '.join(scope) or 'whole warehouse')} &middot; "
        f"generated {generated:%Y-%m-%d %H:%M} UTC"
    )
    sections = [
        _totals_section(data),
        _section(
            "Records per day and source",
            "Kept, exact and near duplicates by publication day; rejects by the day of their "
            "partition, else of their dump's first story.",
            _daily_chart(data),
        ),
        '<div class="grid">',
        _section(
            "Near-duplicate similarity by measure",
            "How close the dropped near duplicates were to their kept copy, per measure that matched.",
            _similarity_chart(data),
        ),
        _section(
            "Duplicates by relation",
            "copy: same text; revision: edited; update: a fuller version; excerpt: a shorter one.",
            _relations_chart(data),
        ),
        _section("Reject reasons", "Records that could not be parsed or validated.", _rejects_chart(data)),
        _section(
            "Runs over time",
            "Duration of each run (bars) and records read per second (line).",
            _runs_chart(data),
        ),
        "</div>",
        _section(
            "Largest clusters",
            "Kept articles with the most dropped copies. "
            "<code>newsetl explain ID</code> lists a cluster's neighbours.",
            _clusters_chart(data) + _clusters_table(data),
        ),
        _section(
            "Partition ledger",
            "One square per source and day: done, empty (no dump that day), failed, running or pending.",
            _partition_calendars(data) + _partition_failures(data),
        ),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>newsetl report: {html.escape(data.warehouse)}</title>"
        f"<style>{CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>newsetl warehouse report</h1><p>{subtitle}</p></header><main>"
        + "\n".join(sections)
        + "</main><script>window.addEventListener('load', () => document.querySelectorAll("
        "'.js-plotly-plot').forEach(p => Plotly.Plots.resize(p)));</script></body></html>\n"
    )


def write_html(data: ReportData, path: Path) -> Path:
    """Write the page atomically (a half-written report is never seen)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(path)
    return path


# --- sections -------------------------------------------------------------------------


def _section(title: str, why: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2><p class='why'>{why}</p>{body}</section>"


def _empty(what: str) -> str:
    return f"<p class='empty'>{html.escape(what)}</p>"


def _n(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if isinstance(value, int) or float(value).is_integer() else f"{value:,.1f}"


def _table(
    columns: Iterable[str],
    rows: Iterable[Iterable[Any]],
    numeric: Iterable[int] = (),
    wrap: Iterable[int] = (),
) -> str:
    """A plain table; ``wrap`` columns may break anywhere (long paths in sentences)."""
    numeric, wrap = set(numeric), set(wrap)
    head = "".join(
        f"<th class='{'n' if i in numeric else ''}'>{html.escape(c)}</th>" for i, c in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = _n(v) if i in numeric else str(v if v is not None else "")
            cls = "n" if i in numeric else ("w" if i in wrap else "")
            cells.append(f"<td class='{cls}'>{text if text.startswith('<code>') else html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _totals_section(data: ReportData) -> str:
    t = data.totals
    cards = "".join(
        f"<div class='card {cls}'><span>{label}</span><b>{t[key]:,}</b></div>"
        for key, label, cls in (
            ("read", "records read", ""),
            ("kept", "kept", "kept"),
            ("exact", "exact duplicates", "exact"),
            ("near", "near duplicates", "near"),
            ("rejects", "rejects", "rejects"),
        )
    )
    table = _table(
        ("source", "read", "kept", "exact duplicates", "near duplicates", "rejects", "kept %"),
        (
            (
                s["source"],
                s["read"],
                s["kept"],
                s["exact"],
                s["near"],
                s["rejects"],
                f"{100 * s['kept'] / s['read']:.1f}" if s["read"] else "",
            )
            for s in data.per_source
        ),
        numeric=(1, 2, 3, 4, 5),
    )
    return _section(
        "Totals",
        "Every record read ends as exactly one of: kept, exact duplicate, near duplicate, reject.",
        f"<div class='cards'>{cards}</div>"
        + (table if data.per_source else _empty("The warehouse holds no records yet.")),
    )


def _figure_html(traces: list[dict[str, Any]], layout: dict[str, Any], height: int) -> str:
    """One chart: a div and the call that draws it with the page's plotly.js.

    Figures are plain dicts in plotly.js's own schema: plotly's Python objects validate
    every property on assignment, which costs seconds on a report with a thousand days.
    """
    base = {
        "height": height,
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "template": TEMPLATE,
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        "font": {"size": 12},
    }
    div = f"chart-{uuid.uuid4().hex[:12]}"
    args = ", ".join(_js(v) for v in (traces, {**base, **layout}, PLOT_CONFIG))
    return (
        f'<div id="{div}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>'
        f'<script type="text/javascript">Plotly.newPlot("{div}", {args});</script>'
    )


def _js(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _daily_chart(data: ReportData) -> str:
    if not data.daily:
        return _empty("No records yet.")
    sources = [s["source"] for s in data.per_source]
    shown = sources[:MAX_SOURCE_PANELS]
    span = _dense_range(data.daily)
    bucket = _bucket_of(span)
    monthly = any(bucket(r["day"]) != r["day"] for r in data.daily)
    panels = shown + (["other sources"] if len(sources) > len(shown) else [])
    gap = 0.08
    height = (1 - gap * (len(panels) - 1)) / len(panels)
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"barmode": "stack", "bargap": 0.1, "annotations": []}
    for i, panel in enumerate(panels):
        per_day: dict[str, dict[str, int]] = {}
        for r in data.daily:
            src = r["source"] if r["source"] in shown else "other sources"
            if src != panel:
                continue
            d = per_day.setdefault(bucket(r["day"]), dict.fromkeys(COLORS, 0))
            for k in COLORS:
                d[k] += r[k]
        days = sorted(per_day)
        axis = "y" if i == 0 else f"y{i + 1}"
        top = 1 - i * (height + gap)
        layout["yaxis" if i == 0 else f"yaxis{i + 1}"] = {
            "domain": [max(0.0, top - height), top],
            "title": {"text": "records a month" if monthly else "records a day", "font": {"size": 11}},
        }
        layout["annotations"].append(
            {
                "text": html.escape(panel),
                "x": 0.5,
                "y": top,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"size": 13},
            }
        )
        for key, color in COLORS.items():
            traces.append(
                {
                    "type": "bar",
                    "x": days,
                    "y": [per_day[d][key] for d in days],
                    "yaxis": axis,
                    "name": LABELS[key],
                    "marker": {"color": color},
                    "legendgroup": key,
                    "showlegend": i == 0,
                    "hovertemplate": f"%{{x}}<br>{LABELS[key]}: %{{y:,}}<extra>{html.escape(panel)}</extra>",
                }
            )
    xaxis: dict[str, Any] = {"type": "date", "anchor": f"y{len(panels)}" if len(panels) > 1 else "y"}
    note = ""
    if span:
        lo, hi = (date.fromisoformat(bucket(d)) for d in span)
        pad = timedelta(days=20 if monthly else 1)
        xaxis["range"] = [(lo - pad).isoformat(), (hi + pad).isoformat()]
        outside = sum(r["read"] for r in data.daily if not span[0] <= r["day"] <= span[1])
        if outside:
            note = (
                f"<p class='why'>{outside:,} records lie outside {span[0]} .. {span[1]} "
                "(double-click the chart to zoom out to them).</p>"
            )
    layout["xaxis"] = xaxis
    return note + _figure_html(traces, layout, 140 + 200 * len(panels))


def _dense_range(daily: list[dict[str, Any]], share: float = 0.995) -> tuple[str, str] | None:
    """The days that hold all but the outlying ``1 - share`` of records (a stray date, a reject
    dated by its load day), so a handful of records does not stretch the axis over decades."""
    per_day: dict[str, int] = {}
    for r in daily:
        if r["day"] != "unknown":
            per_day[r["day"]] = per_day.get(r["day"], 0) + r["read"]
    if not per_day:
        return None
    days = sorted(per_day)
    total = sum(per_day.values())
    cut = total * (1 - share) / 2
    lo, hi, seen = 0, len(days) - 1, 0
    while lo < hi and seen + per_day[days[lo]] <= cut:
        seen += per_day[days[lo]]
        lo += 1
    seen = 0
    while hi > lo and seen + per_day[days[hi]] <= cut:
        seen += per_day[days[hi]]
        hi -= 1
    return days[lo], days[hi]


def _bucket_of(span: tuple[str, str] | None):
    """Days for a span up to ~13 months, else months: one-day bars over years would be invisible."""
    if span and (date.fromisoformat(span[1]) - date.fromisoformat(span[0])).days > 400:
        return lambda d: d[:7] + "-01" if d != "unknown" else d
    return lambda d: d


def _similarity_chart(data: ReportData) -> str:
    if not data.similarity:
        return _empty("No near duplicates yet.")
    traces = []
    for measure in sorted({r["measure"] for r in data.similarity}):
        rows = [r for r in data.similarity if r["measure"] == measure]
        traces.append(
            {
                "type": "bar",
                "x": [(r["low"] + r["high"]) / 2 for r in rows],
                "y": [r["count"] for r in rows],
                "width": [(r["high"] - r["low"]) * 0.95 for r in rows],
                "name": measure,
                "marker": {"color": MEASURE_COLORS.get(measure)},
                "customdata": [[r["low"], r["high"]] for r in rows],
                "hovertemplate": f"{measure} %{{customdata[0]:.2f}}-%{{customdata[1]:.2f}}: "
                "%{y:,}<extra></extra>",
            }
        )
    layout = {
        "barmode": "stack",
        "showlegend": True,
        "xaxis": {"title": {"text": "similarity to the kept copy"}, "range": [0, 1.0], "dtick": 0.1},
        "yaxis": {"title": {"text": "near duplicates"}},
    }
    return _figure_html(traces, layout, 340)


def _relations_chart(data: ReportData) -> str:
    if not data.relations:
        return _empty("No duplicates yet.")
    order = ["copy", "revision", "update", "excerpt"]
    relations = order + sorted({r["relation"] for r in data.relations} - set(order))
    traces = []
    for method, color in (("exact", COLORS["exact"]), ("near", COLORS["near"])):
        counts = {r["relation"]: r["count"] for r in data.relations if r["method"] == method}
        traces.append(
            {
                "type": "bar",
                "x": relations,
                "y": [counts.get(rel, 0) for rel in relations],
                "name": f"{method} duplicates",
                "marker": {"color": color},
                "hovertemplate": f"%{{x}} ({method}): %{{y:,}}<extra></extra>",
            }
        )
    return _figure_html(traces, {"barmode": "stack", "yaxis": {"title": {"text": "duplicates"}}}, 340)


def _rejects_chart(data: ReportData) -> str:
    if not data.reject_reasons:
        return _empty("No rejects.")
    by_code: dict[str, int] = {}
    for r in data.reject_reasons:
        by_code[r["reason_code"]] = by_code.get(r["reason_code"], 0) + r["count"]
    codes = sorted(by_code, key=lambda c: by_code[c])
    traces = []
    for src in sorted({r["source"] for r in data.reject_reasons}):
        counts = {r["reason_code"]: r["count"] for r in data.reject_reasons if r["source"] == src}
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "y": codes,
                "x": [counts.get(c, 0) for c in codes],
                "name": src,
                "hovertemplate": f"%{{y}} ({html.escape(src)}): %{{x:,}}<extra></extra>",
            }
        )
    layout = {
        "barmode": "stack",
        "showlegend": True,
        "xaxis": {"title": {"text": "rejects"}},
        "margin": {"l": 110, "r": 20, "t": 40, "b": 40},
    }
    chart = _figure_html(traces, layout, 120 + 28 * max(3, len(codes)))
    table = _table(
        ("reason", "source", "rejects", "example", "one of them"),
        (
            (r["reason_code"], r["source"], r["count"], _short(r["example"], 160), Path(r["locator"]).name)
            for r in data.reject_reasons[:20]
        ),
        numeric=(2,),
        wrap=(3, 4),
    )
    return chart + table


def _runs_chart(data: ReportData) -> str:
    runs = [r for r in data.runs if r["seconds"] is not None]
    if not runs:
        return _empty("No finished runs yet.")
    x = [r["started"] for r in runs]
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": [r["seconds"] for r in runs],
            "name": "duration (s)",
            "marker": {"color": ["#c62828" if r["status"] == "failed" else "#78909c" for r in runs]},
            "customdata": [[r["records"], r["status"], r["id"][:8], r["dumps"], r["kind"]] for r in runs],
            "hovertemplate": "%{x} %{customdata[4]}<br>%{y:.1f} s, %{customdata[0]:,} records, "
            "%{customdata[3]} dumps<br>%{customdata[1]} (run %{customdata[2]})<extra></extra>",
        },
        {
            "type": "scatter",
            "x": x,
            "y": [r["rate"] or 0 for r in runs],
            "yaxis": "y2",
            "name": "records/s",
            "mode": "lines+markers",
            "line": {"color": "#ef6c00"},
            "hovertemplate": "%{y:,.0f} records/s<extra></extra>",
        },
    ]
    layout = {
        "xaxis": {"type": "category" if len(runs) < 30 else "date", "showticklabels": len(runs) < 30},
        "yaxis": {"title": {"text": "seconds"}},
        "yaxis2": {
            "title": {"text": "records/s"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
        "margin": {"l": 50, "r": 60, "t": 40, "b": 40},
    }
    return _figure_html(traces, layout, 340)


def _clusters_chart(data: ReportData) -> str:
    if not data.clusters:
        return _empty("No duplicates yet.")
    rows = data.clusters[::-1]
    labels = [f"{_short(r['title'], 70)} [#{r['article_id']}]" for r in rows]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "y": labels,
            "x": [r[key] for r in rows],
            "name": f"{key} duplicates",
            "marker": {"color": color},
            "hovertemplate": f"%{{y}}<br>{key}: %{{x:,}}<extra></extra>",
        }
        for key, color in (("exact", COLORS["exact"]), ("near", COLORS["near"]))
    ]
    layout = {
        "barmode": "stack",
        "xaxis": {"title": {"text": "dropped copies"}},
        "yaxis": {"automargin": True},
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    }
    return _figure_html(traces, layout, 120 + 26 * len(rows))


def _clusters_table(data: ReportData) -> str:
    if not data.clusters:
        return ""
    return _table(
        ("article", "title", "source", "published", "duplicates", "sources", "see"),
        (
            (
                r["article_id"],
                _short(r["title"], 120),
                r["source"],
                (r["published"] or "")[:10],
                r["duplicates"],
                r["sources"],
                f"<code>newsetl explain {int(r['article_id'])}</code>",
            )
            for r in data.clusters
        ),
        numeric=(0, 4, 5),
    )


def _partition_calendars(data: ReportData) -> str:
    """One calendar (weeks across, weekdays down) per source, coloured by partition state."""
    if not data.partitions:
        return _empty("No partitions yet: backfills and scheduled runs fill the ledger.")
    n = len(STATUS_COLORS)
    scale = []
    for i, color in enumerate(STATUS_COLORS):
        scale += [[i / n, color], [(i + 1) / n, color]]
    out = []
    for src in sorted({p["source"] for p in data.partitions}):
        parts = {date.fromisoformat(p["day"]): p for p in data.partitions if p["source"] == src}
        first, last = min(parts), max(parts)
        start = first - timedelta(days=first.weekday())
        weeks = (last - start).days // 7 + 1
        z: list[list[int | None]] = [[None] * weeks for _ in range(7)]
        text = [[""] * weeks for _ in range(7)]
        for day, p in parts.items():
            w, d = (day - start).days // 7, day.weekday()
            z[d][w] = STATUS_CODES.get(p["status"], 3)
            note = f"<br>{html.escape(_short(p['note'], 120))}" if p["note"] else ""
            text[d][w] = (
                f"{day.isoformat()}: {p['status']}<br>{p['records']:,} records, "
                f"{p['attempts']} attempt(s){note}"
            )
        trace = {
            "type": "heatmap",
            "z": z,
            "x": [(start + timedelta(weeks=w)).isoformat() for w in range(weeks)],
            "y": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            "text": text,
            "hovertemplate": "%{text}<extra></extra>",
            "colorscale": scale,
            "zmin": -0.5,
            "zmax": n - 0.5,
            "xgap": 2,
            "ygap": 2,
            "colorbar": {"tickvals": list(range(n)), "ticktext": list(STATUS_CODES), "thickness": 12},
        }
        layout = {
            "title": {"text": html.escape(src), "x": 0, "font": {"size": 14}},
            "yaxis": {"autorange": "reversed"},
        }
        counts: dict[str, int] = {}
        for p in parts.values():
            counts[p["status"]] = counts.get(p["status"], 0) + 1
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        out.append(f"<p>{html.escape(src)}: {summary}</p>" + _figure_html([trace], layout, 260))
    return "".join(out)


def _partition_failures(data: ReportData) -> str:
    failed = [p for p in data.partitions if p["status"] == "failed"]
    if not failed:
        return ""
    return "<h3>Failed partitions</h3>" + _table(
        ("source", "day", "attempts", "reason"),
        ((p["source"], p["day"], p["attempts"], _short(p["note"], 300)) for p in failed[:100]),
        numeric=(2,),
        wrap=(3,),
    )


def _short(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- markdown digest (the Prefect artifact) ----------------------------------------------


def render_markdown(data: ReportData, html_path: Path | None = None) -> str:
    """The report's tables as markdown, for a Prefect artifact (which cannot run scripts)."""
    t = data.totals
    lines = ["# newsetl warehouse report", ""]
    if html_path:
        lines += [f"Charts: [{html_path.name}]({html_path.resolve().as_uri()}) (`{html_path}`)", ""]
    keys = ("read", "kept", "exact", "near", "rejects")
    lines += [
        "| | read | kept | exact | near | rejects |",
        "|---|---:|---:|---:|---:|---:|",
        "| **all sources** | " + " | ".join(f"{t[k]:,}" for k in keys) + " |",
    ]
    lines += [f"| {s['source']} | " + " | ".join(f"{s[k]:,}" for k in keys) + " |" for s in data.per_source]
    if data.relations:
        lines += ["", "## Duplicates by relation", "", "| relation | method | count |", "|---|---|---:|"]
        lines += [f"| {r['relation']} | {r['method']} | {r['count']:,} |" for r in data.relations]
    if data.reject_reasons:
        lines += ["", "## Reject reasons", "", "| reason | source | count | example |", "|---|---|---:|---|"]
        lines += [
            f"| {r['reason_code']} | {r['source']} | {r['count']:,} | {_md(_short(r['example'], 120))} |"
            for r in data.reject_reasons[:15]
        ]
    if data.clusters:
        lines += [
            "",
            "## Largest clusters",
            "",
            "| article | duplicates | title | explain |",
            "|---:|---:|---|---|",
        ]
        lines += [
            f"| {c['article_id']} | {c['duplicates']:,} | {_md(_short(c['title'], 90))} | "
            f"`newsetl explain {c['article_id']}` |"
            for c in data.clusters[:10]
        ]
    failed = [p for p in data.partitions if p["status"] == "failed"]
    if failed:
        lines += ["", "## Failed partitions", "", "| source | day | reason |", "|---|---|---|"]
        lines += [f"| {p['source']} | {p['day']} | {_md(_short(p['note'], 150))} |" for p in failed[:20]]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
