"""The embedded model's rows of the verdict table and its section of RESULTS.md."""

from __future__ import annotations

import re
from typing import Any

from .local_model import TARGET_FEWSHOT
from .plan import RESULTS

Row = tuple[str, str, str, str]
HEADING = "## Embedded model (local backend)"


def rows(out: dict[str, Any]) -> list[Row]:
    if "local" not in out:
        return []
    t, a = out["local"]["throughput"], out["local"]["agreement"]
    ours = t["s_per_call"]["evoprompt"]
    ratio = ours["fewshot"] / ours["short"]
    result: list[Row] = [
        (
            "embedded model: ~300-token prefix / ~20-token prefix, per scored row",
            f"{ratio:.2f} ({1000 * ours['fewshot']:.0f} ms / {1000 * ours['short']:.0f} ms)",
            f"<= {TARGET_FEWSHOT}",
            "pass" if ratio <= TARGET_FEWSHOT else "MISS",
        )
    ]
    for name, by in t["s_per_call"].items():
        result.append(
            (
                f"embedded model, {name}: calls/s short | few-shot",
                f"{1 / by['short']:.1f} | {1 / by['fewshot']:.1f} calls/s "
                f"({t['tokens_per_call']['short'] / by['short']:.0f} | "
                f"{t['tokens_per_call']['fewshot'] / by['fewshot']:.0f} tokens/s)",
                "(reference)",
                "-",
            )
        )
    result.append(
        (
            "embedded model: cached vs uncached logprobs, largest difference",
            f"{a['max_abs_diff']:.3g} nats over {a['calls']} calls",
            "negligible",
            "pass" if a["max_abs_diff"] < 1e-6 else "MISS",
        )
    )
    return result


def md(out: dict[str, Any]) -> list[str]:
    if "local" not in out:
        return []
    t, a, th = out["local"]["throughput"], out["local"]["agreement"], out["local"]["threads"]
    lines = [
        HEADING,
        "",
        "Label scoring on Gemma 3 270M in-process (see `bench/local_model.py`): "
        f"{t['calls']} timed calls per contender and prompt; prefixes of "
        f"{t['prefix_tokens']['short']} and {t['prefix_tokens']['fewshot']} tokens, "
        f"{t['tokens_per_call']['short']:.0f} and {t['tokens_per_call']['fewshot']:.0f} "
        f"tokens per call; threads: {t['threads'] or 'every core'}.",
        "",
        "| contender | short: ms/call | calls/s | tokens/s | few-shot: ms/call | calls/s | "
        "tokens/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by in t["s_per_call"].items():
        cells = []
        for shape in ("short", "fewshot"):
            s = by[shape]
            cells += [f"{1000 * s:.0f}", f"{1 / s:.1f}", f"{t['tokens_per_call'][shape] / s:.0f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Threads (fixed, and the default pace between 1 and every core), the short workload, "
        "interleaved: "
        + ", ".join(f"{n} {1000 * s:.0f} ms/call" for n, s in th["s_per_call"].items())
        + ". One decode of 256 tokens against 8 of 32 (what decoding 8 rows as parallel "
        "sequences would save): "
        + ", ".join(f"{n} {1000 * s:.0f} ms" for n, s in th["batch"].items())
        + ".",
        "",
        f"Cached vs uncached: {a['calls']} calls (4 prompts, one few-shot, x the sentiment "
        "rows and N/A; uncached once, cached interleaved and then back to back): largest "
        f"logprob difference {a['max_abs_diff']:.3g}; tokens decoded cached / uncached "
        f"{a['decoded'][0]} / {a['decoded'][1]}.",
        "",
    ]
    return lines


def splice(out: dict[str, Any]) -> None:
    """Put this section into RESULTS.md in place of its previous version, the rest kept."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    section = "\n".join(md(out))
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")
