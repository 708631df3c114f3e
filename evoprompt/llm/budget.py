"""What a run may spend (calls, tokens, cost) and what each answer costs: checked by the
client before each call is admitted (:mod:`evoprompt.llm.client`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evoprompt.llm.types import LLMResponse


@dataclass(frozen=True)
class Budget:
    """Spending limits; 0 means unlimited."""

    max_calls: int = 0
    max_tokens: int = 0
    max_cost: float = 0.0
    flags: str = "--"  # how the flags that raise it begin ("--operator-": a role's own)

    def exceeded(self, totals: dict[str, float], reserved_calls: int) -> str | None:
        flags = self.flags
        if self.max_calls and totals["calls"] + reserved_calls >= self.max_calls:
            return f"call budget reached ({self.max_calls} calls; raise {flags}max-calls to go on)"
        if self.max_tokens and totals["tokens"] >= self.max_tokens:
            return (
                f"token budget reached ({int(totals['tokens'])} of {self.max_tokens}; "
                f"raise {flags}max-tokens-total to go on)"
            )
        if self.max_cost and totals["cost"] >= self.max_cost:
            return (
                f"cost budget reached (${totals['cost']:.4f} of ${self.max_cost}; "
                f"raise {flags}max-cost to go on)"
            )
        return None


@dataclass
class Prices:
    """USD per million tokens, per model."""

    table: dict[str, dict[str, float]] = field(default_factory=dict)

    def cost(self, response: LLMResponse, model: str) -> float:
        price = self.table.get(model) or self.table.get(response.model) or {}
        return (
            response.usage.prompt_tokens * price.get("prompt", 0.0)
            + response.usage.completion_tokens * price.get("completion", 0.0)
        ) / 1e6
