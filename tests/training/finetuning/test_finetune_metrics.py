"""Metrics match values computed by hand, seqeval's entity rules and the official SQuAD scoring."""

from __future__ import annotations

import math
import random

import pytest

from albert.training.finetuning import metrics

# -- classification and regression ----------------------------------------------------------------

PREDICTED = [1, 0, 1, 1]
GOLD = [1, 1, 1, 0]  # TP=2 (positions 0, 2), FP=1 (3), FN=1 (1), TN=0


def test_accuracy_counts_equal_pairs():
    assert metrics.accuracy(PREDICTED, GOLD) == pytest.approx(2 / 4)


def test_binary_f1_is_f1_of_the_positive_class():
    # precision 2/3, recall 2/3
    assert metrics.f1_score(PREDICTED, GOLD) == pytest.approx(2 / 3)
    # with 0 as the positive class: TP=0 -> 0
    assert metrics.f1_score(PREDICTED, GOLD, positive_label=0) == 0.0


def test_macro_f1_averages_the_classes():
    assert metrics.f1_score(PREDICTED, GOLD, average="macro") == pytest.approx((0.0 + 2 / 3) / 2)


def test_matthews_correlation_by_hand():
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (0 - 1) / sqrt(3*3*1*1)
    assert metrics.matthews_corrcoef(PREDICTED, GOLD) == pytest.approx(-1 / 3)
    assert metrics.matthews_corrcoef(["a", "b", "c"], ["a", "b", "c"]) == pytest.approx(1.0)
    assert metrics.matthews_corrcoef([1, 1, 1], [1, 0, 1]) == 0.0  # one predicted class: undefined -> 0


def test_matthews_correlation_multiclass_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    gold = [rng.randint(0, 3) for _ in range(200)]
    predicted = [g if rng.random() < 0.6 else rng.randint(0, 3) for g in gold]
    assert metrics.matthews_corrcoef(predicted, gold) == pytest.approx(sklearn_metrics.matthews_corrcoef(gold, predicted))
    assert metrics.f1_score(predicted, gold, "macro") == pytest.approx(
        sklearn_metrics.f1_score(gold, predicted, average="macro")
    )


def test_pearson_by_hand():
    # x - mean = (-1, 0, 1); y - mean = (-7/3, -1/3, 8/3): sum of products 5, squares 2 and 38/3
    assert metrics.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 38 / 3))
    assert metrics.pearson([1, 1, 1], [1, 2, 3]) == 0.0


def test_spearman_ranks_ties_by_their_mean():
    assert list(metrics.rank([10, 20, 20, 30])) == [1, 2.5, 2.5, 4]
    assert metrics.spearman([1, 2, 3, 4], [10, 100, 1000, 10000]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(
        metrics.pearson([1, 2.5, 2.5, 4], [1, 3, 2, 4])
    )


def test_metrics_refuse_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="2 predictions for 3 references"):
        metrics.accuracy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])
    with pytest.raises(ValueError, match="binary"):
        metrics.f1_score([1], [1], average="micro")


# -- entities ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # IOB2
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        # IOB1: I- opens an entity, B- only separates two adjacent entities of one type
        (["I-PER", "I-PER", "B-PER", "O"], [("PER", 0, 1), ("PER", 2, 2)]),
        # an I- after O opens an entity (sloppy IOB2), as conlleval reads it
        (["O", "I-LOC", "I-LOC"], [("LOC", 1, 2)]),
        # a change of type closes one entity and opens another
        (["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),
        # IOBES
        (["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "S-ORG"], [("PER", 0, 0), ("LOC", 1, 3), ("ORG", 5, 5)]),
        # two B- in a row are two entities; an entity may end the sentence
        (["B-ORG", "B-ORG", "O", "B-MISC"], [("ORG", 0, 0), ("ORG", 1, 1), ("MISC", 3, 3)]),
        (["O", "O"], []),
    ],
)
def test_entities_follow_conlleval_chunking(tags, expected):
    assert metrics.entities(tags) == expected


def test_entity_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-MISC"]]
    # predicted entities: PER(0,0) LOC(3,3) ORG(0,0) MISC(1,1); gold: PER(0,1) LOC(3,3) ORG(0,0)
    scores = metrics.entity_scores(predicted, gold)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert scores["f1_PER"] == 0.0 and scores["f1_LOC"] == 1.0 and scores["f1_MISC"] == 0.0


def test_entity_scores_refuse_sentences_of_different_length():
    with pytest.raises(ValueError, match=r"predictions\[0\] has 1 tags for the 2 words of references\[0\]"):
        metrics.entity_scores([["O"]], [["O", "O"]])


def test_entity_scores_match_the_seqeval_library_on_random_tags():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = random.Random(1)
    vocabulary = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-ORG", "I-ORG"]
    gold = [[rng.choice(vocabulary) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    predicted = [[tag if rng.random() < 0.7 else rng.choice(vocabulary) for tag in sentence] for sentence in gold]
    scores = metrics.entity_scores(predicted, gold)
    assert scores["precision"] == pytest.approx(seqeval.precision_score(gold, predicted))
    assert scores["recall"] == pytest.approx(seqeval.recall_score(gold, predicted))
    assert scores["f1"] == pytest.approx(seqeval.f1_score(gold, predicted))


# -- SQuAD ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The  Quick, brown fox!", "quick brown fox"),
        ("an apple", "apple"),
        ("A.B.C.", "abc"),
        ("theater", "theater"),  # articles only as whole words
        ("\tDenmark,\nIceland and Norway ", "denmark iceland and norway"),
    ],
)
def test_squad_normalisation(text, normalised):
    assert metrics.normalize_answer(text) == normalised


def test_squad_exact_match_and_token_f1():
    assert metrics.exact_match("the Eiffel Tower", "Eiffel tower.") == 1.0
    assert metrics.exact_match("Eiffel", "Eiffel Tower") == 0.0
    # prediction (cat, sat), gold (cat, sat, down): precision 1, recall 2/3
    assert metrics.token_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    assert metrics.token_f1("", "") == 1.0 and metrics.token_f1("", "cat") == 0.0


def test_squad_scores_take_the_best_gold_answer_and_handle_no_answer():
    predictions = {"a": "in 1066", "b": "William", "c": "", "d": "Rollo"}
    references = {
        "a": ["1066", "in 1066"],           # exact with the second gold answer
        "b": ["William the Conqueror"],     # "william" vs "william conqueror": precision 1, recall 1/2
        "c": [],                            # unanswerable, answered with "" -> right
        "d": [],                            # unanswerable, answered -> wrong
    }
    scores = metrics.squad_scores(predictions, references)
    assert scores["exact_match"] == pytest.approx(100 * 2 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert scores["has_answer_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert scores["no_answer_exact_match"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no prediction"):
        metrics.squad_scores({}, {"x": ["y"]})
