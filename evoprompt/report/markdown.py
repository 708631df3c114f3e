"""The report as Markdown, the plot referenced as a PNG file written beside it."""

from __future__ import annotations

from evoprompt.report.content import ReportData, Table


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> str:
    if not table.rows:
        return "(none)\n"
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows),
    ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""]) + "\n"


def render_markdown(data: ReportData, plot_name: str | None) -> str:
    out = [
        f"# {data.title}\n",
        _table(Table(["field", "value"], [list(pair) for pair in data.overview])),
    ]
    if data.notes:
        out.append("**Missing or unusable:**\n")
        out.append("".join(f"- {note}\n" for note in data.notes))
    out.append("## Best prompt\n")
    out.append(_quote(data.best_prompt) if data.best_prompt else "No prompt has been scored yet.\n")
    if data.test is not None:
        test = data.test
        out += ["## Held-out test\n", f"**{test.verdict}**\n"]
        out.append("".join(f"- {note}\n" for note in test.notes))
        out += ["### Dev vs test\n", _table(test.prompts)]
    out.append("## Fitness over generations\n")
    out.append(
        f"![best and mean fitness per generation]({plot_name})\n"
        if plot_name
        else "No completed generation yet: nothing to plot.\n"
    )
    out.append("## Pareto front: score against prompt tokens\n")
    if data.pareto_note:
        out.append(data.pareto_note + "\n")
    out.append(_table(data.pareto))
    if data.prices.rows:
        out += ["### What the finalists cost to use\n", _table(data.prices)]
    out += ["## Generations\n", _table(data.generations)]
    out += ["## Final population, best first\n", _table(data.population)]
    out += ["## Every prompt scored, best first\n", _table(data.scored)]
    out.append("## Lineage of the best prompt\n")
    if data.lineage:
        for line in data.lineage:
            text = line.text.replace("`", "'").replace("\n", " ")
            out.append(f"{'  ' * line.depth}- *{line.label}*: `{text}`")
        out[-1] += "\n"
        if data.lineage_truncated:
            out.append("(truncated)\n")
    else:
        out.append("(none)\n")
    out += [f"## {data.analysis_title} of the best prompt\n", _table(data.analysis)]
    if data.test is not None:
        if data.test.per_class.rows:  # classification only
            out += ["## Best prompt on test, per class\n", _table(data.test.per_class)]
        title = f"## {data.test.analysis_title} of the best prompt on test\n"
        out += [title, _table(data.test.analysis)]
    out += [
        "## API statistics\n",
        _table(Table(["statistic", "value"], [list(p) for p in data.api])),
    ]
    return "\n".join(out)
