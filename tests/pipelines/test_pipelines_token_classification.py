"""token-classification: transformers' aggregation semantics, on the same weights and pieces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from support.pipelines import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForTokenClassification
from albert.pipelines import pipeline

LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXT = "My friend John Smith lives in (New York) and was dangerous, so a dog forgot an apple."


@pytest.fixture(scope="module")
def folder(make_tiny_model):
    return make_tiny_model(
        AlbertForTokenClassification, seed=11, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}
    )


@pytest.fixture(scope="module")
def tagger(folder):
    return pipeline("ner", model=folder)


def transformers_entities(folder, text, strategy):
    """transformers' own aggregation, fed with transformers' scores on our tokenizer's pieces.

    transformers cannot see ALBERT's words and falls back to a spacing heuristic; we give it the
    tokenizer's real words (``word_ids``), which is what our pipeline uses.
    """
    import transformers
    from transformers.pipelines.token_classification import AggregationStrategy

    model = reference_model("AlbertForTokenClassification", folder)
    reference = transformers.TokenClassificationPipeline(
        model=model, tokenizer=transformers.AlbertTokenizer.from_pretrained(folder)
    )
    encoding = our_tokenizer(folder)(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    logits = reference_outputs(model, encoding).logits[0].numpy()
    scores = np.exp(logits - logits.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre_entities = reference.gather_pre_entities(
            text, np.array(encoding["input_ids"]), scores, encoding["offset_mapping"],
            np.array(encoding["special_tokens_mask"]), AggregationStrategy(strategy),
        )  # fmt: skip
    word_ids = encoding.word_ids()
    for entity in pre_entities:
        index = entity["index"]
        entity["is_subword"] = word_ids[index] == word_ids[index - 1] and index > 1
        if encoding["input_ids"][index] == our_tokenizer(folder).unk_token_id:
            entity["is_subword"] = False
    entities = reference.aggregate(pre_entities, AggregationStrategy(strategy))
    return [e for e in entities if e.get("entity", e.get("entity_group")) != "O"]


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_aggregation_matches_transformers(folder, tagger, strategy):
    ours = tagger(TEXT, aggregation_strategy=strategy)
    theirs = transformers_entities(folder, TEXT, strategy)
    key = "entity" if strategy == "none" else "entity_group"
    assert [(e[key], e["start"], e["end"]) for e in ours] == [(e[key], e["start"], e["end"]) for e in theirs]
    assert [e["score"] for e in ours] == pytest.approx([float(e["score"]) for e in theirs], abs=1e-5)
    if strategy == "none":
        assert [e["index"] for e in ours] == [e["index"] for e in theirs]
    for entity in ours:
        assert entity["word"] == TEXT[entity["start"] : entity["end"]]


def test_word_strategies_give_whole_words(tagger):
    words = {(start, start + len(word)) for start, word in _whitespace_words(TEXT)}
    for strategy in ("first", "average", "max"):
        for entity in tagger(TEXT, aggregation_strategy=strategy):
            # an entity starts at a word's start and ends at a word's end
            assert entity["start"] in {s for s, _ in words} and entity["end"] in {e for _, e in words}


def test_ignore_labels_and_several_texts(tagger):
    texts = [TEXT, "an apple.", "the city moved a book at the station."]
    everything = tagger(texts, aggregation_strategy="first", ignore_labels=[])
    assert len(everything) == 3
    assert everything[1], "with nothing ignored, every word belongs to some entity"
    default = tagger(texts, aggregation_strategy="first")
    for every, kept in zip(everything, default):
        assert kept == [e for e in every if e["entity_group"] != "O"]


def test_long_text_is_tagged_in_windows_without_losing_words(folder):
    tagger = pipeline("token-classification", model=folder, stride=8)
    text = " ".join(["my friend john smith lives in new york ."] * 12)
    assert len(our_tokenizer(folder).tokenize(text)) > 2 * tagger.max_length
    entities = tagger(text, aggregation_strategy="first", ignore_labels=[])
    covered = "".join(text[e["start"] : e["end"]] for e in entities)
    assert covered.replace(" ", "") == text.replace(" ", "")  # every word labelled once, in order


def test_unknown_strategy_is_a_clear_error(tagger):
    with pytest.raises(ValueError, match="aggregation_strategy"):
        tagger(TEXT, aggregation_strategy="longest")


def _whitespace_words(text):
    position = 0
    for word in text.split():
        position = text.index(word, position)
        yield position, word
        position += len(word)
