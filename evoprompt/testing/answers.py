"""What the test endpoint answers: deterministic functions of the request, no HTTP, no state.

Runs against the endpoint are reproducible because every answer here depends only on the
request text (and the gold labels it is given):

- classification: a prompt's accuracy grows with the number of distinct "magic" words in it
  (``carefully``, ``expert``, ...); whether one sample is answered correctly is a hash of
  (prompt, sample), so the same request always gets the same answer; with ``hard_rows`` > 0 the
  sample's own hash weighs in too (a Gaussian copula), so prompts miss the same hard samples;
- log-likelihood (``/completions`` with ``echo``): the answer label gets the high log-probability;
- reasoning (a numeric gold value, no label list): a worked reply ending in "The answer is N" in
  one of several formats (``1,000``, ``**Answer:** 42``, ...), right with the same probability
  as classification, else a wrong number or no answer;
- generation (a gold text of several words, no label list): the reference with each word kept
  with a probability that is the prompt's quality (jittered per sample), the rest replaced by
  filler, so ROUGE-L and F1 grow with the magic words;
- evolution (any request containing ``<prompt>``): the child is the parent plus the other parent's
  magic words plus one new word picked by a hash of the request; with ``worse_children`` > 0,
  that share of children (picked by a hash of the request) instead drops one of the parent's
  magic words, as a real model's children are sometimes worse than their parents.
"""

from __future__ import annotations

import hashlib
import math
import re
from importlib import resources
from statistics import NormalDist
from typing import Any

import pandas as pd

from evoprompt.data.loader import BUILTIN
from evoprompt.testing.wire import message_choices

MAGIC = ("carefully", "expert", "evidence", "context", "precisely", "thorough")
PLAIN = ("please", "now", "simply", "kindly", "also", "just")
VOCAB = MAGIC + PLAIN

# What an operator reply looks like under the ``p_no_tags`` fault: no <prompt> tags to extract.
NO_TAGS = "Here is an improved prompt, but I forgot the tags."
# What an operator reply looks like under the ``echo_parent`` fault: the parent, unchanged.
ECHO = "<prompt>{parent}</prompt>"

INPUT = r"\n\nInput: (.*)\nAnswer:"  # the sample inside the scorer's query
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
GENERATION_WORDS = 3  # a gold value of at least this many words is a reference text
FILLER = ("something", "stuff", "matter", "thing")


def unit(*parts: str) -> float:
    """A stable pseudo-random number in [0, 1) for these strings (the same on every run)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def builtin_truth() -> dict[str, str]:
    """Gold values (labels, answers, references) of the bundled datasets, by sample text."""
    truth: dict[str, str] = {}
    for name in BUILTIN.values():
        with resources.as_file(resources.files("evoprompt.data") / name) as path:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        truth.update(zip(frame["text"], frame["label"].str.strip()))
    return truth


def quality(instruction: str) -> float:
    """The share of samples an instruction gets right: more distinct magic words, more right."""
    lowered = instruction.lower()
    return min(0.95, 0.35 + 0.1 * sum(word in lowered for word in MAGIC))


def magic_in(text: str) -> list[str]:
    lowered = text.lower()
    return [w for w in MAGIC if w in lowered]


def last(pattern: str, text: str) -> str | None:
    """The last match of ``pattern``'s group in ``text``, stripped (prompts quote earlier turns)."""
    found = re.findall(pattern, text)
    return found[-1].strip() if found else None


def is_evolution(content: str) -> bool:
    """Operator requests ask for a child in <prompt> tags; everything else is a query."""
    return "<prompt>" in content


def parent_of(content: str) -> str:
    """The prompt an operator request changes: DE's base, the paraphrased one, GA's first."""
    if "Basic Prompt:" in content:
        return last(r"Basic Prompt: (.*)", content) or ""
    if "Variation:" in content:
        return last(r"Instruction: (.*)", content) or ""
    return last(r"Prompt 1: (.*)", content) or ""


class Answers:
    """The endpoint's answers given the gold labels (``truth``: sample text -> label)."""

    def __init__(
        self,
        truth: dict[str, str],
        worse_children: float = 0.0,
        skill: float = 0.0,
        hard_rows: float = 0.0,
    ) -> None:
        self.truth = truth
        self.worse_children = worse_children
        self.skill = skill
        self.hard_rows = hard_rows

    def quality(self, instruction: str) -> float:
        """The share of samples the instruction gets right from this endpoint's model."""
        return min(0.95, quality(instruction) + self.skill)

    def chat(self, content: str, seed: str) -> tuple[str, str]:
        """The kind of request (``evolve`` or ``classify``) and the reply text."""
        if is_evolution(content):
            return "evolve", self.evolve(content, seed)
        instruction = content.split("\nPossible answers:")[0].split("\n\nInput: ")[0]
        text = last(INPUT, content) or ""
        labels = [x.strip() for x in (last(r"Possible answers: (.*)\.", content) or "").split(",")]
        labels = [x for x in labels if x]
        gold = self.truth.get(text)
        if not labels and gold is not None:
            if NUMBER.fullmatch(gold.replace(",", "")):
                return "reason", self.reason(instruction, text, gold)
            if len(gold.split()) >= GENERATION_WORDS:
                return "generate", self.generate(instruction, text, gold)
        return "classify", self.classify(instruction, text, labels)

    def roll(self, instruction: str, text: str) -> float:
        """Uniform in [0, 1) per (prompt, sample); right when below the prompt's quality. With
        ``hard_rows`` = r, it is Phi(sqrt(r) z_sample + sqrt(1 - r) z_pair): still uniform (each
        prompt keeps its accuracy), but prompts' rolls on one sample correlate by r."""
        own = unit(instruction, text)
        if not self.hard_rows:
            return own
        normal = NormalDist()
        z_row, z_pair = (
            normal.inv_cdf(min(max(u, 1e-12), 1 - 1e-12)) for u in (unit("row", text), own)
        )
        r = self.hard_rows
        return normal.cdf(math.sqrt(r) * z_row + math.sqrt(1 - r) * z_pair)

    def reason(self, instruction: str, text: str, gold: str) -> str:
        """Worked steps quoting the problem's numbers, then the answer (or a wrong one)."""
        given = re.findall(r"\d[\d,]*(?:\.\d+)?", text)
        steps = f"Step by step: the problem gives {', '.join(given) or 'no numbers'}."
        if self.roll(instruction, text) >= self.quality(instruction):
            if unit("invalid", instruction, text) < 0.2:
                return f"{steps} I am not sure how to finish this."
            value = float(gold.replace(",", "")) + 1 + int(unit("wrong", instruction, text) * 9)
            return f"{steps} The answer is {value:g}."
        style = unit("style", text)
        value = float(gold.replace(",", ""))
        if style < 0.25:
            return f"{steps} The answer is {gold}."
        if style < 0.5 and value.is_integer():
            return f"{steps} So the answer is {value:,.1f}."
        if style < 0.75:
            return f"{steps}\n**Answer:** {gold}"
        return f"{steps} Therefore the answer is {gold} in total."

    def generate(self, instruction: str, text: str, reference: str) -> str:
        """The reference with each word kept with about the prompt's quality, else filler."""
        share = self.quality(instruction) + (unit("share", instruction, text) - 0.5) * 0.3
        words = reference.split()
        kept = [
            word
            if unit("keep", instruction, text, str(i)) < share
            else FILLER[int(unit("filler", text, str(i)) * len(FILLER))]
            for i, word in enumerate(words)
        ]
        return " ".join(kept)

    def classify(self, instruction: str, text: str, labels: list[str]) -> str:
        """Right with probability ``self.quality(instruction)``, else a wrong label or a
        non-answer."""
        gold = self.truth.get(text, labels[0] if labels else "unknown")
        if self.roll(instruction, text) < self.quality(instruction):
            return f"{gold}." if unit("style", text) < 0.5 else f"The answer is: {gold.upper()}"
        others = [x for x in labels if x != gold]
        if not others or unit("invalid", instruction, text) < 0.2:
            return "I cannot tell."
        return others[int(unit("wrong", instruction, text) * len(others))]

    def evolve(self, content: str, seed: str) -> str:
        """The child of a GA crossover, a DE step or a paraphrase, in <prompt> tags."""
        word = VOCAB[int(unit("word", content, seed) * len(VOCAB))]
        base = parent_of(content)
        if "Basic Prompt:" in content:
            donor = last(r"Prompt 3: (.*)", content) or ""
        elif "Variation:" in content:
            donor = ""
        else:
            donor = last(r"Prompt 2: (.*)", content) or ""
        extra = [w for w in magic_in(donor) if w not in magic_in(base)]
        child = " ".join([base, *extra, word])
        held = magic_in(base)
        if held and unit("worse", content, seed) < self.worse_children:
            dropped = held[int(unit("drop", content, seed) * len(held))]
            kept = re.sub(re.escape(dropped), "", base, flags=re.IGNORECASE)
            child = " ".join([*kept.split(), word])
        return f"1. Combined: {base}\n2. <prompt>{child}</prompt>"

    def loglik(self, prompt: str | list[str]) -> list[dict[str, Any]]:
        """Echoed choices scoring each "...Answer: label" prompt's label.

        The label the classifier would answer gets -0.5, the others -3.0, and every label after
        the content-free input ("N/A", the calibration baseline) gets -2.0.
        """
        prompts = prompt if isinstance(prompt, list) else [prompt]
        labels = [p.rsplit("\nAnswer: ", 1)[-1] for p in prompts]
        choices = []
        for i, full in enumerate(prompts):
            context, _, label = full.rpartition("\nAnswer: ")
            context += "\nAnswer:"
            instruction = context.split("\n\nInput: ")[0]
            text = last(INPUT, context) or ""
            if text == "N/A":
                value = -2.0
            else:
                predicted = self.classify(instruction, text, labels).rstrip(".")
                value = -0.5 if predicted.lower().endswith(label.lower()) else -3.0
            choices.append(
                {
                    "index": i,
                    "text": full,
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": [context, " " + label],
                        "token_logprobs": [None, value],
                        "text_offset": [0, len(context)],
                    },
                }
            )
        return choices

    @staticmethod
    def _logprob(text: str, predicted: str, label: str) -> float:
        if text == "N/A":
            return -2.0
        return -0.5 if predicted.lower().endswith(label.lower()) else -3.0

    def chat_logprobs(self, content: str, withhold: bool) -> list[dict[str, Any]]:
        """A one-token chat reply with ``top_logprobs``: each label's first word, the label the
        classifier would answer at -0.5, the others at -3.0, all at -2.0 after "N/A".
        ``withhold``: the reply carries no logprobs (servers that ignore the field)."""
        instruction = content.split("\n\nInput: ")[0]
        text = last(INPUT, content) or ""
        labels = sorted(set(self.truth.values()))
        predicted = self.classify(instruction, text, labels).rstrip(".")
        top: list[dict[str, Any]] = [
            {"token": label.split()[0], "logprob": self._logprob(text, predicted, label)}
            for label in labels
        ]
        first = str(max(top, key=lambda t: float(t["logprob"]))["token"])
        choice = message_choices(first)[0]
        if not withhold:
            choice["logprobs"] = {"content": [{"token": first, "top_logprobs": top}]}
        return [choice]

    @staticmethod
    def complete(prompt: object) -> str:
        """A plain completion: the prompt's tail in <prompt> tags."""
        return "<prompt>" + str(prompt)[-40:] + "</prompt>"
