"""The model a service holds: its facts, its tokenizer, what computes its batches, and inputs encoded.

The pipelines (:mod:`.backend`) run in a process of their own (:mod:`.worker`) unless asked to
run in this one. This side keeps the tokenizer: every input is checked, cut and encoded here,
once, by its task's codec (:mod:`albert.codecs`, what fine-tuning and the pipelines use), and the
model's process is sent the ids (:class:`~albert.serve.jobs.Job`). An empty input is refused (400);
one longer than the model's window is cut to it when truncation is on, refused (422) otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..codecs.base import Encoded, build_inputs
from ..codecs.embeddings import EmbeddingsCodec
from ..codecs.multiple_choice import MultipleChoiceCodec
from ..codecs.question_answering import QuestionAnsweringCodec
from ..codecs.text_classification import TextClassificationCodec
from ..codecs.texts import Pieces, check_texts, encode_pieces
from ..codecs.token_classification import TokenClassificationCodec
from ..config import CONFIG_NAME, AlbertConfig
from ..errors import AlbertError
from ..hub import default_model, resolve_file
from ..pipelines.options import QuestionAnsweringOptions
from ..sentence_folder import read_sentence_folder
from ..text_normalization import build_tables, utf8_problem
from ..threads import physical_cores
from ..tokenizer import load_tokenizer
from .errors import EmptyInput, InvalidRequest
from .jobs import Job
from .model_facts import ModelFacts
from .worker import EXIT_TIMEOUT, ModelWorker

if TYPE_CHECKING:
    from collections.abc import Hashable

    from .backend import Pipelines

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ready:
    """One input encoded: what the model's process is sent, and the input's own real tokens after
    any cut (what ``x-compute-tokens`` and ``usage`` count; the batch budget counts the features)."""

    item: Job
    counted: int

    @property
    def tokens(self) -> int:
        """Real tokens of its features: what it costs a batch."""
        return self.item.tokens


def service_threads(given: int | None) -> int | None:
    """The model's torch threads: ``given``; else, unless ``OMP_NUM_THREADS`` fixes them, the physical
    cores less one, which the HTTP side keeps for parsing, tokenizing and answering (at least 1).
    On a busy machine threads beyond the cores left to the model wait on each other: one request
    took 10x longer with torch's default threads in a serving probe here."""
    if given is not None or os.environ.get("OMP_NUM_THREADS", "").strip():
        return given
    return max(1, physical_cores() - 1)


class ServedModel:
    """The model a service holds: its facts, its tokenizer (to check and count inputs), and what
    computes the batches, in a process of its own (:class:`~albert.serve.worker.ModelWorker`) or,
    with ``in_process``, on the caller's.

    Args:
        model: a folder, shipped model name or Hub id; None is the shipped model.
        device, dtype, fast, onnx, precision: as for :func:`albert.pipeline`.
        threads: torch's threads in the model's process; None: :func:`service_threads`.
        in_process: load the model in this process (less memory; under load the model and the
            event loop then share one GIL).
        allow_untrained_head: serve the task of a head that the weights do not hold (it would be
            newly initialised: its answers random); without it such a model is refused.

    Raises:
        ModelNotFoundError: no such model. UntrainedHeadError: the head the model's config names is
            not in its weights, and ``allow_untrained_head`` is off. ImportError: ``onnx`` without
            the onnx extra. WorkerStopped: the model's process died while loading.
    """

    def __init__(
        self,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        fast: bool | None = None,
        onnx: bool | None = None,
        in_process: bool = False,
        allow_untrained_head: bool = False,
        precision: str = "exact",
        threads: int | None = None,
    ) -> None:
        self.name = str(model) if model is not None else Path(default_model()).name
        source = str(model) if model is not None else str(default_model())
        # A sentence-transformers folder's model (config, tokenizer) may sit in 0_Transformer/.
        found = read_sentence_folder(source) if Path(source).is_dir() else None
        backbone = str(found.transformer) if found is not None else source
        # A name that is no model, or a config no network can be built from, is refused here, in a
        # fraction of a second, before a process starts and imports torch to find out.
        AlbertConfig.from_json_file(resolve_file(backbone, CONFIG_NAME))
        threads = service_threads(threads)
        options: dict[str, Any] = dict(model=source, device=device, dtype=dtype, fast=fast, onnx=onnx,
                       allow_untrained_head=allow_untrained_head, precision=precision, threads=threads)  # fmt: skip
        if in_process:
            from .backend import Pipelines  # torch, in this process only when the model is here

            self.backend: Pipelines | ModelWorker = Pipelines(**options)
            self.facts: ModelFacts = self.backend.facts()
            self.tokenizer = self.backend.tokenizer
        else:
            self.backend = ModelWorker(**options)
            self.facts = self.backend.facts
            self.tokenizer = load_tokenizer(backbone)  # what the pipelines load: the same pieces
        for warning in self.facts.warnings:
            logger.warning("%s", warning)
        build_tables()  # here, not in the first request with an accent

    @property
    def tasks(self) -> list[str]:
        """The tasks served: embeddings, and the head's task if there is one."""
        return list(self.facts.tasks)

    @property
    def alive(self) -> bool:
        """Whether batches can be computed (the model's process runs)."""
        return not isinstance(self.backend, ModelWorker) or self.backend.alive

    # -- running a batch ------------------------------------------------------------------------
    def compute(self, key: Hashable, items: list[Job]) -> list[Any]:
        """Run one merged batch: ``key`` is ``(task, ((option, value), ...))``; one result per item.

        Raises:
            WorkerStopped: the model's process is gone. Whatever the pipeline raised.
        """
        return self.backend.compute(key, items)

    def wait_stopped(self) -> str | None:
        """Block until the model's process exits: how it stopped, or None when :meth:`close` stopped it
        (in process: None at once)."""
        return self.backend.wait_stopped() if isinstance(self.backend, ModelWorker) else None

    def close(self, timeout: float = EXIT_TIMEOUT) -> None:
        """Stop the model's process (after the batch it computes, or killed after ``timeout``
        seconds); nothing to do in process."""
        if isinstance(self.backend, ModelWorker):
            self.backend.close(timeout)

    # -- encoding inputs ------------------------------------------------------------------------
    @property
    def embedding_window(self) -> int:
        """The embeddings pipeline's window, [CLS] and [SEP] included (level "text" cuts to it, the
        other levels window long sentences in it): a sentence-embedding folder's ``max_length``,
        else the model's window."""
        sentence = self.facts.sentence
        return min(sentence.max_length, self.facts.window) if sentence and sentence.max_length else self.facts.window

    def embeddings(self, texts: Sequence[str], truncate: bool, level: str, split_sentences: bool) -> list[Ready]:
        """Texts for the embeddings pipeline (each within the window), in its sentences and windows;
        at level "text", each text one input of at most :attr:`embedding_window` tokens.

        Raises:
            EmptyInput, InvalidRequest: as :meth:`fit_texts` says.
        """
        if level == "text":
            return self._whole_texts(texts, truncate)
        fitted = self.fit_texts(texts, truncate)
        with_spans = level in ("word", "piece")
        # the windows the pipeline cuts: a sentence-embedding folder's max length, else the model's window
        codec = EmbeddingsCodec(self.tokenizer, self.embedding_window, split_sentences, with_spans)
        # A text that is one sentence is not tokenized again (spans aside): its pieces are known.
        known = None if with_spans else [Pieces(ids, [], []) for _, ids in fitted]
        encoded = _refused_as_request(codec.encode, [text for text, _ in fitted], known)
        return [Ready(Job(example, text), len(ids) + 2) for (text, ids), example in zip(fitted, encoded)]

    def _whole_texts(self, texts: Sequence[str], truncate: bool) -> list[Ready]:
        """Level "text": each text one input, its pieces past :attr:`embedding_window` cut off (with
        ``truncate``) as sentence-transformers cuts them: the pieces of the whole text, not of a
        shorter text tokenized again.

        Raises:
            EmptyInput: a text has nothing the tokenizer can read. InvalidRequest: a text longer
                than the window, without ``truncate``.
        """
        check_not_blank(texts)
        window = self.embedding_window
        pieces = encode_pieces(self.tokenizer, list(texts), with_spans=False)
        for index, (text, each) in enumerate(zip(texts, pieces)):
            if not len(each):
                raise EmptyInput(f"inputs[{index}] has no pieces the tokenizer can read: {text[:60]!r}")
            if len(each) + 2 > window and not truncate:
                raise InvalidRequest(self._too_long(index, len(each) + 2, window))
        codec = EmbeddingsCodec(self.tokenizer, window, split_sentences=False, with_spans=False, truncate=True)
        encoded = _refused_as_request(codec.encode, list(texts), pieces)
        return [Ready(Job(example, text), example.tokens) for text, example in zip(texts, encoded)]

    def fill_mask(self, texts: Sequence[str], truncate: bool) -> list[Ready]:
        """Texts holding [MASK], each within the window, as pieces with their spans (the sequences
        the answers show are read from them).

        Raises:
            EmptyInput, InvalidRequest: as :meth:`fit_texts` says; a text without [MASK] (after any cut).
        """
        fitted = [text for text, _ in self.fit_texts(texts, truncate, must_hold=self.tokenizer.mask_token_id)]
        return [
            Ready(Job(Encoded([build_inputs(self.tokenizer, pieces.ids)], pieces), text), len(pieces) + 2)
            for text, pieces in zip(fitted, encode_pieces(self.tokenizer, fitted))
        ]

    def token_classification(self, texts: Sequence[str], truncate: bool) -> list[Ready]:
        """Texts to tag, each within the window, as the token-classification codec encodes them.

        Raises:
            EmptyInput, InvalidRequest: as :meth:`fit_texts` says.
        """
        fitted = [text for text, _ in self.fit_texts(texts, truncate)]
        encoded = TokenClassificationCodec(self.tokenizer, self.facts.window).encode(fitted)
        return [Ready(Job(example, text), example.tokens) for text, example in zip(fitted, encoded)]

    def text_classification(self, pairs: Sequence[tuple[str, str | None]], truncate: bool) -> list[Ready]:
        """Texts (and pairs) to classify, cut by ``longest_first`` to the window when ``truncate``.

        Raises:
            EmptyInput: a text is empty. InvalidRequest: one is longer than the window, without ``truncate``.
        """
        self.check_pairs(pairs)
        codec = TextClassificationCodec(self.tokenizer, self.facts.window)
        encoded = codec.encode([first for first, _ in pairs], [second for _, second in pairs])
        for index, example in enumerate(encoded):
            if example.truncated and not truncate:
                raise InvalidRequest(self._too_long(index, self.pair_tokens([pairs[index]])[0]))
        return [Ready(Job(example), example.tokens) for example in encoded]

    def multiple_choice(self, index: int, prompt: str, choices: Sequence[str], truncate: bool) -> Ready:
        """One prompt with its choices (``inputs[index]``), each pair cut by ``longest_first`` to the
        window when ``truncate``.

        Raises:
            EmptyInput: a text is empty. InvalidRequest: a pair is longer than the window, without ``truncate``.
        """
        pairs: list[tuple[str, str | None]] = [(prompt, choice) for choice in choices]
        self.check_pairs(pairs, [index] * len(pairs))
        (example,) = MultipleChoiceCodec(self.tokenizer, self.facts.window).encode([prompt], [list(choices)])
        if example.truncated and not truncate:
            for count in self.pair_tokens(pairs):
                self.check_window(index, count, truncate)
        return Ready(Job(example, choices=tuple(choices)), example.tokens)

    def question_answering(self, questions: Sequence[str], contexts: Sequence[str],
                           doc_stride: int | None) -> list[Ready]:  # fmt: skip
        """Questions with their contexts, in the windows of the pipeline's codec (its window rule,
        :meth:`QuestionAnsweringCodec.for_model`), each counted as the codec cuts it (the question
        to its longest, each context piece once: :meth:`QuestionAnsweringCodec.counted_tokens`).

        Raises:
            EmptyInput: a question or context is empty. InvalidRequest: a question that leaves no
                room for its context, or a ``doc_stride`` too large.
        """
        self.check_pairs(list(zip(questions, contexts)))
        defaults = QuestionAnsweringOptions()
        codec = QuestionAnsweringCodec.for_model(
            self.tokenizer, self.facts.window, None, defaults.max_question_len, doc_stride
        )
        encoded = _refused_as_request(codec.encode, questions, contexts)
        return [Ready(Job(example, context), codec.counted_tokens(example)) for example, context in zip(encoded, contexts)]

    # -- checking and counting ------------------------------------------------------------------
    def piece_counts(self, texts: Sequence[str]) -> list[int]:
        """How many pieces each text is (no special tokens), by the codecs' own tokenization."""
        return [len(pieces) for pieces in encode_pieces(self.tokenizer, list(texts), with_spans=False)]

    def fit_texts(
        self, texts: Sequence[str], truncate: bool, must_hold: int | None = None
    ) -> list[tuple[str, list[int]]]:
        """Single texts as ``[CLS] text [SEP]`` within the window (cut to it when ``truncate``):
        each text as it will be read, and its pieces' ids.

        Args:
            must_hold: a token id every text must hold after any cut (fill-mask's [MASK]).

        Raises:
            EmptyInput: a text is empty or has nothing the tokenizer can read.
            InvalidRequest: a text is longer than the window and ``truncate`` is off, or lacks ``must_hold``.
        """
        check_not_blank(texts)
        fitted = []
        for index, (text, pieces) in enumerate(zip(texts, encode_pieces(self.tokenizer, list(texts), with_spans=False))):
            ids = pieces.ids
            if not ids:
                raise EmptyInput(f"inputs[{index}] has no pieces the tokenizer can read: {text[:60]!r}")
            if len(ids) + 2 > self.facts.window:
                if not truncate:
                    raise InvalidRequest(self._too_long(index, len(ids) + 2))
                text, ids = self._cut(text, self.facts.window - 2)
            if must_hold is not None and must_hold not in ids:
                token = self.tokenizer.convert_ids_to_tokens(must_hold)
                raise InvalidRequest(
                    f"inputs[{index}] has no {token}" + (" within the model's window" if len(text) < len(texts[index]) else "")
                    + f": write {token} where a word should be predicted"
                )
            fitted.append((text, ids))
        return fitted

    def check_pairs(self, pairs: Sequence[tuple[str, str | None]], indices: Sequence[int] | None = None) -> None:
        """Every first text, then every second one, is not blank (named by its input's index:
        ``indices``, by default its position).

        Raises:
            EmptyInput: a text is empty.
        """
        indices = list(indices) if indices is not None else list(range(len(pairs)))
        check_not_blank([first for first, _ in pairs], indices)
        check_not_blank([second for _, second in pairs if second is not None],
                        [index for index, (_, second) in zip(indices, pairs) if second is not None])  # fmt: skip

    def pair_tokens(self, pairs: Sequence[tuple[str, str | None]], indices: Sequence[int] | None = None) -> list[int]:
        """Real tokens of ``[CLS] first [SEP] second [SEP]`` (``[CLS] first [SEP]`` without a second),
        uncut.

        Args:
            indices: each pair's index in the request's inputs, for messages (default: its position).

        Raises:
            EmptyInput: a text is empty, named by its input's index.
        """
        self.check_pairs(pairs, indices)
        second_counts = iter(self.piece_counts([second for _, second in pairs if second is not None]))
        return [
            first_count + 2 + (next(second_counts) + 1 if second is not None else 0)
            for (_, second), first_count in zip(pairs, self.piece_counts([first for first, _ in pairs]))
        ]

    def check_window(self, index: int, tokens: int, truncate: bool) -> int:
        """An input of ``tokens`` (uncut) is refused when longer than the window without
        ``truncate``; else its tokens after a cut.

        Raises:
            InvalidRequest: too long, and ``truncate`` is off.
        """
        if tokens > self.facts.window and not truncate:
            raise InvalidRequest(self._too_long(index, tokens))
        return min(tokens, self.facts.window)

    def _too_long(self, index: int, tokens: int, window: int | None = None) -> str:
        return (
            f"inputs[{index}] is {tokens} tokens ([CLS] and [SEP] included), more than the model's window of "
            f"{window or self.facts.window}; send truncate: true (or start the server with --auto-truncate) to cut it, "
            "or shorten it"
        )

    def _cut(self, text: str, budget: int) -> tuple[str, list[int]]:
        """``text`` cut after its last piece that fits ``budget`` pieces, and its pieces' ids then.

        The prefix is tokenized again (a word cut in two may become more pieces), one piece less
        until it fits; the characters kept are the text's own, so spans stay valid in it.
        """
        (pieces,) = encode_pieces(self.tokenizer, [text])
        for keep in range(budget, 0, -1):
            cut = text[: pieces.spans[keep - 1][1]].rstrip()
            (ids,) = [again.ids for again in encode_pieces(self.tokenizer, [cut], with_spans=False)]
            if 0 < len(ids) <= budget:
                return cut, ids
        raise InvalidRequest(f"{text[:60]!r} cannot be cut to {budget} pieces")  # pragma: no cover

    # -- tokenization ---------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[dict[str, Any]]]:
        """Each text's tokens as the model reads them: id, piece, the text it covers, whether it is
        special ([CLS], [SEP], [MASK] ...), and its character span.

        Raises:
            EmptyInput: a text is empty.
        """
        check_not_blank(texts)
        encoding = self.tokenizer(
            list(texts), add_special_tokens=add_special_tokens, return_offsets_mapping=True,
            return_special_tokens_mask=True, return_token_type_ids=False, return_attention_mask=False,
        )  # fmt: skip
        special_ids = set(self.tokenizer.all_special_ids)
        return [
            [
                {"id": token_id, "piece": piece, "text": text[start:end], "special": token_id in special_ids,
                 "start": start, "end": end}  # fmt: skip
                for token_id, piece, (start, end) in zip(
                    encoding["input_ids"][index], encoding.tokens(index), encoding["offset_mapping"][index]
                )
            ]
            for index, text in enumerate(texts)
        ]


def check_not_blank(texts: Sequence[str], indices: Sequence[int] | None = None) -> None:
    """The pipelines' own check of texts (``inputs[i]``, ``i`` from ``indices`` when given), as the
    service's errors.

    Raises:
        EmptyInput: a text is empty (or only spaces), named.
        InvalidRequest: a text the pipelines refuse otherwise (the schemas refuse those first).
    """
    try:
        check_texts(texts, indices=indices)
    except AlbertError as error:
        first = next(text for text in texts if not isinstance(text, str) or not text.strip() or utf8_problem(text))
        kind = EmptyInput if isinstance(first, str) and not first.strip() else InvalidRequest
        raise kind(str(error)) from None


def _refused_as_request(encode: Any, *arguments: Any) -> list[Encoded]:
    """``encode(*arguments)``, an input or option its codec refuses (an :class:`AlbertError`) as
    the service's 422, in the words the pipeline would have used."""
    try:
        return encode(*arguments)
    except AlbertError as error:
        raise InvalidRequest(" ".join(str(error).split())) from None
