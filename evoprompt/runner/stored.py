"""config.json, read and written in one place, so no command can run a folder's settings
unchecked.

Every command that reads an experiment's stored config goes through :func:`read_stored`; the
only way to get settings to run from it is :meth:`Stored.resolve`, which refuses what the
folder alone may not decide (:mod:`evoprompt.config.trust`) unless the file is signed by this
user's key, this invocation confirms it, or ``--trust-folder`` is given. Every config.json this
tool writes is signed (:func:`write_config`), and a resumed run re-signs a confirmed one, so
the next resume is silent (:meth:`Stored.seal`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoprompt.checkpoint.atomic import atomic_write_text
from evoprompt.checkpoint.layout import Layout
from evoprompt.checkpoint.nofollow import PathRefused, read_text
from evoprompt.checkpoint.schema import SchemaError, config_fields
from evoprompt.checkpoint.schema.fields import FORMAT_FIELD, document, versioned
from evoprompt.checkpoint.seal import MAC_FIELD, KeyRefused, sign, signed
from evoprompt.config import Config, ConfigError, resolve
from evoprompt.config.trust import refusal, unconfirmed, unsealed
from evoprompt.llm.backends import Settled, settle


class StoredError(ConfigError):
    """config.json is missing, unreadable or not an object: one line for the user."""


class Untrusted(ConfigError):
    """An unsigned folder's config sets what only the user may decide: one line."""


@dataclass(frozen=True)
class Stored:
    """An experiment's config.json as found (without its MAC) and whether it is signed."""

    exp_dir: Path
    doc: dict[str, Any]
    signed: bool

    @property
    def fields(self) -> dict[str, Any]:
        """The config keys (no lineage). The folder's own ``result_dir`` is never used: the
        experiment is where it was found, and its writes must not go anywhere else."""
        return {k: v for k, v in config_fields(self.doc).items() if k != "result_dir"}

    def as_found(self) -> Config:
        """The stored settings, settled, for comparing and showing: never to be run."""
        return settle(resolve(base=self.fields, toml=None, env={}, flags={}), "").config

    def resolve(
        self,
        toml: dict[str, Any] | None,
        env: dict[str, Any],
        flags: dict[str, Any],
        api_key: str,
        *,
        trust: bool = False,
    ) -> Settled:
        """The stored settings with this invocation's layers on top, settled; Untrusted when
        the folder is unsigned and sets a risky value this invocation does not confirm."""
        final = settle(resolve(base=self.fields, toml=toml, env=env, flags=flags), api_key)
        if self.signed or trust:
            return final
        try:
            own = settle(resolve(toml=toml, env=env, flags=flags), api_key).config
        except ConfigError:
            # This invocation alone is incomplete: the defaults confirm.
            own = settle(Config(), api_key).config
        found = unconfirmed(final.config, own)
        if found:
            raise Untrusted(refusal(f"{self.exp_dir.name}/config.json", found))
        return final

    def seal(self, running: Config, *, trust: bool = False) -> None:
        """Sign the settings as found, once a run confirmed them: when it runs with the
        folder's own risky values. One it overrode (another base URL given) stays unconfirmed,
        so the next resume without it asks again; so do prices no budget confirmed
        (:func:`~evoprompt.config.trust.unsealed`). A no-op when signed."""
        if not self.signed and not unsealed(self.as_found(), running, trust=trust):
            write_config(self.exp_dir, self.doc)


def _parse(exp_dir: Path) -> dict[str, Any]:
    path = Layout(exp_dir).config
    try:
        doc = json.loads(read_text(path))
    except FileNotFoundError:
        raise StoredError(f"{path} is missing") from None
    except PathRefused as exc:
        raise StoredError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise StoredError(f"{path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise StoredError(f"{path} is not a JSON object")
    try:
        return document(doc, str(path))  # NewerFormat (not a StoredError) goes up as is
    except SchemaError as exc:
        raise StoredError(f"{path} is unusable ({exc})") from None


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    """What a config.json says, without what only the file needs (its MAC and format)."""
    return {k: v for k, v in doc.items() if k not in (MAC_FIELD, FORMAT_FIELD)}


def read_doc(exp_dir: Path) -> dict[str, Any]:
    """config.json as a plain document (no MAC), for showing only (``status``, ``report``):
    nothing in it is run or sent. StoredError when it is missing or not a JSON object."""
    return _fields(_parse(exp_dir))


def read_stored(exp_dir: Path) -> Stored:
    """The experiment's config.json and whether it is signed; StoredError when it is missing
    or not a JSON object."""
    doc = _parse(exp_dir)
    try:
        ok = signed(doc, exp_dir)
    except KeyRefused as exc:
        raise StoredError(str(exc)) from None
    return Stored(exp_dir, _fields(doc), ok)


def write_config(exp_dir: Path, doc: dict[str, Any]) -> None:
    """Write config.json signed with this user's key (atomically, never through a link)."""
    try:
        text = json.dumps(sign(versioned(doc), exp_dir), indent=2, ensure_ascii=False) + "\n"
    except KeyRefused as exc:
        raise ConfigError(str(exc)) from None
    atomic_write_text(Layout(exp_dir).config, text)
