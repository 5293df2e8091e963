"""Token classification (named entities and other tags): labels for words, with character spans.

The aggregation strategies mean what they mean in transformers' TokenClassificationPipeline:

* ``none``: one result per piece;
* ``simple``: pieces labelled alike (``B-X`` then ``I-X``...) are grouped into entities;
* ``first`` / ``average`` / ``max``: each word first takes one label (from its first piece, the
  average of its pieces' scores, or its most confident piece), then words are grouped.

Words are the tokenizer's whitespace words (its ``word_ids``). Long texts are labelled in
overlapping windows; each piece takes its scores from the window where it is most central.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import OptionError
from ..modeling import AlbertForTokenClassification
from .base import (
    Pipeline,
    as_list,
    build_inputs,
    check_texts,
    encode_pieces,
    most_central_window,
    window_ranges,
)

STRATEGIES = ("none", "simple", "first", "average", "max")


@dataclass
class _Piece:
    """One piece before aggregation: its label scores and where it is."""

    scores: np.ndarray  # (num_labels,) probabilities
    start: int
    end: int
    index: int  # position in the model input, [CLS] being 0
    starts_word: bool


class TokenClassificationPipeline(Pipeline):
    """Label the words of texts with an ``AlbertForTokenClassification`` model.

    Args:
        aggregation_strategy: "none" (default), "simple", "first", "average" or "max".
        ignore_labels: labels left out of the results (default ``["O"]``).
        stride: pieces shared by consecutive windows of a long text (default: half a window).
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "token-classification"
    model_class = AlbertForTokenClassification

    def __init__(
        self,
        *args: Any,
        aggregation_strategy: str = "none",
        ignore_labels: Sequence[str] | None = None,
        stride: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.aggregation_strategy = aggregation_strategy
        self.ignore_labels = list(ignore_labels) if ignore_labels is not None else ["O"]
        self.stride = stride

    def __call__(
        self,
        inputs: str | Sequence[str],
        *,
        aggregation_strategy: str | None = None,
        ignore_labels: Sequence[str] | None = None,
    ) -> list:
        """Label one text or a list of texts.

        Returns:
            For each text a list of entities in text order. With ``none`` each is
            ``{"entity", "score", "index", "word", "start", "end"}`` (``index`` is the piece's
            position in the model input); otherwise ``{"entity_group", "score", "word", "start",
            "end"}``. ``word`` is the text's own characters ``text[start:end]``.

        Raises:
            InputError: an empty text. OptionError: an unknown strategy.
        """
        strategy = (aggregation_strategy or self.aggregation_strategy).lower()
        if strategy not in STRATEGIES:
            raise OptionError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        ignored = set(self.ignore_labels if ignore_labels is None else ignore_labels)
        texts, single = as_list(inputs)
        check_texts(texts)

        window = self.max_length - 2
        stride = self.stride if self.stride is not None else window // 2
        all_pieces = encode_pieces(self.tokenizer, texts)
        features, owners, ranges_per_text = [], [], []
        for index, pieces in enumerate(all_pieces):
            ranges = window_ranges(len(pieces), window, stride)
            ranges_per_text.append(ranges)
            for start, end in ranges:
                features.append(build_inputs(self.tokenizer, pieces.ids[start:end]))
                owners.append(index)
        outputs = self.run(features, lambda output, batch: {"logits": output.logits})
        windows_per_text: list[list[np.ndarray]] = [[] for _ in texts]
        for owner, output in zip(owners, outputs):
            windows_per_text[owner].append(output["logits"])

        results = []
        for text, pieces, ranges, window_logits in zip(texts, all_pieces, ranges_per_text, windows_per_text):
            logits = np.zeros((0, self.config.num_labels), np.float32)
            if len(pieces):  # row 0 of a window is [CLS]; its pieces start at row 1
                choice = most_central_window(ranges, len(pieces))
                logits = np.stack([window_logits[which][position + 1] for which, position in choice])
            scored = [
                _Piece(
                    scores=probabilities,
                    start=pieces.spans[i][0],
                    end=pieces.spans[i][1],
                    index=i + 1,
                    # An unknown piece is its own word, as in transformers.
                    starts_word=i == 0
                    or pieces.word_ids[i] != pieces.word_ids[i - 1]
                    or pieces.ids[i] == self.tokenizer.unk_token_id,
                )
                for i, probabilities in enumerate(_softmax(logits))
            ]
            entities = self._aggregate(text, scored, strategy)
            results.append([e for e in entities if e.get("entity", e.get("entity_group")) not in ignored])
        return results[0] if single else results

    # -- aggregation ----------------------------------------------------------------------------
    def _label(self, index: int) -> str:
        return self.config.id2label.get(int(index), f"LABEL_{index}")

    def _aggregate(self, text: str, pieces: list[_Piece], strategy: str) -> list[dict[str, Any]]:
        if strategy in ("none", "simple"):
            entities = [
                {
                    "entity": self._label(piece.scores.argmax()),
                    "score": float(piece.scores.max()),
                    "index": piece.index,
                    "word": text[piece.start : piece.end],
                    "start": piece.start,
                    "end": piece.end,
                }
                for piece in pieces
            ]
        else:
            entities = [self._word_entity(text, word, strategy) for word in _words(pieces)]
        return entities if strategy == "none" else _group(text, entities)

    def _word_entity(self, text: str, word: list[_Piece], strategy: str) -> dict[str, Any]:
        """One label for a word's pieces: from its first piece, its average, or its surest piece."""
        if strategy == "first":
            scores = word[0].scores
        elif strategy == "max":
            scores = max(word, key=lambda piece: piece.scores.max()).scores
        else:
            scores = np.nanmean(np.stack([piece.scores for piece in word]), axis=0)
        best = int(scores.argmax())
        start, end = word[0].start, word[-1].end
        return {
            "entity": self._label(best),
            "score": float(scores[best]),
            "word": text[start:end],
            "start": start,
            "end": end,
        }


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _words(pieces: list[_Piece]) -> list[list[_Piece]]:
    words: list[list[_Piece]] = []
    for piece in pieces:
        if piece.starts_word or not words:
            words.append([piece])
        else:
            words[-1].append(piece)
    return words


def _tag(label: str) -> tuple[str, str]:
    """``("B" or "I", entity type)``; a label without a B-/I- prefix continues like I-."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def _group(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge neighbours of the same type into one entity unless the next one says B- (begin)."""
    groups: list[list[dict[str, Any]]] = []
    for entity in entities:
        position, kind = _tag(entity["entity"])
        if groups and position != "B" and kind == _tag(groups[-1][-1]["entity"])[1]:
            groups[-1].append(entity)
        else:
            groups.append([entity])
    merged = []
    for group in groups:
        start, end = group[0]["start"], group[-1]["end"]
        merged.append({
            "entity_group": _tag(group[0]["entity"])[1],
            "score": float(np.nanmean([entity["score"] for entity in group])),
            "word": text[start:end],
            "start": start,
            "end": end,
        })  # fmt: skip
    return merged
