"""Which settings a result folder alone may not decide, and when they count as confirmed.

A config or sweep file can run code, like a Makefile: a ``python:`` metric is imported, a
templates file is read into every evolution prompt. A stored config.json is no different, but
anyone who can write the folder can edit it. So the settings below are taken from a folder only
when it is signed by this user's key (:mod:`evoprompt.checkpoint.seal`), when this invocation
gives the same value again (flag, config file or environment), or with ``--trust-folder``:

* code: ``metric`` (a ``python:`` one) and ``templates`` (a file, not the built-in set);
* where the key and the data go: ``base_url``;
* money: the budgets ``max_calls``, ``max_tokens_total``, ``max_cost`` when the folder's is
  looser than this invocation's own (0 is unlimited), and ``prices`` lower than its own.

Everything else (the dataset, generations, population...) is the experiment's own and is not
asked about: reading a file sends nothing anywhere but to the confirmed endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evoprompt.config.table import Config, split_userinfo

TRUST_FLAG = "--trust-folder"


def _looser(folder: Any, own: Any) -> bool:
    """A budget (0: unlimited) that lets more be spent than this invocation's own."""
    return bool(own) and (not folder or folder > own)


def _cheaper(folder: Any, own: Any) -> bool:
    """Prices under which the cost budget would count less than this invocation's own."""
    for model, price in own.items():
        theirs = folder.get(model, {})
        if any(theirs.get(part, 0.0) < value for part, value in price.items()):
            return True
    return False


# key -> whether the folder's value needs confirming, given this invocation's own value
RISKY: dict[str, Callable[[Any, Any], bool]] = {
    "metric": lambda folder, own: folder != own and str(folder).startswith("python:"),
    "templates": lambda folder, own: folder != own and folder != Config.templates,
    "base_url": lambda folder, own: split_userinfo(folder)[0] != split_userinfo(own)[0],
    "max_calls": _looser,
    "max_tokens_total": _looser,
    "max_cost": _looser,
    "prices": _cheaper,
}


def unconfirmed(final: Config, own: Config) -> list[str]:
    """The risky settings ``final`` (the folder's, with this invocation on top) holds that
    ``own`` (this invocation alone) does not confirm, each as ``key = value``."""
    found = []
    for key, risky in RISKY.items():
        value = getattr(final, key)
        if risky(value, getattr(own, key)):
            shown = split_userinfo(value)[0] if key == "base_url" else value
            found.append(f"{key} = {shown!r}")
    return found


def refusal(where: str, found: list[str]) -> str:
    """The one line that names what is unconfirmed and both ways to confirm it."""
    return (
        f"{where} is not signed by your key (edited, copied from elsewhere, or written by an "
        f"older version) and sets {'; '.join(found)}: a result folder alone never decides what "
        "runs code, where the API key goes or what may be spent. Give the same value again "
        f"(flag, config file or environment) to confirm it, or pass {TRUST_FLAG} if you trust "
        "this folder"
    )
