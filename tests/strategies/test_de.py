"""DE: the replacement rule, per-individual trials, and the differing parts it is shown."""

from __future__ import annotations

import numpy as np

from evoprompt.checkpoint.state import Individual
from evoprompt.strategies.de import DifferentialEvolution, differing_parts, replace_if_not_worse
from tests.strategies.conftest import POPULATION, ind


def test_trial_replaces_when_equal_or_better_not_when_worse() -> None:
    current = ind("old", 0.5)
    assert replace_if_not_worse(current, ind("same", 0.5)).text == "same"
    assert replace_if_not_worse(current, ind("better", 0.51)).text == "better"
    assert replace_if_not_worse(current, ind("worse", 0.49)) is current


def test_de_select_applies_the_rule_per_slot() -> None:
    de = DifferentialEvolution()
    plans = de.plan(POPULATION, np.random.default_rng(0), generation=1)
    trials: list[Individual | None] = [
        ind("t0", 0.5, 1),  # equal -> replaces p0
        ind("t1", 0.1, 1),  # worse -> p1 stays
        None,  # no usable child -> p2 stays
        ind("t3", 0.9, 1),  # better -> replaces p3
    ]
    survivors = de.select(POPULATION, plans, trials, size=4)
    assert [s.text for s in survivors] == ["t0", "p1", "p2", "t3"]
    assert [s.text for s in POPULATION] == ["p0", "p1", "p2", "p3"]  # input untouched


def test_de_plan_shape() -> None:
    plans = DifferentialEvolution().plan(POPULATION, np.random.default_rng(3), generation=2)
    # plan i is the trial of individual i: select pairs them by position
    assert [p.values["base"] for p in plans] == [p.text for p in POPULATION]
    assert [p.site for p in plans] == [f"gen2/child{i}" for i in range(4)]
    for i, plan in enumerate(plans):
        values = plan.values
        assert values["base"] == POPULATION[i].text and values["best"] == "p2"
        assert POPULATION[i].text not in (values["donor1"], values["donor2"])
        assert values["donor1"] != values["donor2"]
        assert values["differences"] == differing_parts(values["donor1"], values["donor2"])
        assert plan.parents == (values["base"], values["donor1"], values["donor2"], "p2")
        assert plan.operator == "de"


def test_differing_parts_shows_replaced_inserted_and_deleted_runs() -> None:
    assert (
        differing_parts("Classify the text now", "Classify the review carefully now")
        == '"text" vs "review carefully"'
    )
    assert differing_parts("a b c", "a c") == '"b" vs ""'
    assert differing_parts("a c", "a b c") == '"" vs "b"'
    assert differing_parts("x y z", "x q z w") == '"y" vs "q"; "" vs "w"'


def test_differing_parts_ignores_whitespace_and_names_identical_prompts() -> None:
    assert differing_parts("same  words\nhere", "same words here") == (
        "none (the prompts are identical)"
    )
