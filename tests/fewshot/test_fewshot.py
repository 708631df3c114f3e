"""Few-shot prompt strings, the train pool and the exemplar operators, on real data."""

from __future__ import annotations

import numpy as np
import pytest

from evoprompt.data.loader import dev_split, held_out_split, load_dataset
from evoprompt.data.train import train_split
from evoprompt.evaluation.scorers import GenerateScorer, LoglikScorer
from evoprompt.fewshot.evolve import Shots, assign
from evoprompt.fewshot.length import LengthPenalty, prompt_tokens
from evoprompt.fewshot.prompt import Exemplar, compose, exemplars, render, split
from evoprompt.strategies.base import Offspring

DATA = load_dataset("sentiment", "text", "label")
POOL = exemplars(train_split(DATA, 48, 40, 7))


def test_a_prompt_string_round_trips_and_a_bare_instruction_is_unchanged() -> None:
    shots = (Exemplar('say "hi"\nthen go', "positive"), Exemplar("x", "3", "2 + 1 = 3"))
    prompt = compose("Classify it.", shots)
    assert split(prompt) == ("Classify it.", shots)
    assert compose("Classify it.", ()) == "Classify it." and split("Classify it.")[1] == ()
    assert render(prompt, "Possible answers: a, b.") == (
        'Classify it.\nPossible answers: a, b.\n\nInput: say "hi"\nthen go\nAnswer: positive'
        "\n\nInput: x\nAnswer: 2 + 1 = 3"
    )
    assert " ".join(prompt.split()) != prompt  # no normalized instruction can look like one


def test_every_scorer_shows_the_exemplars_before_the_query() -> None:
    prompt = compose("Classify it.", POOL[:2])
    chat = GenerateScorer("m", "Possible answers: positive, negative.").request(prompt, "q")
    text = chat.messages[0][1]
    assert text.startswith("Classify it.\nPossible answers") and text.endswith("Input: q\nAnswer:")
    assert all(f"Input: {e.text}\nAnswer: {e.gold}" in text for e in POOL[:2])
    loglik = LoglikScorer("m", ["positive", "negative"]).request(prompt, "q").prompt
    assert loglik == render(prompt) + "\n\nInput: q\nAnswer:"
    bare = GenerateScorer("m", "hint").request("Classify it.", "q").messages[0][1]
    assert bare == "Classify it.\nhint\n\nInput: q\nAnswer:"  # as before few-shot


def test_the_train_pool_is_disjoint_from_dev_and_test_and_leaves_both_as_they_were() -> None:
    dev = dev_split(DATA, 48, 7)
    plain = held_out_split(DATA, 48, 40, 7).test
    train = train_split(DATA, 48, 40, 7)
    test = held_out_split(DATA, 48, 40, 7, exclude=train).test
    assert len(train) == 40 and not set(train.texts) & (set(dev.texts) | set(test.texts))
    assert test.texts == plain.texts  # both fit: the test rows are those of a run without
    everything = held_out_split(DATA, 48, 500, 7, exclude=train).test
    assert len(everything) == len(DATA) - 48 - 40
    assert len(train_split(DATA, 48, 0, 7)) == min(100, (len(DATA) - 48) // 4)


def test_exemplar_operators_stay_within_k_and_the_pool_and_are_reproducible() -> None:
    shots = Shots(4, POOL)
    parents = [compose(f"Prompt {i}.", shots.draw(np.random.default_rng(i))) for i in range(4)]
    plans = [
        Offspring("ga", {}, (parents[0], parents[1]), "g/0"),
        Offspring("de", {}, tuple(parents), "g/1"),
        Offspring("para", {}, (parents[2],), "g/2"),
    ] * 20
    first = assign(plans, shots, np.random.default_rng(1))
    again = assign(plans, shots, np.random.default_rng(1))
    assert [p.exemplars for p in first] == [p.exemplars for p in again]
    for plan in first:
        assert plan.exemplars is not None and len(plan.exemplars) <= 4
        assert len(set(plan.exemplars)) == len(plan.exemplars)
        assert set(plan.exemplars) <= set(POOL)
    assert len({p.exemplars for p in first}) > 10  # they do vary


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_the_length_penalty_scales_by_the_seeds_mean_tokens(weight: float) -> None:
    seeds = ["Short one.", compose("Short one.", POOL[:3])]
    penalty = LengthPenalty.of(weight, seeds)
    mean = (prompt_tokens(seeds[0]) + prompt_tokens(seeds[1])) / 2
    assert penalty.fitness(0.8, seeds[1]) == pytest.approx(
        0.8 - weight * prompt_tokens(seeds[1]) / mean
    )
    assert prompt_tokens(seeds[1]) > prompt_tokens(seeds[0])
