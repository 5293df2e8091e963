"""Extractive question answering: the span of the context that answers the question.

Contexts longer than the window are read in overlapping windows (``doc_stride`` pieces shared),
as in the SQuAD recipe. In each window the start and end scores are turned into probabilities
over the context pieces (and [CLS]); a span's score is p(start) * p(end), for spans of at most
``max_answer_len`` pieces. With ``handle_impossible_answer`` the "no answer" of SQuAD 2.0 (the
[CLS] position, scored by its lowest value over the windows) competes with the spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError, OptionError, OptionTypeError
from ..modeling import AlbertForQuestionAnswering
from .base import Pipeline, build_inputs, check_texts, encode_pieces, window_ranges

Answer = dict[str, Any]


class QuestionAnsweringPipeline(Pipeline):
    """Answer questions from a context with an ``AlbertForQuestionAnswering`` model.

    Args:
        top_k: answers per question (default 1).
        doc_stride: pieces shared by consecutive windows of a long context (default: 128, or
            half of what the window leaves for the context when that is less).
        max_answer_len: the longest answer, in pieces (default 15).
        max_seq_len: the window, special tokens included (default: 384 or the model's limit).
        max_question_len: questions are cut to this many pieces (default 64).
        handle_impossible_answer: let "no answer" (empty, start = end = 0) be an answer.
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "question-answering"
    model_class = AlbertForQuestionAnswering

    def __init__(
        self,
        *args: Any,
        top_k: int = 1,
        doc_stride: int | None = None,
        max_answer_len: int = 15,
        max_seq_len: int | None = None,
        max_question_len: int = 64,
        handle_impossible_answer: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.defaults = dict(
            top_k=top_k, doc_stride=doc_stride, max_answer_len=max_answer_len, max_seq_len=max_seq_len,
            max_question_len=max_question_len, handle_impossible_answer=handle_impossible_answer,
        )  # fmt: skip

    def __call__(
        self,
        question: str | Sequence[str] | Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        context: str | Sequence[str] | None = None,
        **options: Any,
    ) -> Answer | list:
        """Answer ``question`` from ``context``.

        Args:
            question, context: one question and its context, or two lists of the same length;
                or, as the first argument, ``{"question": ..., "context": ...}`` or a list of those.
            **options: ``top_k``, ``doc_stride``, ``max_answer_len``, ``max_seq_len``,
                ``max_question_len``, ``handle_impossible_answer`` for this call.

        Returns:
            ``{"score", "start", "end", "answer"}`` where ``context[start:end] == answer``; with
            ``top_k`` > 1 a list of those, best first. Lists of questions give a list of results.

        Raises:
            InputError: missing or empty question/context, or lists of different lengths.
            OptionError: settings that leave no room for the context. OptionTypeError: an
                option this pipeline does not take.
        """
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise OptionTypeError(f"unknown option(s) {sorted(unknown)}; the options are {sorted(self.defaults)}")
        settings = {**self.defaults, **options}
        questions, contexts, single = _collect(question, context)
        check_texts(questions, "question")
        check_texts(contexts, "context")
        if settings["top_k"] < 1 or settings["max_answer_len"] < 1:
            raise OptionError(
                "top_k and max_answer_len must be at least 1, "
                f"got {settings['top_k']} and {settings['max_answer_len']}"
            )

        question_pieces = encode_pieces(self.tokenizer, questions)
        context_pieces = encode_pieces(self.tokenizer, contexts)
        features, owners, windows = [], [], []
        for index, (asked, read) in enumerate(zip(question_pieces, context_pieces)):
            asked_ids = asked.ids[: settings["max_question_len"]]
            for start, end in self._context_windows(len(asked_ids), len(read), settings):
                features.append(build_inputs(self.tokenizer, asked_ids, read.ids[start:end]))
                owners.append(index)
                # Context piece k of this window sits at input position offset + k.
                windows.append((start, end, len(asked_ids) + 2))
        outputs = self.run(
            features, lambda output, batch: {"start": output.start_logits, "end": output.end_logits}
        )

        per_question: list[list[Any]] = [[] for _ in questions]
        for owner, output, (first, last, offset) in zip(owners, outputs, windows):
            spans = context_pieces[owner].spans[first:last]
            per_question[owner].append((output["start"], output["end"], offset, spans))
        results = []
        for context, question_windows in zip(contexts, per_question):
            answers = decode_answers(
                context, question_windows, top_k=settings["top_k"], max_answer_len=settings["max_answer_len"],
                handle_impossible_answer=settings["handle_impossible_answer"],
            )
            results.append(answers[0] if settings["top_k"] == 1 and answers else answers)
        return results[0] if single else results

    def _context_windows(
        self, question_length: int, context_length: int, settings: dict[str, Any]
    ) -> list[tuple[int, int]]:
        max_seq_len = settings["max_seq_len"] or min(384, self.max_length)
        if max_seq_len > self.max_length:
            raise OptionError(
                f"max_seq_len ({max_seq_len}) is longer than the model's window ({self.max_length})"
            )
        room = max_seq_len - question_length - 3  # [CLS] question [SEP] context [SEP]
        if room < 1:
            raise OptionError(
                f"the question ({question_length} pieces) leaves no room for the context in a window of "
                f"{max_seq_len}; shorten the question or lower max_question_len"
            )
        stride = settings["doc_stride"]
        if stride is None:
            stride = min(128, room // 2)
        if stride >= room:
            raise OptionError(
                f"doc_stride ({stride}) must be smaller than the context's room in a window ({room} pieces); "
                f"pass a doc_stride below {room}"
            )
        return window_ranges(context_length, room, stride)


def decode_answers(
    context: str,
    windows: Iterable[tuple[np.ndarray, np.ndarray, int, Sequence[tuple[int, int]]]],
    *,
    top_k: int = 1,
    max_answer_len: int = 15,
    handle_impossible_answer: bool = False,
) -> list[Answer]:
    """The ``top_k`` best answers to a question from the model's scores over the windows of its
    context, best first, as ``{"score", "start", "end", "answer"}`` (``context[start:end] == answer``):
    this pipeline's decoding, and fine-tuning's for its dev F1 (see the module docstring).

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
        char_starts, char_ends = _visible_bounds(list(spans))
        # Probabilities over [CLS] and this window's context pieces; everything else is out.
        start_p = _softmax(np.concatenate([start_logits[:1], start_logits[offset : offset + length]]))
        end_p = _softmax(np.concatenate([end_logits[:1], end_logits[offset : offset + length]]))
        null_score = min(null_score, float(start_p[0] * end_p[0]))
        if length == 0:
            continue
        # The spans (first, last piece) of at most max_answer_len pieces, in (first, last) order.
        width = min(max_answer_len, length)
        firsts = np.repeat(np.arange(length), width)
        lasts = firsts + np.tile(np.arange(width), length)
        inside = lasts < length
        firsts, lasts = firsts[inside], lasts[inside]
        scores = start_p[1:][firsts] * end_p[1:][lasts]
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

    answers = [
        {"score": score, "start": start, "end": end, "answer": context[start:end]}
        for (start, end), score in best.items()
    ]
    if handle_impossible_answer:
        answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
    answers.sort(key=lambda answer: -answer["score"])
    return answers[:top_k]


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


def _collect(question: Any, context: Any) -> tuple[list[str], list[str], bool]:
    """(questions, contexts, whether one was given) from the accepted call forms."""
    if context is None:
        records = [question] if isinstance(question, Mapping) else question
        if (
            not isinstance(records, Sequence)
            or isinstance(records, str)
            or not all(isinstance(record, Mapping) for record in records)
        ):
            raise InputError(
                "give a question and a context: pipe(question=..., context=...), "
                "or {'question': ..., 'context': ...} (or a list of those)"
            )
        missing = [
            index
            for index, record in enumerate(records)
            if "question" not in record or "context" not in record
        ]
        if missing:
            raise InputError(
                f"inputs[{missing[0]}] lacks a 'question' or a 'context' key: {records[missing[0]]!r}"
            )
        return (
            [r["question"] for r in records],
            [r["context"] for r in records],
            isinstance(question, Mapping),
        )
    if question is None:
        raise InputError("a context was given without a question: pass question=...")
    if isinstance(question, str) and isinstance(context, str):
        return [question], [context], True
    if isinstance(question, str):
        question = [question] * len(context)  # one question over several contexts
    if isinstance(context, str):
        context = [context] * len(question)  # several questions over one context
    if len(question) != len(context):
        raise InputError(
            f"got {len(question)} questions but {len(context)} contexts; give one context per question"
        )
    return list(question), list(context), False
