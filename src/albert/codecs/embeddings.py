"""Embeddings: texts in, one model input per window of each sentence out (the vectors and their
records are the pipeline's, :class:`~albert.pipelines.embeddings.EmbeddingsPipeline`).

A text is cut into sentences (:mod:`albert.sentences`; with ``split_sentences=False`` it is one
sentence, its surrounding whitespace left out); each sentence is ``[CLS] pieces [SEP]``, in
overlapping windows of ``max_length`` when longer (``stride`` pieces shared), so nothing is cut
off: each piece later takes its vector from the window where it sits most centrally. Torch-free:
the service's HTTP side encodes with this and sends the features to the model's process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..encoding_assembly import window_ranges
from ..errors import InputError
from ..sentences import sentence_spans
from .base import Encoded, build_inputs
from .texts import Pieces, encode_pieces
from .windows import most_central_window


class UnreadableTextError(InputError):
    """A text holds no piece the tokenizer can read (only control characters, say).

    ``index`` is its position among the texts of the call, so a caller embedding many texts
    (a Spark partition) can leave it out and go on.
    """

    def __init__(self, index: int, text: str) -> None:
        super().__init__(f"inputs[{index}] has no pieces the tokenizer can read: {text[:60]!r}")
        self.index = index


@dataclass
class Sentence:
    """One sentence of a document: its pieces (spans in the document, words numbered through
    it), and, once the model has run, its pieces' vectors or their pooled forms."""

    start: int
    end: int
    piece_ids: list[int]
    piece_spans: list[tuple[int, int]]  # in the document
    word_ids: list[int]  # numbered within the document
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (pieces, H); word, piece levels
    cls_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (windows, H)
    # Sentence and document levels: the pieces' vectors pooled on the device, not the vectors.
    piece_sum: np.ndarray | None = None  # (H,) sum over the pieces ("mean" pooling)
    piece_max: np.ndarray | None = None  # (H,) maximum over the pieces ("max" pooling)
    pooled: np.ndarray | None = None  # (dimension,) text level: the whole input pooled, cut and normalised


@dataclass
class DocumentWindows:
    """What reading a text's vectors back needs: its sentences, and for each feature the sentence
    it belongs to (``owners``, an index into ``sentences``) and the rows ``(first, past last)`` of
    the pieces it gives vectors for (``owned``)."""

    sentences: list[Sentence]
    owners: list[int]
    owned: list[tuple[int, int]]


@dataclass(frozen=True)
class EmbeddingsCodec:
    """Texts to windows of ``[CLS] sentence pieces [SEP]``, one :class:`Encoded` per text.

    Args:
        max_length: the window, [CLS] and [SEP] included.
        split_sentences: a model input per sentence (else the whole text is one sentence).
        with_spans: keep each piece's character span and word (piece and word vectors need them;
            sentence and document vectors do not, and aligning costs more than tokenizing).
        stride: pieces shared by consecutive windows (default: half a window).
        truncate: one window per sentence, its pieces past the window cut off (and the example
            marked ``truncated``), as sentence-transformers cuts a text: the text level.
    """

    tokenizer: Any
    max_length: int
    split_sentences: bool = True
    with_spans: bool = True
    stride: int | None = None
    truncate: bool = False

    def encode(self, texts: Sequence[str], pieces: Sequence[Pieces] | None = None) -> list[Encoded]:
        """One :class:`Encoded` per text, a feature per window of each sentence, a
        :class:`DocumentWindows` as its meta.

        Args:
            pieces: each whole text's pieces as :func:`encode_pieces` gives them (with spans when
                ``with_spans``), when the caller has them: a text that is one sentence from its
                first character to its last is then not tokenized again.

        Raises:
            UnreadableTextError: a text has no piece the tokenizer can read.
        """
        spans_per_text = [
            sentence_spans(text) if self.split_sentences else [_strip_span(text)] for text in texts
        ]
        flat = [(index, start, end) for index, spans in enumerate(spans_per_text) for start, end in spans]
        known = {
            index: pieces[index] for index, spans in enumerate(spans_per_text)
            if pieces is not None and spans == [(0, len(texts[index]))]
        }  # fmt: skip
        unknown = [(index, start, end) for index, start, end in flat if index not in known]
        read = iter(encode_pieces(self.tokenizer, [texts[index][start:end] for index, start, end in unknown],
                                  with_spans=self.with_spans))  # fmt: skip
        documents: list[list[Sentence]] = [[] for _ in texts]
        next_word = [0] * len(texts)  # words are numbered through each document
        for index, start, end in flat:
            sentence_pieces = known[index] if index in known else next(read)
            if not len(sentence_pieces):
                continue  # nothing the vocabulary can read (e.g. only control characters)
            sentence = Sentence(start=start, end=end, piece_ids=sentence_pieces.ids, piece_spans=[], word_ids=[])
            if self.with_spans:
                sentence.piece_spans = [(start + a, start + b) for a, b in sentence_pieces.spans]
                sentence.word_ids = _dense_words(sentence_pieces.word_ids, first=next_word[index])
                next_word[index] = 1 + max(sentence.word_ids, default=next_word[index] - 1)
            documents[index].append(sentence)
        for index, sentences in enumerate(documents):
            if not sentences:
                raise UnreadableTextError(index, texts[index])
        return [self._windows(sentences) for sentences in documents]

    def _windows(self, sentences: list[Sentence]) -> Encoded:
        """One text's sentences as features, each window's own rows noted."""
        window = self.max_length - 2  # room for [CLS] and [SEP]
        stride = self.stride if self.stride is not None else window // 2
        meta = DocumentWindows(sentences, [], [])
        features = []
        if self.truncate:
            for number, sentence in enumerate(sentences):
                features.append(build_inputs(self.tokenizer, sentence.piece_ids[:window]))
                meta.owners.append(number)
                meta.owned.append((1, 1 + min(window, len(sentence.piece_ids))))
            return Encoded(features, meta, truncated=any(len(s.piece_ids) > window for s in sentences))
        for number, sentence in enumerate(sentences):
            ranges = window_ranges(len(sentence.piece_ids), window, stride)
            for (start, end), rows in zip(ranges, owned_rows(ranges, len(sentence.piece_ids))):
                features.append(build_inputs(self.tokenizer, sentence.piece_ids[start:end]))
                meta.owners.append(number)
                meta.owned.append(rows)
        return Encoded(features, meta)


def owned_rows(ranges: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """For each window, the rows ``(first, past last)`` of the pieces it gives vectors for: every
    piece is taken from the window where it sits most centrally (row 0 of a window is [CLS]).
    Those rows are contiguous, as windows are sorted and of equal size."""
    if len(ranges) == 1:
        return [(1, length + 1)]
    owned: list[list[int]] = [[] for _ in ranges]
    for which, position in most_central_window(ranges, length):
        owned[which].append(position + 1)
    rows = []
    for positions in owned:
        if positions and positions[-1] - positions[0] + 1 != len(positions):  # pragma: no cover - a broken invariant
            # a bug, not a user's error
            raise AssertionError(f"a window's own pieces are not contiguous: {positions}")
        rows.append((positions[0], positions[-1] + 1) if positions else (1, 1))
    return rows


def _dense_words(word_ids: list[int], first: int = 0) -> list[int]:
    """Renumber a sentence's word ids ``first``, ``first + 1``, ... in order of appearance."""
    numbering: dict[int, int] = {}
    return [first + numbering.setdefault(word, len(numbering)) for word in word_ids]


def _strip_span(text: str) -> tuple[int, int]:
    stripped = text.lstrip()
    start = len(text) - len(stripped)
    return start, start + len(stripped.rstrip())
