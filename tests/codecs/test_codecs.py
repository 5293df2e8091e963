"""One codec per task: a model is fed the same inputs when it is fine-tuned and when a pipeline (and
so the service and Spark) runs it, and truncated pairs are transformers' ``longest_first`` ids.

The pipelines' features are taken from what they hand :meth:`Pipeline.run` (the one place the model
is called); fine-tuning's from its tasks' ``encode``. The shipped model's SentencePiece vocabulary
is the tokenizer, a small window (40) makes long inputs truncate or slide.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from support.tiny import tiny_config

from albert import (
    AlbertForMultipleChoice,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
)
from albert.hub import shipped_models
from albert.pipelines import pipeline
from albert.pipelines.base import TruncationWarning
from albert.tokenizer import load_tokenizer
from albert.training.finetuning.readers import ChoiceExample, QuestionExample, TaggedSentence, TextExample
from albert.training.finetuning.tasks import EncodeOptions, get_task

WINDOW = 40
SHIPPED = shipped_models()["albert-small-en"]
SENTENCES = [
    "the quick brown fox jumps over the lazy dog near the river bank",
    "a storm kept the city awake until the early hours of monday morning",
    "she read the letter twice before she put it back in the drawer",
    "prices rose sharply after the company reported weaker sales in europe and asia",
    "nobody expected the small team to win the final against the champions",
]
LONG = " ".join(SENTENCES)  # far more pieces than the window


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(SHIPPED)


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers", reason="transformers (the reference) is not installed")
    return transformers.AlbertTokenizer(str(SHIPPED / "spiece.model"))


def make_pipeline(task: str, model_class: type, tokenizer, num_labels: int = 3, **options):
    torch.manual_seed(0)
    config = tiny_config(
        vocab_size=tokenizer.vocab_size, max_position_embeddings=WINDOW, num_labels=num_labels
    )
    return pipeline(task, model=model_class(config).eval(), tokenizer=tokenizer, fast=False, **options)


def fed(pipe, *args, **kwargs) -> list[tuple[list[int], list[int]]]:
    """The ``(input_ids, token_type_ids)`` rows the pipeline runs the model on for this call, in order."""
    rows: list[tuple[list[int], list[int]]] = []
    run = pipe.run

    def spy(features, read_outputs, **options):
        rows.extend((list(f["input_ids"]), list(f["token_type_ids"])) for f in features)
        return run(features, read_outputs, **options)

    pipe.run = spy
    try:
        pipe(*args, **kwargs)
    finally:
        del pipe.run
    return rows


def trained_on(
    task: str, examples: list, tokenizer, label2id=None, **options
) -> list[tuple[list[int], list[int]]]:
    """The rows fine-tuning feeds the model for these examples (one per choice for multiple choice)."""
    features = get_task(task).encode(
        examples, tokenizer, label2id, EncodeOptions(max_length=WINDOW, **options)
    )
    rows = []
    for feature in features:
        nested = isinstance(feature["input_ids"][0], list)
        ids = feature["input_ids"] if nested else [feature["input_ids"]]
        types = feature["token_type_ids"] if nested else [feature["token_type_ids"]]
        rows.extend((list(a), list(b)) for a, b in zip(ids, types))
    return rows


# Pairs that fit, that must be cut with the longer part first, and ties (equal lengths) to cut.
PAIRS = [
    (SENTENCES[0], SENTENCES[1]),
    (LONG, SENTENCES[2]),
    (SENTENCES[3], LONG),
    (SENTENCES[1] + " " + SENTENCES[4], SENTENCES[1] + " " + SENTENCES[4]),  # a tie: the second loses first
    (SENTENCES[2] + " " + SENTENCES[3], SENTENCES[3] + " " + SENTENCES[2]),
]


def test_text_classification_features_are_fine_tunings(tokenizer):
    pipe = make_pipeline("text-classification", AlbertForSequenceClassification, tokenizer)
    with pytest.warns(TruncationWarning) as caught:
        served = fed(pipe, [{"text": first, "text_pair": second} for first, second in PAIRS])
    assert [warning.message.index for warning in caught] == [1, 2, 3, 4]  # inputs[i], as the caller numbers them
    assert {warning.filename for warning in caught} == {__file__}  # pointing at the call
    labels = {"a": 0}
    assert served == trained_on(
        "text-classification", [TextExample(a, b, "a") for a, b in PAIRS], tokenizer, labels
    )
    assert fed(pipe, [SENTENCES[0], LONG]) == trained_on(
        "text-classification",
        [TextExample(SENTENCES[0], None, "a"), TextExample(LONG, None, "a")],
        tokenizer,
        labels,
    )
    assert served == trained_on("regression", [TextExample(a, b, 0.5) for a, b in PAIRS], tokenizer)


def test_truncated_pairs_are_transformers_longest_first(tokenizer, reference):
    pipe = make_pipeline("text-classification", AlbertForSequenceClassification, tokenizer)
    with pytest.warns(UserWarning):
        served = fed(pipe, [{"text": first, "text_pair": second} for first, second in PAIRS])
    expected = reference(
        [a for a, _ in PAIRS], [b for _, b in PAIRS], truncation="longest_first", max_length=WINDOW
    )
    assert served == list(zip(expected["input_ids"], expected["token_type_ids"]))
    assert any(len(ids) == WINDOW for ids, _ in served)  # the cut ones fill the window exactly


def test_multiple_choice_features_are_fine_tunings_and_transformers(tokenizer, reference):
    pipe = make_pipeline("multiple-choice", AlbertForMultipleChoice, tokenizer)
    prompt, tie = SENTENCES[1] + " " + SENTENCES[4], SENTENCES[4] + " " + SENTENCES[1]
    examples = [
        ChoiceExample(prompt, [tie, SENTENCES[0]], 0),
        ChoiceExample(SENTENCES[2], [LONG, SENTENCES[3]], 1),
    ]
    with pytest.warns(UserWarning):
        served = fed(pipe, [{"prompt": e.prompt, "choices": e.choices} for e in examples])
    assert served == trained_on("multiple-choice", examples, tokenizer)
    firsts = [e.prompt for e in examples for _ in e.choices]
    expected = reference(
        firsts, [c for e in examples for c in e.choices], truncation="longest_first", max_length=WINDOW
    )
    assert served == list(zip(expected["input_ids"], expected["token_type_ids"]))


def test_token_classification_features_are_fine_tunings(tokenizer):
    pipe = make_pipeline("token-classification", AlbertForTokenClassification, tokenizer)
    sentences = [sentence.split() for sentence in SENTENCES[:3]] + [["Paris", "is", "in", "France", "."]]
    examples = [TaggedSentence(words, ["O"] * len(words)) for words in sentences]
    served = fed(pipe, [" ".join(words) for words in sentences])
    assert served == trained_on("token-classification", examples, tokenizer, {"O": 0})


def test_question_answering_windows_are_fine_tunings(tokenizer):
    pipe = make_pipeline("question-answering", AlbertForQuestionAnswering, tokenizer, num_labels=2)
    # Questions of different lengths over long contexts: each question's windows are its own.
    examples = [
        QuestionExample("0", "who won?", LONG, [("the small team", LONG.index("the small team"))]),
        QuestionExample("1", "what did the storm keep awake until the early hours?", LONG, []),
        QuestionExample("2", "where?", SENTENCES[0], []),
    ]
    limit = (WINDOW - 3) // 2  # fine-tuning's question limit for this window
    served = fed(
        pipe, [{"question": e.question, "context": e.context} for e in examples], max_question_len=limit
    )
    trained = trained_on("question-answering", examples, tokenizer)
    assert len(served) > len(examples)  # long contexts slide
    assert served == trained


def test_codecs_load_without_torch():
    code = "import sys, albert.codecs; assert 'torch' not in sys.modules, 'albert.codecs imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
