"""endpoint.json: what the endpoint was found to offer, probed once per experiment.

A resume reads it instead of probing again, so every log-likelihood of one experiment is
computed the same way (a resumed run must not change answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evoprompt.checkpoint.schema.fields import NUMBER, JsonDict, document, get, versioned


@dataclass(frozen=True)
class EndpointRecord:
    """How log-likelihoods are asked of ``base_url`` for ``model`` (``loglik``: a mode name)."""

    base_url: str
    model: str
    loglik: str
    probed: float  # when (Unix time)

    def to_json(self) -> JsonDict:
        return versioned(
            {
                "base_url": self.base_url,
                "model": self.model,
                "loglik": self.loglik,
                "probed": self.probed,
            }
        )

    @classmethod
    def from_json(cls, raw: Any) -> EndpointRecord:
        doc = document(raw, "endpoint.json")
        return cls(
            base_url=str(get(doc, "base_url", str, "a string")),
            model=str(get(doc, "model", str, "a string")),
            loglik=str(get(doc, "loglik", str, "a string")),
            probed=float(get(doc, "probed", NUMBER, "a number")),
        )
