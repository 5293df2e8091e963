"""Extractive question answering: a question and its context in, spans of the context out.

A question is cut to ``max_question_length`` pieces; its context is read in windows of what the
window leaves (``[CLS] question [SEP] context [SEP]``), consecutive windows sharing ``doc_stride``
pieces, as in the SQuAD recipe and transformers' ``truncation="only_second"`` with a stride.
In each window the start and end scores are turned into probabilities over the context pieces
(and [CLS]); a span's score is p(start) * p(end), for spans of at most ``max_answer_len``
pieces. With ``handle_impossible_answer`` the "no answer" of SQuAD 2.0 (the [CLS] position,
scored by its lowest value over the windows) competes with the spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..encoding_assembly import window_ranges
from ..errors import OptionError
from .base import Encoded, build_inputs
from .texts import encode_pieces

Answer = dict[str, Any]
#: The stride a window of the context takes by default, at most (the SQuAD recipe's).
DEFAULT_STRIDE = 128
#: The window, special tokens included, when none is asked for (the SQuAD recipe's), or the
#: model's own when that is shorter: :meth:`QuestionAnsweringCodec.for_model`.
DEFAULT_WINDOW = 384


@dataclass
class ContextWindow:
    """One window of a context: its pieces ``start:end``, the input position of its first piece
    (``offset``), and each of its pieces' character span in the context."""

    start: int
    end: int
    offset: int
    spans: list[tuple[int, int]]


@dataclass(frozen=True)
class QuestionAnsweringCodec:
    """Questions and contexts to windows of ``[CLS] question [SEP] context [SEP]``; the windows'
    start and end scores to answers.

    Args:
        max_length: the window, special tokens included.
        max_question_length: a question is cut to this many pieces.
        doc_stride: context pieces shared by consecutive windows; None: half of what a window leaves
            for the context, at most ``stride_limit``.
    """

    tokenizer: Any
    max_length: int
    max_question_length: int = 64
    doc_stride: int | None = None
    stride_limit: int = DEFAULT_STRIDE

    @classmethod
    def for_model(cls, tokenizer: Any, model_window: int, max_seq_len: int | None = None,
                  max_question_length: int = 64, doc_stride: int | None = None) -> QuestionAnsweringCodec:  # fmt: skip
        """The codec for a model whose window is ``model_window``: windows of ``max_seq_len``, by
        default :data:`DEFAULT_WINDOW` or the model's window when shorter (the one rule the
        pipeline, the service and the Spark stages read windows by).

        Raises:
            OptionError: ``max_seq_len`` longer than the model's window.
        """
        window = max_seq_len or min(DEFAULT_WINDOW, model_window)
        if window > model_window:
            raise OptionError(f"max_seq_len ({window}) is longer than the model's window ({model_window})")
        return cls(tokenizer, window, max_question_length, doc_stride)

    @staticmethod
    def counted_tokens(encoded: Encoded) -> int:
        """The real tokens of a question and its context as this codec cuts them: ``[CLS] question
        [SEP] context [SEP]`` with the question cut to ``max_question_length`` and each context piece
        counted once, however many windows hold it (what a service counts as the input's size)."""
        windows: list[ContextWindow] = encoded.meta
        question_length = windows[0].offset - 2  # a window's context starts after [CLS] question [SEP]
        return question_length + max(window.end for window in windows) + 3

    def encode(self, questions: Sequence[str], contexts: Sequence[str]) -> list[Encoded]:
        """One :class:`Encoded` per question: a feature per window, a :class:`ContextWindow` each as meta.

        Raises:
            OptionError: a question that leaves no room for its context, or a ``doc_stride`` that
                does not fit the room left.
        """
        asked = encode_pieces(self.tokenizer, questions, with_spans=False)
        read = encode_pieces(self.tokenizer, contexts)
        encoded = []
        for question, context in zip(asked, read):
            question_ids = question.ids[: self.max_question_length]
            features, windows = [], []
            for start, end in self.context_windows(len(question_ids), len(context)):
                features.append(build_inputs(self.tokenizer, question_ids, context.ids[start:end]))
                # Context piece k of this window sits at input position offset + k.
                windows.append(ContextWindow(start, end, len(question_ids) + 2, context.spans[start:end]))
            encoded.append(Encoded(features, windows))
        return encoded

    def context_windows(self, question_length: int, context_length: int) -> list[tuple[int, int]]:
        """The windows ``(start, end)`` of a context's pieces next to a question of ``question_length``.

        Raises:
            OptionError: no room for the context, or ``doc_stride`` not below the room.
        """
        room = self.max_length - question_length - 3  # [CLS] question [SEP] context [SEP]
        if room < 1:
            raise OptionError(
                f"the question ({question_length} pieces) leaves no room for the context in a window of "
                f"{self.max_length}; shorten the question or lower max_question_len"
            )
        stride = self.doc_stride if self.doc_stride is not None else min(self.stride_limit, room // 2)
        if stride >= room:
            raise OptionError(
                f"doc_stride ({stride}) must be smaller than the context's room in a window ({room} pieces); "
                f"pass a doc_stride below {room}"
            )
        return window_ranges(context_length, room, stride)

    @staticmethod
    def decode(
        context: str, encoded: Encoded, outputs: Sequence[tuple[np.ndarray, np.ndarray]], *, top_k: int = 1,
        max_answer_len: int = 15, handle_impossible_answer: bool = False,
    ) -> list[Answer]:  # fmt: skip
        """The ``top_k`` best answers from each window's ``(start_logits, end_logits)`` (see
        :func:`decode_answers`)."""
        windows: list[ContextWindow] = encoded.meta
        return decode_answers(
            context, [(start, end, window.offset, window.spans) for (start, end), window in zip(outputs, windows)],
            top_k=top_k, max_answer_len=max_answer_len, handle_impossible_answer=handle_impossible_answer,
        )  # fmt: skip


def decode_answers(
    context: str,
    windows: Iterable[tuple[np.ndarray, np.ndarray, int, Sequence[tuple[int, int]]]],
    *,
    top_k: int = 1,
    max_answer_len: int = 15,
    handle_impossible_answer: bool = False,
) -> list[Answer]:
    """The ``top_k`` best answers to a question from the model's scores over the windows of its
    context, best first, as ``{"score", "start", "end", "answer"}`` (``context[start:end] == answer``).

    Args:
        windows: one ``(start_logits, end_logits, offset, spans)`` per window: the scores of its
            input positions, the position of its first context piece, the character span of each
            of its context pieces.
        handle_impossible_answer: let "no answer" (``""``, start = end = 0) compete.
    """
    best: dict[tuple[int, int], float] = {}  # character span -> best score over the windows
    null_score = 1.0
    for start_logits, end_logits, offset, spans in windows:
        length = len(spans)
        # Probabilities over [CLS] and this window's context pieces; everything else is out.
        start_p = _softmax(np.concatenate([start_logits[:1], start_logits[offset : offset + length]]))
        end_p = _softmax(np.concatenate([end_logits[:1], end_logits[offset : offset + length]]))
        null_score = min(null_score, float(start_p[0] * end_p[0]))
        if length:
            _best_spans(best, list(spans), start_p[1:], end_p[1:], top_k, max_answer_len)
    answers: list[Answer] = [
        {"score": score, "start": start, "end": end, "answer": context[start:end]}
        for (start, end), score in best.items()
    ]
    if handle_impossible_answer:
        answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
    answers.sort(key=lambda answer: -float(answer["score"]))
    return answers[:top_k]


def _best_spans(
    best: dict[tuple[int, int], float], spans: list[tuple[int, int]], start_p: np.ndarray, end_p: np.ndarray,
    top_k: int, max_answer_len: int,
) -> None:  # fmt: skip
    """Add one window's ``top_k`` best character spans (of at most ``max_answer_len`` pieces) to ``best``."""
    length = len(spans)
    char_starts, char_ends = _visible_bounds(spans)
    # The spans (first, last piece) of at most max_answer_len pieces, in (first, last) order.
    width = min(max_answer_len, length)
    firsts = np.repeat(np.arange(length), width)
    lasts = firsts + np.tile(np.arange(width), length)
    inside = lasts < length
    firsts, lasts = firsts[inside], lasts[inside]
    scores = start_p[firsts] * end_p[lasts]
    found: set[tuple[int, int]] = set()
    for index in np.argsort(-scores, kind="stable"):
        score = float(scores[index])
        if score <= 0.0 or len(found) == top_k:
            break
        start, end = char_starts[firsts[index]], char_ends[lasts[index]]
        if end <= start:  # only bare "▁" pieces: nothing to read
            continue
        found.add((start, end))
        best[(start, end)] = max(best.get((start, end), 0.0), score)


def _visible_bounds(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Where an answer starting (ending) at each piece starts (ends) in the text: a bare "▁"
    piece has an empty span, so the answer starts at the next visible piece (ends at the last)."""
    starts, ends = [0] * len(spans), [0] * len(spans)
    following = spans[-1][1] if spans else 0
    for index in range(len(spans) - 1, -1, -1):
        if spans[index][1] > spans[index][0]:
            following = spans[index][0]
        starts[index] = following
    preceding = 0
    for index, (start, end) in enumerate(spans):
        if end > start:
            preceding = end
        ends[index] = preceding
    return starts, ends


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()
