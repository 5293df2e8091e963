"""question-answering: the best spans by transformers' scores, mapped back to the right characters."""

from __future__ import annotations

import numpy as np
import pytest
from support.pipelines import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForQuestionAnswering
from albert.pipelines import pipeline

QUESTION = "who carried the mountain?"
CONTEXT = "The children carried the mountain at night. My friend was dangerous, so a dog forgot an apple."


@pytest.fixture(scope="module")
def folder(make_tiny_model):
    return make_tiny_model(AlbertForQuestionAnswering, seed=13)


@pytest.fixture(scope="module")
def answer(folder):
    return pipeline("question-answering", model=folder)


def brute_force(folder, question, context, max_length, stride, max_answer_len=15):
    """Every (score, start char, end char) over the tokenizer's overflow windows, by explicit loops:
    probabilities over [CLS] + the window's context pieces, score = p(start) * p(end). A span's
    characters run from its first to its last visible piece (a bare "▁" piece shows nothing)."""
    tokenizer = our_tokenizer(folder)
    model = reference_model("AlbertForQuestionAnswering", folder)
    windows = tokenizer(
        question, context, truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )  # fmt: skip
    candidates, null_scores = {}, []
    for index in range(len(windows["input_ids"])):
        encoding = {name: windows[name][index] for name in ("input_ids", "token_type_ids", "attention_mask")}
        output = reference_outputs(model, encoding)
        allowed = [0] + [i for i, segment in enumerate(windows.sequence_ids(index)) if segment == 1]

        def probabilities(logits, allowed=allowed):
            values = np.exp(logits[allowed] - logits[allowed].max())
            return dict(zip(allowed, values / values.sum()))

        start_p = probabilities(output.start_logits[0].numpy())
        end_p = probabilities(output.end_logits[0].numpy())
        null_scores.append(start_p[0] * end_p[0])
        offsets = windows["offset_mapping"][index]
        for s in allowed[1:]:
            for e in allowed[1:]:
                visible = [offsets[k] for k in range(s, e + 1) if offsets[k][1] > offsets[k][0]]
                if s <= e < s + max_answer_len and visible:
                    span = (visible[0][0], visible[-1][1])
                    candidates[span] = max(candidates.get(span, 0.0), float(start_p[s] * end_p[e]))
    ranked = sorted(((score, start, end) for (start, end), score in candidates.items()), reverse=True)
    return ranked, min(null_scores)


def test_best_span_and_score_match_transformers(folder, answer):
    result = answer(question=QUESTION, context=CONTEXT)
    ranked, _ = brute_force(folder, QUESTION, CONTEXT, max_length=64, stride=0)
    score, start, end = ranked[0]
    assert (result["start"], result["end"]) == (start, end)
    assert result["score"] == pytest.approx(score, abs=1e-5)
    assert result["answer"] == CONTEXT[start:end]


def test_top_k_answers_are_the_k_best_spans(folder, answer):
    results = answer(question=QUESTION, context=CONTEXT, top_k=5, max_answer_len=4)
    ranked, _ = brute_force(folder, QUESTION, CONTEXT, max_length=64, stride=0, max_answer_len=4)
    assert [(r["start"], r["end"]) for r in results] == [(start, end) for _, start, end in ranked[:5]]
    assert [r["score"] for r in results] == pytest.approx([score for score, _, _ in ranked[:5]], abs=1e-5)
    for result in results:
        assert result["answer"] == CONTEXT[result["start"] : result["end"]]
        assert len(our_tokenizer(folder).tokenize(result["answer"])) <= 5  # 4 pieces (+ a bare "▁")


def test_long_context_is_read_in_windows_with_doc_stride(folder, answer):
    context = " ".join([CONTEXT] * 6)
    tokenizer = our_tokenizer(folder)
    assert len(tokenizer.tokenize(context)) > 3 * answer.max_length
    results = answer(question=QUESTION, context=context, doc_stride=12, top_k=3)
    ranked, _ = brute_force(folder, QUESTION, context, max_length=64, stride=12)
    assert [(r["start"], r["end"]) for r in results] == [(start, end) for _, start, end in ranked[:3]]
    assert [r["score"] for r in results] == pytest.approx([score for score, _, _ in ranked[:3]], abs=1e-5)
    assert max(r["start"] for r in results) >= 0 and all(r["end"] <= len(context) for r in results)


def test_impossible_answer_competes_with_the_spans(folder, answer):
    results = answer(question=QUESTION, context=CONTEXT, top_k=200, handle_impossible_answer=True)
    ranked, null_score = brute_force(folder, QUESTION, CONTEXT, max_length=64, stride=0)
    empty = [r for r in results if r["answer"] == ""]
    assert len(empty) == 1 and (empty[0]["start"], empty[0]["end"]) == (0, 0)
    assert empty[0]["score"] == pytest.approx(null_score, abs=1e-6)
    assert results.index(empty[0]) == sum(score > null_score for score, _, _ in ranked)


def test_batched_questions_and_dict_inputs(answer):
    records = [
        {"question": QUESTION, "context": CONTEXT},
        {
            "question": "what did the dog forget?",
            "context": "My friend was dangerous, so a dog forgot an apple.",
        },
    ]
    one_by_one = [answer(**record) for record in records]
    from_lists = answer(question=[r["question"] for r in records], context=[r["context"] for r in records])
    for batched in (answer(records), from_lists):
        assert [(r["start"], r["end"], r["answer"]) for r in batched] == [
            (r["start"], r["end"], r["answer"]) for r in one_by_one
        ]
        assert [r["score"] for r in batched] == pytest.approx([r["score"] for r in one_by_one], abs=1e-6)


def test_errors_say_what_is_missing(answer):
    with pytest.raises(ValueError, match="context"):
        answer(question=QUESTION)
    with pytest.raises(ValueError, match="empty"):
        answer(question=QUESTION, context="  ")
    with pytest.raises(ValueError, match="2 questions but 3 contexts"):
        answer(question=["a", "b"], context=["x", "y", "z"])
    with pytest.raises(ValueError, match="doc_stride"):
        answer(question=QUESTION, context=CONTEXT, doc_stride=500)
