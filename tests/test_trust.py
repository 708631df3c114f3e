"""Which settings an unsigned folder may not decide alone (config/trust.py)."""

from __future__ import annotations

from dataclasses import replace

from evoprompt.config import Config
from evoprompt.config.trust import unconfirmed


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
