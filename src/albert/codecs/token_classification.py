"""Token classification (named entities and other tags): a text in, labelled words with spans out.

A text is read in overlapping windows of ``max_length`` (``stride`` pieces shared); each piece
takes its scores from the window where it is most central. Fine-tuning's examples come as words
with a tag each: they are encoded with the same tokenizer, cut at ``max_length``, each word
labelled at its first piece (:meth:`TokenClassificationCodec.encode_words`).

The aggregation strategies mean what they mean in transformers' TokenClassificationPipeline:

* ``none``: one result per piece;
* ``simple``: pieces labelled alike (``B-X`` then ``I-X``...) are grouped into entities;
* ``first`` / ``average`` / ``max``: each word first takes one label (from its first piece, the
  average of its pieces' scores, or its most confident piece), then words are grouped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..encoding_assembly import window_ranges
from ..pipeline_options import STRATEGIES as STRATEGIES  # the option's names, declared there
from .base import Encoded, build_inputs
from .texts import Pieces, encode_pieces
from .windows import most_central_window

#: The label of a position the loss ignores (pieces after a word's first, special tokens).
IGNORE_INDEX = -100


@dataclass
class TextWindows:
    """What decoding a text needs: its pieces and the windows ``(start, end)`` they were read in."""

    pieces: Pieces
    ranges: list[tuple[int, int]]


@dataclass
class _Piece:
    """One piece before aggregation: its label scores and where it is."""

    scores: np.ndarray  # (num_labels,) probabilities
    start: int
    end: int
    index: int  # position in the model input, [CLS] being 0
    starts_word: bool


@dataclass(frozen=True)
class TokenClassificationCodec:
    """Texts to windows of ``[CLS] pieces [SEP]``; the windows' logits to labelled words.

    ``stride``: pieces shared by consecutive windows (default: half a window).
    """

    tokenizer: Any
    max_length: int
    stride: int | None = None

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """One :class:`Encoded` per text: a feature per window, :class:`TextWindows` as its meta."""
        window = self.max_length - 2
        stride = self.stride if self.stride is not None else window // 2
        encoded = []
        for pieces in encode_pieces(self.tokenizer, texts):
            ranges = window_ranges(len(pieces), window, stride)
            features = [build_inputs(self.tokenizer, pieces.ids[start:end]) for start, end in ranges]
            encoded.append(Encoded(features, TextWindows(pieces, ranges)))
        return encoded

    def encode_words(
        self, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str] | None] | None = None,
        label2id: Mapping[str, int] | None = None,
    ) -> list[Encoded]:  # fmt: skip
        """Sentences given as words (fine-tuning's examples), each cut at ``max_length``; ``meta`` is
        each word's first piece position (None when cut off), and with ``tags`` the feature holds
        ``labels``: each word's tag id at its first piece, :data:`IGNORE_INDEX` elsewhere."""
        if not sentences:
            return []
        encoding = self.tokenizer([list(words) for words in sentences], is_split_into_words=True, truncation=True,
                                  max_length=self.max_length)  # fmt: skip
        encoded = []
        for index, words in enumerate(sentences):
            word_ids = encoding.word_ids(index)
            first_piece: list[int | None] = [None] * len(words)
            for position, word in enumerate(word_ids):
                if word is not None and first_piece[word] is None:
                    first_piece[word] = position
            feature: dict[str, Any] = {"input_ids": encoding["input_ids"][index],
                                       "token_type_ids": encoding["token_type_ids"][index]}  # fmt: skip
            example_tags = tags[index] if tags is not None else None
            if example_tags is not None:
                labels = [IGNORE_INDEX] * len(word_ids)
                for word, first in enumerate(first_piece):
                    if first is not None:
                        labels[first] = (label2id or {})[example_tags[word]]
                feature["labels"] = labels
            encoded.append(Encoded([feature], first_piece, truncated=None in first_piece))
        return encoded

    @staticmethod
    def word_tags(
        first_pieces: Sequence[int | None], tag_ids: np.ndarray, id2label: Mapping[int, str]
    ) -> list[str]:
        """A tag per word from the tag ids of its feature's positions (``"O"`` for a word cut off)."""
        return ["O" if position is None else id2label[int(tag_ids[position])] for position in first_pieces]

    def decode(
        self, text: str, encoded: Encoded, window_logits: Sequence[np.ndarray], id2label: Mapping[int, str],
        strategy: str = "none", ignored: frozenset[str] | set[str] = frozenset(),
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The entities of ``text`` from its windows' logits (each ``(window, num_labels)``), in text
        order, those labelled as in ``ignored`` left out (see :class:`TokenClassificationPipeline`'s
        ``__call__`` for the records)."""
        meta: TextWindows = encoded.meta
        pieces = meta.pieces
        logits = np.zeros((0, len(id2label) or 1), np.float32)
        if len(pieces):  # row 0 of a window is [CLS]; its pieces start at row 1
            choice = most_central_window(meta.ranges, len(pieces))
            logits = np.stack([window_logits[which][position + 1] for which, position in choice])
        unknown = self.tokenizer.unk_token_id
        scored = [
            _Piece(
                scores=probabilities, start=pieces.spans[i][0], end=pieces.spans[i][1], index=i + 1,
                # An unknown piece is its own word, as in transformers.
                starts_word=i == 0 or pieces.word_ids[i] != pieces.word_ids[i - 1] or pieces.ids[i] == unknown,
            )
            for i, probabilities in enumerate(_softmax(logits))
        ]  # fmt: skip
        entities = _aggregate(text, scored, strategy, id2label)
        return [
            entity for entity in entities if entity.get("entity", entity.get("entity_group")) not in ignored
        ]


# -- aggregation ------------------------------------------------------------------------------------


def _label(index: int, id2label: Mapping[int, str]) -> str:
    return id2label.get(int(index), f"LABEL_{index}")


def _aggregate(
    text: str, pieces: list[_Piece], strategy: str, id2label: Mapping[int, str]
) -> list[dict[str, Any]]:
    if strategy in ("none", "simple"):
        entities = [
            {"entity": _label(int(piece.scores.argmax()), id2label), "score": float(piece.scores.max()),
             "index": piece.index, "word": text[piece.start : piece.end], "start": piece.start, "end": piece.end}
            for piece in pieces
        ]  # fmt: skip
    else:
        entities = [_word_entity(text, word, strategy, id2label) for word in _words(pieces)]
    return entities if strategy == "none" else _group(text, entities)


def _word_entity(text: str, word: list[_Piece], strategy: str, id2label: Mapping[int, str]) -> dict[str, Any]:
    """One label for a word's pieces: from its first piece, its average, or its surest piece."""
    if strategy == "first":
        scores = word[0].scores
    elif strategy == "max":
        scores = max(word, key=lambda piece: piece.scores.max()).scores
    else:
        scores = np.nanmean(np.stack([piece.scores for piece in word]), axis=0)
    best = int(scores.argmax())
    start, end = word[0].start, word[-1].end
    return {"entity": _label(best, id2label), "score": float(scores[best]), "word": text[start:end],
            "start": start, "end": end}  # fmt: skip


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
