"""text-classification: every label's score, the function chosen by problem_type, as transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.pipelines import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForSequenceClassification
from albert.pipelines import pipeline

LABELS = {0: "negative", 1: "neutral", 2: "positive"}
TEXTS = [
    "the committee painted the car at night.",
    "a dog",
    "why would the river visit a letter near the river?",
]


def make(make_tiny_model, **overrides):
    return make_tiny_model(AlbertForSequenceClassification, seed=7, **overrides)


def reference_logits(folder, text, pair=None):
    encoding = our_tokenizer(folder)(text, pair)
    return reference_outputs(reference_model("AlbertForSequenceClassification", folder), encoding).logits[0]


@pytest.fixture(scope="module")
def single_label(make_tiny_model):
    return make(make_tiny_model, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})


def test_softmax_scores_for_every_label_best_first(single_label):
    classify = pipeline("text-classification", model=single_label)
    results = classify(TEXTS)
    for text, result in zip(TEXTS, results):
        expected = torch.softmax(reference_logits(single_label, text), dim=-1)
        assert sorted(r["label"] for r in result) == sorted(LABELS.values())
        assert [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)
        for record in result:
            label_id = {v: k for k, v in LABELS.items()}[record["label"]]
            assert record["score"] == pytest.approx(expected[label_id].item(), abs=1e-5)


def test_text_pairs_use_both_segments(single_label):
    classify = pipeline("sentiment-analysis", model=single_label)
    first, second = "my friend was dangerous.", "so a dog forgot an apple."
    expected = torch.softmax(reference_logits(single_label, first, second), dim=-1)
    for result in classify([{"text": first, "text_pair": second}, (first, second)]):
        scores = {r["label"]: r["score"] for r in result}
        assert [scores[LABELS[i]] for i in range(3)] == pytest.approx(expected.tolist(), abs=1e-5)
    alone = classify(first)
    assert {r["label"]: r["score"] for r in alone} != pytest.approx(
        {r["label"]: r["score"] for r in classify({"text": first, "text_pair": second})}, abs=1e-6
    )


def test_multi_label_models_score_each_label_with_a_sigmoid(make_tiny_model):
    folder = make(make_tiny_model, num_labels=4, problem_type="multi_label_classification")
    result = pipeline("text-classification", model=folder)(TEXTS[0])
    expected = torch.sigmoid(reference_logits(folder, TEXTS[0]))
    scores = {r["label"]: r["score"] for r in result}
    assert [scores[f"LABEL_{i}"] for i in range(4)] == pytest.approx(expected.tolist(), abs=1e-5)
    assert sum(scores.values()) != pytest.approx(1.0, abs=1e-3)  # independent, not a distribution


def test_regression_gives_the_raw_value(make_tiny_model):
    folder = make(make_tiny_model, num_labels=1, problem_type="regression")
    result = pipeline("text-classification", model=folder)(TEXTS[1])
    assert result[0]["score"] == pytest.approx(reference_logits(folder, TEXTS[1])[0].item(), abs=1e-5)


def test_function_and_top_k_can_be_chosen(single_label):
    classify = pipeline("text-classification", model=single_label, top_k=1)
    logits = reference_logits(single_label, TEXTS[2])
    best = classify(TEXTS[2])
    assert len(best) == 1 and best[0]["label"] == LABELS[int(logits.argmax())]
    raw = classify(TEXTS[2], top_k=3, function_to_apply="none")
    assert sorted(r["score"] for r in raw) == pytest.approx(sorted(logits.tolist()), abs=1e-5)
    with pytest.raises(ValueError, match="function_to_apply"):
        classify(TEXTS[0], function_to_apply="relu")


def test_long_inputs_are_truncated_with_a_warning(single_label):
    classify = pipeline("text-classification", model=single_label)
    long_text = "the river visit a letter near the river " * 30
    with pytest.warns(UserWarning, match="truncated"):
        result = classify(long_text)
    assert np.isclose(sum(r["score"] for r in result), 1.0)
