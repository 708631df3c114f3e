"""Which settings a result folder alone may not decide, and when they count as confirmed.

A config or sweep file can run code, like a Makefile: a ``python:`` metric is imported, a
templates file is read into every evolution prompt. A stored config.json is no different, but
anyone who can write the folder can edit it. So the settings below are taken from a folder only
when it is signed by this user's key (:mod:`evoprompt.checkpoint.seal`), when this invocation
gives the same value again (flag, config file or environment), or with ``--trust-folder``:

* code: ``metric`` (a ``python:`` one) and ``templates`` (a file, not the built-in set);
* where the key and the data go: ``base_url``;
* what a cost budget counts: ``prices``, when a ``max_cost`` is in effect (a folder whose
  prices no budget confirmed is not signed either: :func:`unsealed`).

The budget caps themselves (``max_calls``, ``max_tokens_total``, ``max_cost``) are not asked
about: this invocation's own always win, and the default is no cap, so a folder's can only
limit. A folder edited from a cap to none cannot be told from one that never had a cap: a
signed folder keeps the cap you set, for an unsigned one give it again if you rely on it.
Everything else (the dataset, generations, population...) is the experiment's own: reading a
file sends it nowhere but to the confirmed endpoint.
"""

from __future__ import annotations

from collections.abc import Callable

from evoprompt.config.table import Config
from evoprompt.llm.transport import split_userinfo

TRUST_FLAG = "--trust-folder"


# key -> whether the folder's value (in ``final``) needs confirming, given this invocation's own
RISKY: dict[str, Callable[[Config, Config], bool]] = {
    "metric": lambda final, own: final.metric != own.metric and final.metric.startswith("python:"),
    "templates": lambda final, own: final.templates not in (own.templates, Config.templates),
    "base_url": lambda final, own: (
        split_userinfo(final.base_url)[0] != split_userinfo(own.base_url)[0]
    ),
    "prices": lambda final, own: final.max_cost > 0 and final.prices != own.prices,
}


def unconfirmed(final: Config, own: Config) -> list[str]:
    """The risky settings ``final`` (the folder's, with this invocation on top) holds that
    ``own`` (this invocation alone) does not confirm, each as ``key = value``."""
    found = []
    for key, risky in RISKY.items():
        value = getattr(final, key)
        if risky(final, own):
            shown = split_userinfo(value)[0] if key == "base_url" else value
            found.append(f"{key} = {shown!r}")
    return found


def unsealed(found: Config, running: Config, *, trust: bool) -> list[str]:
    """What keeps a folder's settings from being signed after a run used them: a risky value
    the run overrode (it stays unconfirmed), and prices no budget checked. Prices are asked for
    only when a ``max_cost`` counts by them, so a run without one never confirmed the folder's:
    signing them would let a later budget count by forged prices. Unless ``trust``
    (``--trust-folder``), such a folder stays unsigned and a budgeted resume still asks."""
    found_here = unconfirmed(found, running)
    if not trust and running.max_cost <= 0 and found.prices != Config().prices:
        found_here.append(f"prices = {found.prices!r}")
    return found_here


def refusal(where: str, found: list[str]) -> str:
    """The one line that names what is unconfirmed and both ways to confirm it."""
    return (
        f"{where} is not signed by your key (edited, copied from elsewhere, or written by an "
        f"older version) and sets {'; '.join(found)}: a result folder alone never decides what "
        "runs code, where the API key goes or what may be spent. Give the same value again "
        f"(flag, config file or environment) to confirm it, or pass {TRUST_FLAG} if you trust "
        "this folder"
    )
