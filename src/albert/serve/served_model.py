"""The model a service holds: its facts, its tokenizer, what computes its batches, and inputs made ready.

The pipelines (:mod:`.backend`) run in a process of their own (:mod:`.worker`) unless asked to
run in this one; this side keeps the tokenizer, to check and count inputs before they queue.
Inputs are checked and counted here, before they queue: an empty one is refused (400); one
longer than the model's window is cut to it when truncation is on, refused (422) otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import CONFIG_NAME, AlbertConfig
from ..errors import AlbertError
from ..hub import default_model, resolve_file
from ..pipelines.texts import check_texts, encode_pieces
from ..text_normalization import build_tables, utf8_problem
from ..tokenizer import load_tokenizer
from .errors import EmptyInput, InvalidRequest
from .model_facts import ModelFacts
from .worker import EXIT_TIMEOUT, ModelWorker

if TYPE_CHECKING:
    from .backend import Pipelines

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Ready:
    """One input made ready: what the pipeline is given, and its real tokens (the batch budget)."""

    item: Any
    tokens: int


class ServedModel:
    """The model a service holds: its facts, its tokenizer (to check and count inputs), and what
    computes the batches, in a process of its own (:class:`~albert.serve.worker.ModelWorker`) or,
    with ``in_process``, on the caller's.

    Args:
        model: a folder, shipped model name or Hub id; None is the shipped model.
        device, dtype, fast, onnx: as for :func:`albert.pipeline`.
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
        onnx: bool = False,
        in_process: bool = False,
        allow_untrained_head: bool = False,
    ) -> None:
        self.name = str(model) if model is not None else Path(default_model()).name
        source = str(model) if model is not None else str(default_model())
        # A name that is no model, or a config no network can be built from, is refused here, in a
        # fraction of a second, before a process starts and imports torch to find out.
        AlbertConfig.from_json_file(resolve_file(source, CONFIG_NAME))  # type: ignore[arg-type]
        options = dict(model=source, device=device, dtype=dtype, fast=fast, onnx=onnx,
                       allow_untrained_head=allow_untrained_head)  # fmt: skip
        if in_process:
            from .backend import Pipelines  # torch, in this process only when the model is here

            self.backend: Pipelines | ModelWorker = Pipelines(**options)
            self.facts: ModelFacts = self.backend.facts()
            self.tokenizer = self.backend.tokenizer
        else:
            self.backend = ModelWorker(**options)
            self.facts = self.backend.facts
            self.tokenizer = load_tokenizer(source)  # what the pipelines load: the same pieces
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
    def compute(self, key: Hashable, items: list[Any]) -> list[Any]:
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

    # -- making inputs ready --------------------------------------------------------------------
    def piece_counts(self, texts: Sequence[str]) -> list[int]:
        """How many pieces each text is (no special tokens), by the pipelines' own tokenization."""
        return [len(pieces) for pieces in encode_pieces(self.tokenizer, list(texts), with_spans=False)]

    def ready_texts(self, texts: Sequence[str], truncate: bool, must_hold: int | None = None) -> list[Ready]:
        """Single texts as ``[CLS] text [SEP]``, each within the window (cut to it when ``truncate``).

        Args:
            must_hold: a token id every text must hold after any cut (fill-mask's [MASK]).

        Raises:
            EmptyInput: a text is empty or has nothing the tokenizer can read.
            InvalidRequest: a text is longer than the window and ``truncate`` is off, or lacks ``must_hold``.
        """
        check_not_blank(texts)
        ready = []
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
            ready.append(Ready(text, len(ids) + 2))
        return ready

    def pair_tokens(self, pairs: Sequence[tuple[str, str | None]], indices: Sequence[int] | None = None) -> list[int]:
        """Real tokens of ``[CLS] first [SEP] second [SEP]`` (``[CLS] first [SEP]`` without a second).

        Args:
            indices: each pair's index in the request's inputs, for messages (default: its position).

        Raises:
            EmptyInput: a text is empty, named by its input's index.
        """
        indices = list(indices) if indices is not None else list(range(len(pairs)))
        firsts = [first for first, _ in pairs]
        seconds = [second for _, second in pairs if second is not None]
        check_not_blank(firsts, indices)
        check_not_blank(seconds, [index for index, (_, second) in zip(indices, pairs) if second is not None])
        second_counts = iter(self.piece_counts(seconds))
        return [
            first_count + 2 + (next(second_counts) + 1 if second is not None else 0)
            for (_, second), first_count in zip(pairs, self.piece_counts(firsts))
        ]

    def check_window(self, index: int, tokens: int, truncate: bool) -> int:
        """The tokens of an input the pipeline cuts itself (a pair, longest part first): refused
        when longer than the window without ``truncate``, else counted as what will run.

        Raises:
            InvalidRequest: too long, and ``truncate`` is off.
        """
        if tokens > self.facts.window and not truncate:
            raise InvalidRequest(self._too_long(index, tokens))
        return min(tokens, self.facts.window)

    def _too_long(self, index: int, tokens: int) -> str:
        return (
            f"inputs[{index}] is {tokens} tokens ([CLS] and [SEP] included), more than the model's window of "
            f"{self.facts.window}; send truncate: true (or start the server with --auto-truncate) to cut it, or shorten it"
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
