"""Extractive question answering: the span of the context that answers the question.

Encoding and decoding are :class:`~albert.codecs.question_answering.QuestionAnsweringCodec`'s
(what fine-tuning uses too): contexts longer than the window are read in overlapping windows
(``doc_stride`` pieces shared), as in the SQuAD recipe; each window's start and end scores give
spans of at most ``max_answer_len`` pieces, and with ``handle_impossible_answer`` the "no answer"
of SQuAD 2.0 competes with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..codecs.base import Encoded
from ..codecs.question_answering import Answer as Answer
from ..codecs.question_answering import QuestionAnsweringCodec
from ..codecs.question_answering import decode_answers as decode_answers  # re-exported: its old home
from ..errors import InputError
from ..modeling import AlbertForQuestionAnswering
from .base import Pipeline, check_texts
from .options import QuestionAnsweringOptions, with_options


class QuestionAnsweringPipeline(Pipeline):
    """Answer questions from a context with an ``AlbertForQuestionAnswering`` model.

    Args:
        top_k: answers per question (default 1).
        doc_stride: pieces shared by consecutive windows of a long context (default: 128, or
            half of what the window leaves for the context when that is less).
        max_answer_len: the longest answer, in pieces (default 15).
        max_seq_len: the window, special tokens included (default: 384 or the model's limit,
            :meth:`QuestionAnsweringCodec.for_model`).
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
        self.options = QuestionAnsweringOptions(
            top_k=top_k, doc_stride=doc_stride, max_answer_len=max_answer_len, max_seq_len=max_seq_len,
            max_question_len=max_question_len, handle_impossible_answer=handle_impossible_answer,
        )  # fmt: skip

    @property
    def defaults(self) -> dict[str, Any]:
        """The pipeline's options as a dict (what a call's keyword options start from)."""
        return dataclasses.asdict(self.options)

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
        settings = dataclasses.asdict(with_options(self.options, options))
        questions, contexts, single = _collect(question, context)
        check_texts(questions, "question")
        check_texts(contexts, "context")

        encoded = self.codec(settings).encode(questions, contexts)
        return self.infer(encoded, contexts, single, **options)

    def codec(self, settings: Mapping[str, Any]) -> QuestionAnsweringCodec:
        """How this pipeline encodes questions and decodes answers under ``settings`` (its options).

        Raises:
            OptionError: ``max_seq_len`` longer than the model's window.
        """
        return QuestionAnsweringCodec.for_model(
            self.tokenizer, self.max_length, settings["max_seq_len"], settings["max_question_len"], settings["doc_stride"]
        )

    def infer(
        self, encoded: Sequence[Encoded], contexts: Sequence[str], single: bool = False, **options: Any
    ) -> Any:
        """Run the model on inputs :meth:`codec` encoded and read the answers from ``contexts`` (the
        service's model process calls this with what its HTTP side encoded); ``options`` as for
        :meth:`__call__`."""
        settings = {**self.defaults, **options}
        outputs = self.run_encoded(
            encoded, lambda output, batch: {"start": output.start_logits, "end": output.end_logits}
        )
        results = []
        for context, example, windows in zip(contexts, encoded, outputs):
            answers = QuestionAnsweringCodec.decode(
                context, example, [(window["start"], window["end"]) for window in windows],
                top_k=settings["top_k"], max_answer_len=settings["max_answer_len"],
                handle_impossible_answer=settings["handle_impossible_answer"],
            )  # fmt: skip
            results.append(answers[0] if settings["top_k"] == 1 and answers else answers)
        return results[0] if single else results


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
