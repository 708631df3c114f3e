"""Turn an offspring plan into a child prompt with one (or, if unusable, two) LLM calls.

Unusable: no ``<prompt>`` tags, or a child the quality gate (:mod:`.gate`) refuses.

Every call carries its *site* (``gen3/child2/try0``), part of the journal key: sampled calls
at different places in the experiment never share an answer, while a resumed run finds the
answer of each site it already paid for.
"""

from __future__ import annotations

from evoprompt.checkpoint.journal_rows import REJECTED
from evoprompt.evolution.extract import CLOSE, OPEN, extract_prompt
from evoprompt.evolution.gate import gate
from evoprompt.evolution.templates import Templates
from evoprompt.fewshot.prompt import compose, instruction_of
from evoprompt.llm.client import LLMClient
from evoprompt.llm.types import LLMRequest
from evoprompt.strategies.base import Offspring


class Breeder:
    def __init__(
        self,
        client: LLMClient,
        templates: Templates,
        *,
        model: str,
        temperature: float,
        tries: int = 2,
    ):
        self.client = client
        self.templates = templates
        self.model = model
        self.temperature = temperature
        self.tries = tries

    def request(self, plan: Offspring, attempt: int) -> LLMRequest:
        return operator_request(self.templates, plan, attempt, self.model, self.temperature)

    async def breed(self, plan: Offspring, first_try: int = 0) -> str | None:
        """The child prompt, or None when every try came back without a usable one."""
        for attempt in range(first_try, first_try + self.tries):
            request = self.request(plan, attempt)
            fresh = not self.client.answered(request)
            reply = (await self.client.call(request)).text
            if self.templates.completion:
                reply = OPEN + reply.split(CLOSE)[0] + CLOSE
            child = extract_prompt(reply)
            if child is None:
                continue
            parents = [instruction_of(p) for p in plan.parents]
            if gate(child, parents, self.templates.texts[plan.operator]) is None:
                return child if plan.exemplars is None else compose(child, plan.exemplars)
            if fresh:  # counted once per paid reply, not again when a resume replays it
                self.client.journal.bump(REJECTED)
        return None


def operator_request(
    templates: Templates, plan: Offspring, attempt: int, model: str, temperature: float
) -> LLMRequest:
    """The call that breeds ``plan`` (also rendered, never sent, by the dry run's estimate):
    the operator model sees prompts' instructions, never their exemplars."""
    text = templates.render(plan.operator, **{k: instruction_of(v) for k, v in plan.values.items()})
    site = f"{plan.site}/try{attempt}"
    if templates.completion:
        return LLMRequest(
            kind="completion",
            model=model,
            prompt=text,
            temperature=temperature,
            max_tokens=80,
            stop=(CLOSE, "\n\n"),
            site=site,
        )
    return LLMRequest(
        kind="chat",
        model=model,
        messages=(("user", text),),
        temperature=temperature,
        max_tokens=512,
        site=site,
    )
