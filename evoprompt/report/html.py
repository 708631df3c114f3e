"""A self-contained HTML report: one file, inline CSS, the plot as a data: URI, no network.

The only script records the plot's decoded size on the <img> (``data-natural-size``) once the
page has loaded, so a headless browser can prove the image really decodes.
"""

from __future__ import annotations

import base64
from html import escape

from evoprompt.report.content import ReportData, Table

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.prompt { white-space: pre-wrap; font-family: ui-monospace, monospace; }
.verdict { background: #eef4fb; border-left: 4px solid #36c; padding: 0.6em 1em; }
.best { background: #f6fbf0; border-left: 4px solid #6a3; padding: 0.6em 1em; }
.notes { background: #fff8e5; border-left: 4px solid #e0a800; padding: 0.4em 1em; }
.lineage div { margin: 0.15em 0; }
.lineage .label { color: #555; font-size: 0.9em; margin-right: 0.6em; }
img { max-width: 100%; }
.wide { overflow-x: auto; max-width: 100%; }
details summary { cursor: pointer; } details summary h2 { display: inline; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var img = document.getElementById("fitness-plot");
  if (img) {
    img.setAttribute("data-natural-size", img.naturalWidth + "x" + img.naturalHeight);
  }
});
"""

_NUMERIC = {
    "generation",
    "best",
    "mean",
    "scored",
    "seconds",
    "rank",
    "fitness",
    "born",
    "count",
    "dev",
    "test",
    "dev - test",
    "test rows",
    "test score",
    "tokens",
    "score",
}


def _table(table: Table) -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = []
        for header, cell in zip(table.headers, row):
            css = "num" if header in _NUMERIC else ("prompt" if header.endswith("prompt") else "")
            cells.append(
                f'<td class="{css}">{escape(cell)}</td>' if css else f"<td>{escape(cell)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


FOLD_OVER = 12  # rows: a longer table is folded (HTML details), its size in the summary


def _section(title: str, body: str, rows: int, *, fold: bool = False) -> list[str]:
    """A titled part; folded when long (or always, for parts read only on demand), so the
    page opens on the verdict, the best prompt and the plot rather than on every prompt."""
    if not (fold or rows > FOLD_OVER):
        return [f"<h2>{escape(title)}</h2>", body]
    return [f"<details><summary><h2>{escape(title)} ({rows})</h2></summary>{body}</details>"]


def _pairs(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def render_html(data: ReportData, png: bytes | None) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(data.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(data.title)}</h1>",
        _pairs(data.overview),
    ]
    if data.notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in data.notes)
        parts.append(
            f'<div class="notes"><strong>Missing or unusable:</strong><ul>{items}</ul></div>'
        )
    parts.append("<h2>Best prompt</h2>")
    if data.best_prompt is None:
        parts.append("<p>No prompt has been scored yet.</p>")
    else:
        parts.append(f'<div class="best prompt">{escape(data.best_prompt)}</div>')
    if data.test is not None:
        test = data.test
        notes = "".join(f"<li>{escape(note)}</li>" for note in test.notes)
        parts += [
            "<h2>Held-out test</h2>",
            f'<p class="verdict"><strong>{escape(test.verdict)}</strong></p><ul>{notes}</ul>',
            "<h3>Dev vs test</h3>",
            _table(test.prompts),
        ]
    parts.append("<h2>Fitness over generations</h2>")
    if png is not None:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<img id="fitness-plot" alt="best and mean fitness per generation" '
            f'src="data:image/png;base64,{encoded}">'
        )
    else:
        parts.append("<p>No completed generation yet: nothing to plot.</p>")
    parts.append("<h2>Score against prompt tokens</h2>")
    if data.pareto_png is not None:
        encoded = base64.b64encode(data.pareto_png).decode("ascii")
        parts.append(
            f'<img id="pareto-plot" alt="dev score against prompt tokens, every scored prompt" '
            f'src="data:image/png;base64,{encoded}">'
        )
    if data.pareto_note:
        parts.append(f"<p>{escape(data.pareto_note)}</p>")
    parts.append(f'<div id="pareto"><h3>Pareto front</h3>{_table(data.pareto)}</div>')
    if data.prices.rows:
        parts += ["<h3>What the finalists cost to use</h3>", _table(data.prices)]
    parts += _section("Generations", _table(data.generations), len(data.generations.rows))
    population = data.population
    parts += _section("Final population, best first", _table(population), len(population.rows))
    scored = data.scored
    parts += _section(
        "Every prompt scored, best first", _table(scored), len(scored.rows), fold=True
    )
    if data.lineage:
        lines = "".join(
            f'<div style="margin-left: {2 * line.depth}em"><span class="label">'
            f'{escape(line.label)}</span><span class="prompt">{escape(line.text)}</span></div>'
            for line in data.lineage
        )
        lines += "<p>(truncated)</p>" if data.lineage_truncated else ""
        body = f'<div class="lineage">{lines}</div>'
        parts += _section("Lineage of the best prompt", body, len(data.lineage), fold=True)
    else:
        parts += ["<h2>Lineage of the best prompt</h2>", "<p>(none)</p>"]
    title = f"{data.analysis_title} of the best prompt"
    parts += _section(title, _table(data.analysis), len(data.analysis.rows))
    if data.test is not None:
        per_class = data.test.per_class
        if per_class.rows:  # classification only: another metric has no classes to show
            title = "Best prompt on test, per class"
            parts += _section(title, _table(per_class), len(per_class.rows))
        title = f"{data.test.analysis_title} of the best prompt on test"
        parts += _section(title, _table(data.test.analysis), len(data.test.analysis.rows))
    parts += ["<h2>API statistics</h2>", _pairs(data.api) if data.api else "<p>(none)</p>"]
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
