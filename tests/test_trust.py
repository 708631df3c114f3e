"""Which settings an unsigned folder may not decide alone (config/trust.py)."""

from __future__ import annotations

from dataclasses import replace

from evoprompt.config import Config
from evoprompt.config.trust import unconfirmed, unsealed


def test_only_risky_values_the_invocation_does_not_give_are_named() -> None:
    own = Config(base_url="https://api.openai.com/v1")
    assert unconfirmed(replace(own, metric="f1", dataset="x.csv", max_calls=9), own) == []
    found = unconfirmed(
        replace(
            own,
            metric="python:m.py:f",
            templates="t.toml",
            base_url="http://u:p@evil:8/v1",
            max_cost=5.0,
            prices={"m": {"prompt": 0.0, "completion": 0.0}},
        ),
        own,
    )
    assert found == [
        "metric = 'python:m.py:f'",
        "templates = 't.toml'",
        "base_url = 'http://evil:8/v1'",
        "prices = {'m': {'prompt': 0.0, 'completion': 0.0}}",
    ]
    same = replace(own, metric="python:m.py:f", templates="t.toml")
    assert unconfirmed(same, same) == []  # given again: confirmed


def test_prices_no_budget_checked_keep_a_folder_unsigned() -> None:
    """A run without max_cost is never asked about prices, so it confirms none: signing them
    would let a later budget count by forged (free) prices."""
    free = {"m": {"prompt": 0.0, "completion": 0.0}}
    found = Config(prices=free)
    assert unsealed(found, found, trust=False) == [f"prices = {free!r}"]
    assert unsealed(found, found, trust=True) == []  # --trust-folder vouches for the folder
    assert unsealed(Config(), Config(), trust=False) == []  # the default: nothing to confirm
    budgeted = replace(found, max_cost=1.0)  # resolving asked for them: confirmed by then
    assert unsealed(budgeted, budgeted, trust=False) == []


def test_the_operators_endpoint_and_prices_are_asked_about_like_the_tasks() -> None:
    own = Config(base_url="https://api.openai.com/v1", operator_base_url="https://a.example/v1")
    folder = replace(
        own,
        operator_base_url="http://u:p@evil:8/v1",
        operator_max_cost=2.0,  # the operator's own budget counts by the prices
        operator_prices={"w": {"prompt": 0.0, "completion": 0.0}},
    )
    assert unconfirmed(folder, own) == [
        "operator_base_url = 'http://evil:8/v1'",
        "operator_prices = {'w': {'prompt': 0.0, 'completion': 0.0}}",
    ]
    assert unconfirmed(folder, folder) == []  # given again: confirmed
    # Forged free operator prices no budget checked keep the folder unsigned too.
    unbudgeted = replace(folder, operator_max_cost=0.0)
    assert unsealed(unbudgeted, unbudgeted, trust=False) == [
        "operator_prices = {'w': {'prompt': 0.0, 'completion': 0.0}}"
    ]
