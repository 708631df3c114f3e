"""The test endpoint's ``worse_children``: a deterministic share of children lose a magic word."""

from __future__ import annotations

from evoprompt.testing.answers import Answers, magic_in, quality

REQUEST = "<prompt>\nPrompt 1: Read carefully as an expert\nPrompt 2: Weigh the evidence\n"


def child(answers: Answers, seed: str) -> str:
    return answers.evolve(REQUEST, seed).split("<prompt>")[1].split("</prompt>")[0]


def test_children_keep_their_parents_words_by_default() -> None:
    children = [child(Answers({}), str(s)) for s in range(20)]
    assert all({"carefully", "expert", "evidence"} <= set(magic_in(c)) for c in children)


def test_worse_children_drop_a_parent_word_deterministically() -> None:
    worse = Answers({}, worse_children=0.5)
    children = [child(worse, str(s)) for s in range(40)]
    assert children == [child(worse, str(s)) for s in range(40)]  # a hash of the request
    dropped = [c for c in children if not {"carefully", "expert"} <= set(magic_in(c))]
    assert 5 < len(dropped) < 35
    parent = quality("Read carefully as an expert")
    assert all(quality(c) <= parent for c in dropped)


def test_skill_raises_every_prompt_to_at_most_0_95() -> None:
    plain, strong = Answers({}), Answers({}, skill=0.5)
    assert plain.quality("Classify.") == quality("Classify.") == 0.35
    assert strong.quality("Classify.") == 0.85
    assert strong.quality("Carefully, as an expert.") == 0.95  # capped, as the default is
