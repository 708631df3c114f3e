"""The README and docs/ stay true: every link resolves, and every command they show names a
subcommand and flags that the program's --help lists (the tour's commands are run for real
by the e2e tests)."""

from __future__ import annotations

import io
import json
import re
import shlex
from contextlib import redirect_stdout
from functools import cache
from pathlib import Path

import pytest

from evoprompt.cli.main import SUBCOMMANDS, main
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAM = re.compile(r"(?:\.venv/bin/)?python3? (?:main\.py|-m evoprompt)((?: [^`\n|]*)?)")
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    found = set()
    for title in re.findall(r"(?m)^#{1,6} (.+)$", page.read_text(encoding="utf-8")):
        text = re.sub(r"[^\w\- ]", "", title.strip().lower().replace("`", ""))
        found.add(text.replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code may show link-like text
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # an external address (none are fetched here)
        path, _, name = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if name and linked.suffix == ".md":
            assert name in anchors(linked), f"{page.name}: no heading #{name} in {linked.name}"


@cache
def helped(subcommand: str) -> str:
    """The --help of ``subcommand`` (the run's for ""), in-process: what it lists is under
    test here, not the process (main.py's dispatch is run for real by the e2e tests)."""
    words = [subcommand, "--help"] if subcommand else ["--help"]
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            code = main(words)
        except SystemExit as stop:  # argparse's --help (some commands catch it themselves)
            code = stop.code
    assert code == 0, out.getvalue()
    return out.getvalue()


def commands(page: Path) -> list[list[str]]:
    found = []
    for match in PROGRAM.finditer(page.read_text(encoding="utf-8")):
        rest = match.group(1).split(" #")[0].replace("...", " ").strip()
        try:
            found.append(shlex.split(rest))
        except ValueError:  # a command cut off mid-quote in prose
            found.append(rest.split())
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_shown_uses_real_subcommands_and_flags(page: Path) -> None:
    for words in commands(page):
        subcommand = words[0] if words and words[0] in SUBCOMMANDS else ""
        text = helped(subcommand)
        for word in words:
            flag = word.split("=")[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", flag):
                assert flag in text, f"{page.name}: {' '.join(words)}: {flag} not in --help"


def test_the_readme_headline_is_the_table_the_public_benchmark_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's results are benchmarks/public.json as benchmarks/public.py renders them
    (that file's figures recompute from the result folders: tests/e2e/test_public_benchmark.py):
    no figure typed by hand, none left behind by a newer table."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench.public_render import README_END, README_START, header, headline

    doc = json.loads((ROOT / "benchmarks" / "public.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(README_START, 1)[1].split(README_END, 1)[0]
    intro = header(doc["source"])  # rendered now: a changed header shows here too
    assert block == "\n" + headline(intro, doc["rows"])
    assert headline(intro, doc["rows"]) in (ROOT / "benchmarks" / "PUBLIC.md").read_text(
        encoding="utf-8"
    )
