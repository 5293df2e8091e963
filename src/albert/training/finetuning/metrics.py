"""Evaluation metrics of the fine-tuning tasks, in plain NumPy, each computed the way it is reported.

* classification: accuracy, F1 (binary or macro), Matthews correlation (GLUE's CoLA metric);
* regression: Pearson and Spearman correlation (STS-B);
* tagging: entity-level precision, recall and F1 with the chunking rules of the CoNLL ``conlleval``
  script, which the ``seqeval`` library's default mode reproduces: an entity is a maximal run
  of tags of one type, started by ``B-``/``S-`` or by a change of type, so IOB1, IOB2, IOE and
  IOBES all read correctly without being told which scheme a file uses;
* sentence embeddings: retrieval of each query's own document among all documents (recall@k and
  MRR@10, as sentence-transformers' InformationRetrievalEvaluator reports them), Spearman on
  scored pairs;
* question answering: SQuAD exact match and F1 over answer tokens after the official script's
  normalisation (lowercase, no punctuation, no articles a/an/the, single spaces), the best over
  the gold answers; for SQuAD 2.0 an unanswerable question is answered by the empty string.

Scores are fractions in [0, 1], except SQuAD's, which are percentages like the official script's.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Hashable, Mapping, Sequence, Sized
from typing import TypeAlias

import numpy as np

from ...errors import InputError, OptionError

#: Scores or labels as numbers: a list from the caller, or the array of ranks that `spearman` passes on.
Numbers: TypeAlias = "Sequence[float] | np.ndarray"

# -- classification -------------------------------------------------------------------------------


def _check_same_length(predictions: Sized, references: Sized) -> None:
    if len(predictions) != len(references):
        raise InputError(f"got {len(predictions)} predictions for {len(references)} references; give one per reference")
    if not len(references):
        raise InputError("no references to score: the evaluation set is empty")


def accuracy(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> float:
    """The share of predictions equal to their reference."""
    _check_same_length(predictions, references)
    return float(np.mean([p == r for p, r in zip(predictions, references)]))


def _binary_f1(predictions: Sequence[Hashable], references: Sequence[Hashable], positive: Hashable) -> float:
    true_positive = sum(p == positive and r == positive for p, r in zip(predictions, references))
    predicted = sum(p == positive for p in predictions)
    actual = sum(r == positive for r in references)
    if predicted + actual == 0:
        return 0.0
    return 2.0 * true_positive / (predicted + actual)


def f1_score(
    predictions: Sequence[Hashable],
    references: Sequence[Hashable],
    average: str = "binary",
    positive_label: Hashable = 1,
) -> float:
    """F1 of the ``positive_label`` class (``average="binary"``, GLUE's MRPC/QQP F1) or the
    unweighted mean of every class's F1 (``"macro"``; classes seen in the references or the
    predictions). A class never predicted and never present scores 0, as scikit-learn's does.

    Raises:
        OptionError: unknown ``average``. InputError: lengths that differ, or nothing to score.
    """
    _check_same_length(predictions, references)
    if average == "binary":
        return float(_binary_f1(predictions, references, positive_label))
    if average == "macro":
        classes = sorted(set(references) | set(predictions), key=str)
        return float(np.mean([_binary_f1(predictions, references, label) for label in classes]))
    raise OptionError(f"average must be 'binary' or 'macro', got {average!r}")


def matthews_corrcoef(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> float:
    """Matthews correlation coefficient, for any number of classes (Gorodkin's R_K); 0 when
    either side holds a single class (the correlation is undefined there)."""
    _check_same_length(predictions, references)
    classes = sorted(set(references) | set(predictions), key=str)
    index = {label: position for position, label in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)  # (reference, prediction)
    for p, r in zip(predictions, references):
        confusion[index[r], index[p]] += 1
    total = confusion.sum()
    correct = np.trace(confusion)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    numerator = correct * total - predicted @ actual
    denominator = np.sqrt(total**2 - predicted @ predicted) * np.sqrt(total**2 - actual @ actual)
    return float(numerator / denominator) if denominator else 0.0


# -- regression -----------------------------------------------------------------------------------


def pearson(predictions: Numbers, references: Numbers) -> float:
    """Pearson's r; 0 when either side is constant (the correlation is undefined there)."""
    _check_same_length(predictions, references)
    x = np.asarray(predictions, dtype=np.float64) - np.mean(predictions)
    y = np.asarray(references, dtype=np.float64) - np.mean(references)
    scale = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / scale) if scale else 0.0


def rank(values: Numbers) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of the ranks they span (as Spearman's rho needs)."""
    array = np.asarray(values, dtype=np.float64)
    order = np.argsort(array, kind="stable")
    ranks = np.empty(len(array), dtype=np.float64)
    sorted_values = array[order]
    start = 0
    while start < len(array):
        end = start
        while end + 1 < len(array) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(predictions: Sequence[float], references: Sequence[float]) -> float:
    """Spearman's rho: Pearson's r of the ranks (ties averaged)."""
    _check_same_length(predictions, references)
    return pearson(rank(predictions), rank(references))


# -- retrieval (sentence embeddings) --------------------------------------------------------------


def target_ranks(similarities: np.ndarray, targets: Sequence[int] | None = None) -> np.ndarray:
    """The rank (1 = first) of each query's own document in its row of a ``(queries, documents)``
    similarity matrix: document ``targets[i]`` for query ``i`` (default: document ``i``). Ties
    count against the query: a document as similar as the target ranks before it, so vectors that
    cannot tell texts apart score 0 (give a text that is several queries' document one column, as
    :func:`unique_documents` does, or its copies tie)."""
    similarities = np.asarray(similarities, dtype=np.float64)
    queries = similarities.shape[0] if similarities.ndim == 2 else 0
    if similarities.ndim != 2 or (targets is None and similarities.shape[1] < queries):
        raise InputError(f"expected a (queries, documents) matrix with a document per query, got {similarities.shape}")
    if not queries:
        raise InputError("no queries to score: the evaluation set is empty")
    columns = np.arange(queries) if targets is None else np.asarray(targets, dtype=np.int64)
    if columns.shape != (queries,) or columns.min() < 0 or columns.max() >= similarities.shape[1]:
        raise InputError(f"expected one document column in [0, {similarities.shape[1]}) per query, got {columns.shape[0]} targets")
    own = similarities[np.arange(queries), columns]
    return (similarities >= own[:, None]).sum(axis=1)


def unique_documents(texts: Sequence[str]) -> tuple[list[int], list[int]]:
    """Each distinct text once: ``(columns, targets)``, the index of each distinct text's first
    occurrence and, for each text, the column of its copy. A held-out set where one sentence is the
    positive of two pairs (MRPC has such) then has one document, not two that tie."""
    first: dict[str, int] = {}
    columns: list[int] = []
    targets: list[int] = []
    for index, text in enumerate(texts):
        if text not in first:
            first[text] = len(columns)
            columns.append(index)
        targets.append(first[text])
    return columns, targets


def retrieval_scores(similarities: np.ndarray, cutoffs: Sequence[int] = (1, 10), mrr_cutoff: int = 10,
                     targets: Sequence[int] | None = None) -> dict[str, float]:
    """``recall@k`` (the share of queries whose own document is in the first k) for each cutoff and
    ``mrr@10`` (the mean of 1/rank, 0 past the cutoff) of :func:`target_ranks`."""
    ranks = target_ranks(similarities, targets)
    scores = {f"recall@{k}": float(np.mean(ranks <= k)) for k in cutoffs}
    scores[f"mrr@{mrr_cutoff}"] = float(np.mean(np.where(ranks <= mrr_cutoff, 1.0 / ranks, 0.0)))
    return scores


# -- entities (tagging) ---------------------------------------------------------------------------

Entity = tuple[str, int, int]  # (type, first token, last token), both inclusive


def _split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") from "B-PER"; ("O", "_") from "O"; a tag without a type ("B") gets the type
    "_", as seqeval names it."""
    if tag in ("O", ""):
        return "O", "_"
    prefix, _, kind = tag.partition("-")
    return prefix, kind or "_"


def _ends_before(previous: str, previous_type: str, current: str, current_type: str) -> bool:
    """Whether the entity open at the previous token closes before the current one (conlleval)."""
    if previous in ("E", "S"):
        return True
    if previous in ("B", "I") and current in ("B", "S", "O"):
        return True
    return previous != "O" and previous_type != current_type


def _starts_at(previous: str, previous_type: str, current: str, current_type: str) -> bool:
    """Whether an entity starts at the current token (conlleval): at B-/S-, at an I-/E- that
    follows O or a closed entity (IOB1 and sloppy IOB2), or where the type changes."""
    if current in ("B", "S"):
        return True
    if current in ("I", "E") and previous in ("E", "S", "O"):
        return True
    return current != "O" and previous_type != current_type


def entities(tags: Sequence[str]) -> list[Entity]:
    """The entities of one tag sequence, as ``(type, first, last)`` token positions.

    >>> entities(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    """
    found: list[Entity] = []
    previous, previous_type, start = "O", "_", None
    for position, tag in enumerate([*tags, "O"]):  # a closing "O" ends an entity at the end
        current, current_type = _split_tag(tag)
        if start is not None and _ends_before(previous, previous_type, current, current_type):
            found.append((previous_type, start, position - 1))
            start = None
        if _starts_at(previous, previous_type, current, current_type):
            start = position
        previous, previous_type = current, current_type
    return found


def entity_scores(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 over sentences (micro-averaged over entities), plus
    per-type F1 as ``f1_<TYPE>``: an entity counts as found only with the same type and exactly
    the same first and last token.

    Raises:
        InputError: a sentence's predicted and gold tags differ in length.
    """
    _check_same_length(predictions, references)
    correct: collections.Counter[str] = collections.Counter()
    predicted_count: collections.Counter[str] = collections.Counter()
    gold_count: collections.Counter[str] = collections.Counter()
    for number, (predicted, gold) in enumerate(zip(predictions, references)):
        if len(predicted) != len(gold):
            raise InputError(
                f"predictions[{number}] has {len(predicted)} tags for the {len(gold)} words of references[{number}]"
            )
        predicted_entities, gold_entities = set(entities(predicted)), set(entities(gold))
        for kind, *_ in predicted_entities:
            predicted_count[kind] += 1
        for kind, *_ in gold_entities:
            gold_count[kind] += 1
        for kind, *_ in predicted_entities & gold_entities:
            correct[kind] += 1
    scores = _precision_recall_f1(sum(correct.values()), sum(predicted_count.values()), sum(gold_count.values()))
    for kind in sorted(set(gold_count) | set(predicted_count)):
        scores[f"f1_{kind}"] = _precision_recall_f1(correct[kind], predicted_count[kind], gold_count[kind])["f1"]
    return scores


def _precision_recall_f1(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# -- question answering ---------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official SQuAD normalisation: lowercase, drop punctuation, drop the articles a/an/the,
    collapse whitespace."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised answers are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 over the normalised answers' words (bags, so repeated words count as often as they
    occur); two empty answers agree (1.0), an empty and a non-empty one do not (0.0)."""
    predicted_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not predicted_tokens or not gold_tokens:
        return float(predicted_tokens == gold_tokens)
    common = sum((collections.Counter(predicted_tokens) & collections.Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD ``exact_match`` and ``f1`` (percentages), each the best over a question's gold
    answers; a question without gold answers (SQuAD 2.0) expects the empty answer. With
    unanswerable questions present, ``has_answer_*`` and ``no_answer_*`` split the scores.

    Args:
        predictions: question id -> predicted answer text ("" for no answer).
        references: question id -> gold answer texts (empty for unanswerable).

    Raises:
        InputError: a question without a prediction.
    """
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise InputError(f"{len(missing)} questions have no prediction (first: {missing[0]!r})")
    if not references:
        raise InputError("no questions to score: the evaluation set is empty")
    exact, f1, answerable = {}, {}, {}
    for qid, golds in references.items():
        golds = [gold for gold in golds if normalize_answer(gold)] or [""]
        answerable[qid] = golds != [""]
        exact[qid] = max(exact_match(predictions[qid], gold) for gold in golds)
        f1[qid] = max(token_f1(predictions[qid], gold) for gold in golds)
    scores: dict[str, float] = {
        "exact_match": 100.0 * float(np.mean(list(exact.values()))),
        "f1": 100.0 * float(np.mean(list(f1.values()))),
    }
    if not all(answerable.values()):
        for name, keep in (("has_answer", True), ("no_answer", False)):
            ids = [qid for qid, value in answerable.items() if value == keep]
            if ids:
                scores[f"{name}_exact_match"] = 100.0 * float(np.mean([exact[qid] for qid in ids]))
                scores[f"{name}_f1"] = 100.0 * float(np.mean([f1[qid] for qid in ids]))
                scores[f"{name}_count"] = float(len(ids))
    return {key: float(value) for key, value in scores.items()}
