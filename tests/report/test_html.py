"""The HTML report's layout: long parts folded, no empty sections, no raw Python values."""

from __future__ import annotations

import re

from evoprompt.report.content import HeldOutSection, ReportData, Table, fmt
from evoprompt.report.html import FOLD_OVER, render_html


def _data(scored_rows: int, per_class: Table, generations: int = 3) -> ReportData:
    rows = [[str(i), "0.5000", "1", "ga", f"prompt {i}"] for i in range(scored_rows)]
    headers = ["rank", "fitness", "born", "operator", "prompt"]
    test = HeldOutSection(
        verdict="test (n=10): prompt 0.50 [0.24, 0.76]",
        notes=[],
        prompts=Table(["role"], [["best"]]),
        per_class=per_class,
        analysis_title="Worst-scored examples",
        analysis=Table(["score"], [["0.0000"]]),
    )
    gens = Table(["generation"], [[str(g)] for g in range(generations)])
    return ReportData(
        title="evoprompt report: x",
        overview=[("experiment", "x")],
        notes=[],
        best_prompt="prompt 0",
        generations=gens,
        population=Table(headers, rows[:4]),
        lineage=[],
        lineage_truncated=False,
        analysis_title="Worst-scored examples",
        analysis=Table(["score"], []),
        api=[("concurrency", fmt({"limit": 8, "peak": 12})), ("calls", "10")],
        has_plot=False,
        scored=Table(headers, rows),
        test=test,
    )


def test_every_prompt_is_folded_and_short_tables_are_not() -> None:
    page = render_html(_data(40, Table(["class"], [["positive"]])), None)
    folded = re.search(r"<details><summary><h2>Every prompt scored, best first \(40\)</h2>", page)
    assert folded is not None
    assert "<h2>Final population, best first</h2>" in page  # 4 rows: open
    assert "<h2>Generations</h2>" in page
    long = render_html(_data(5, Table(["class"], []), generations=FOLD_OVER + 1), None)
    assert f"<h2>Generations ({FOLD_OVER + 1})</h2>" in long


def test_no_per_class_section_without_classes_and_no_python_dicts() -> None:
    without = render_html(_data(3, Table(["class", "test rows", "test score"], [])), None)
    assert "per class" not in without
    body = without[without.index("<body>") : without.index("<script>")]
    assert "<td>limit 8, peak 12</td>" in body and "{" not in body
    with_classes = render_html(_data(3, Table(["class"], [["positive"]])), None)
    assert "Best prompt on test, per class" in with_classes
