"""The held-out verdict in words: one line for the end of a run, ``status`` and reports, and
the per-prompt lines beside it (dev vs test, the gap, the majority-class baseline)."""

from __future__ import annotations

from evoprompt.checkpoint.schema import TestReport, TestResult
from evoprompt.fewshot.length import prompt_tokens
from evoprompt.fewshot.prompt import brief

SIGNIFICANCE = 0.05
TEST_NAMES = {"mcnemar-exact": "McNemar", "permutation": "permutation"}


def p_text(p_value: float) -> str:
    return "<0.001" if p_value < 0.001 else f"={p_value:.2g}"


def _scored(result: TestResult) -> str:
    return f"{result.test_fitness:.2f} [{result.ci_low:.2f}, {result.ci_high:.2f}]"


def verdict_line(report: TestReport) -> str:
    """``test (n=138): best 0.81 [0.74, 0.87] vs best seed 0.72 [0.64, 0.79]: +0.09 [+0.03,
    +0.15], McNemar p=0.004``, or ``..., no significant gain (p=0.41)``."""
    first = report.results[0] if report.results else None
    if first is None:
        return f"test (n={report.size}): no prompt was tested"
    who = "best" if first.role == "best" else "prompt"
    line = f"test (n={report.size}): {who} {_scored(first)}"
    comparison = report.comparison
    baseline = report.result_for(comparison.baseline_prompt) if comparison else None
    if comparison is None or baseline is None:
        return line + " (no seed prompt to compare with)"
    line += f" vs best seed {_scored(baseline)}: "
    line += f"{comparison.delta:+.2f} [{comparison.ci_low:+.2f}, {comparison.ci_high:+.2f}], "
    p_value = p_text(comparison.p_value)
    if comparison.p_value >= SIGNIFICANCE:
        return line + f"no significant gain (p{p_value})"
    test = TEST_NAMES.get(comparison.method, comparison.method)
    worse = "worse than the seed, " if comparison.delta < 0 else ""
    return line + f"{worse}{test} p{p_value}"


def tokens_line(report: TestReport) -> str | None:
    """The first tested prompt against the best seed on length: what each use costs in prompt
    tokens (exemplars included), beside the score comparison above it."""
    first = report.results[0] if report.results else None
    comparison = report.comparison
    seed = report.result_for(comparison.baseline_prompt) if comparison else None
    if first is None or seed is None:
        return None
    mine, theirs = prompt_tokens(first.prompt), prompt_tokens(seed.prompt)
    return f"  prompt tokens: {first.role} {mine} vs best seed {theirs} ({mine - theirs:+d} a use)"


def detail_lines(report: TestReport) -> list[str]:
    """Each tested prompt's dev and test score and dev - test gap, and the baselines."""
    lines = []
    for r in report.results:
        dev = "  -  " if r.dev_fitness is None else f"{r.dev_fitness:.3f}"
        gap = "" if r.gap is None else f"  gap {r.gap:+.3f}"
        prompt = brief(r.prompt)
        prompt = prompt if len(prompt) <= 70 else prompt[:67] + "..."
        lines.append(
            f"  {r.role:<5} dev {dev}  test {r.test_fitness:.3f} "
            f"[{r.ci_low:.3f}, {r.ci_high:.3f}]{gap}  {prompt}"
        )
    tokens = tokens_line(report)
    if tokens:
        lines.append(tokens)
    if report.majority is not None:
        lines.append(
            f"  majority-class baseline (always '{report.majority['label']}'): "
            f"{float(report.majority['test_fitness']):.3f}"
        )
    if report.dropped_duplicates:
        lines.append(
            f"  {report.dropped_duplicates} candidate test rows repeated a dev text and were "
            "dropped"
        )
    if report.folded_duplicates:
        lines.append(
            f"  {report.folded_duplicates} rows of {report.source} repeated an earlier text: "
            "each text was asked and counted once"
        )
    return lines
