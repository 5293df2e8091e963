"""multiple-choice: a softmax over transformers' logits for each prompt's choices."""

from __future__ import annotations

import pytest
import torch
from support.pipelines import our_tokenizer, reference_model

from albert import AlbertForMultipleChoice
from albert.pipelines import pipeline

PROMPT = "The man walked to the river at night and"
CHOICES = ["he read a letter.", "the mountain painted a car near the station.", "a dog."]


@pytest.fixture(scope="module")
def folder(make_tiny_model):
    return make_tiny_model(AlbertForMultipleChoice, seed=17)


@pytest.fixture(scope="module")
def choose(folder):
    return pipeline("multiple-choice", model=folder)


@torch.no_grad()
def reference_scores(folder, prompt, choices):
    """transformers' AlbertForMultipleChoice on (1, choices, sequence), padded by our tokenizer."""
    encoding = our_tokenizer(folder)([prompt] * len(choices), choices, padding=True, return_tensors="pt")
    model = reference_model("AlbertForMultipleChoice", folder)
    logits = model(**{name: tensor.unsqueeze(0) for name, tensor in encoding.items()}).logits[0]
    return torch.softmax(logits, dim=-1)


def test_scores_match_transformers_in_choice_order(folder, choose):
    results = choose(PROMPT, choices=CHOICES)
    assert [r["choice"] for r in results] == CHOICES
    assert [r["index"] for r in results] == [0, 1, 2]
    expected = reference_scores(folder, PROMPT, CHOICES)
    assert [r["score"] for r in results] == pytest.approx(expected.tolist(), abs=1e-5)
    assert sum(r["score"] for r in results) == pytest.approx(1.0)


def test_prompts_with_different_numbers_of_choices_batch_together(folder):
    records = [
        {"prompt": PROMPT, "choices": CHOICES},
        {"prompt": "An apple", "choices": ["fell.", "was read by the committee at the station."]},
    ]
    results = pipeline("multiple-choice", model=folder, batch_size=2)(records)
    for record, result in zip(records, results):
        expected = reference_scores(folder, record["prompt"], record["choices"])
        assert [r["score"] for r in result] == pytest.approx(expected.tolist(), abs=1e-5)


def test_too_few_choices_is_a_clear_error(choose):
    with pytest.raises(ValueError, match="at least two"):
        choose(PROMPT, choices=["only one"])
    with pytest.raises(ValueError, match="choices"):
        choose(PROMPT)
    with pytest.raises(ValueError, match="list of strings"):
        choose(PROMPT, choices="a, b")
