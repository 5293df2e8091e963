"""The model a service holds: loaded once, the pipelines its head allows, and inputs made ready.

A folder's head is its config's ``architectures`` (what :class:`~albert.pipelines.embeddings.EmbeddingsPipeline`
reads too); a task is served when its pipeline accepts that head, as the pipelines themselves
decide (``accepted_classes``). The shipped model (``AlbertForPreTraining``) serves fill-mask.
Every model serves embeddings and tokenization. The model is loaded once, by the head task's
pipeline, and the embeddings pipeline runs on the same weights.

Inputs are checked and counted here, before they queue: an empty one is refused (400); one
longer than the model's window is cut to it when truncation is on, refused (422) otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import AlbertConfig
from ..modeling import MODEL_CLASSES, AlbertModel
from ..pipelines import Pipeline, default_model, pipeline, pipeline_class
from ..pipelines.base import check_texts, encode_pieces
from .errors import EmptyInput, InvalidRequest

logger = logging.getLogger(__name__)

#: Tasks with a head of their own, in the order they are looked for.
HEAD_TASKS = ("fill-mask", "text-classification", "token-classification", "question-answering", "multiple-choice")


@dataclass(frozen=True)
class Ready:
    """One input made ready: what the pipeline is given, and its real tokens (the batch budget)."""

    item: Any
    tokens: int


def head_task(name_or_path: str | Path) -> str | None:
    """The task the head of the model at ``name_or_path`` serves, or None for a bare encoder."""
    config = AlbertConfig.from_pretrained(name_or_path)
    architecture = (config.extra.get("architectures") or ["AlbertModel"])[0]
    head = MODEL_CLASSES.get(architecture, AlbertModel)
    for task in HEAD_TASKS:
        task_class = pipeline_class(task)
        if issubclass(head, task_class.accepted_classes or (task_class.model_class,)):
            return task
    return None


class ServedModel:
    """The pipelines of one model, on one set of weights.

    Args:
        model: a folder, shipped model name or Hub id; None is the shipped model.
        device, dtype, fast, onnx: as for :func:`albert.pipeline`.

    Raises:
        ModelNotFoundError: no such model. ImportError: ``onnx`` without the onnx extra.
    """

    def __init__(
        self,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        fast: bool | None = None,
        onnx: bool = False,
    ) -> None:
        self.name = str(model) if model is not None else Path(default_model()).name
        source = model if model is not None else default_model()
        self.head_task = head_task(source)
        options = dict(device=device, fast=fast, progress=False)
        self.pipelines: dict[str, Pipeline] = {}
        if self.head_task is not None:
            head = pipeline(self.head_task, model=source, dtype=dtype, onnx=onnx, **options)
            self.pipelines[self.head_task] = head
            # The same weights (and their ONNX encoder) for the vectors; dtype and device are set.
            self.pipelines["embeddings"] = pipeline("embeddings", model=head.model, tokenizer=head.tokenizer, **options)
        else:
            self.pipelines["embeddings"] = pipeline("embeddings", model=source, dtype=dtype, onnx=onnx, **options)
        embeddings = self.pipelines["embeddings"]
        self.tokenizer = embeddings.tokenizer
        self.window = embeddings.max_length
        self.dimension = int(embeddings.config.hidden_size)
        self.device = str(embeddings.device)
        self.dtype = str(next(embeddings.model.parameters()).dtype).replace("torch.", "")

    @property
    def tasks(self) -> list[str]:
        """The tasks served: embeddings, and the head's task if there is one."""
        return list(self.pipelines)

    # -- running a batch ------------------------------------------------------------------------
    def compute(self, key: Hashable, items: list[Any]) -> list[Any]:
        """Run one merged batch: ``key`` is ``(task, ((option, value), ...))``; one result per item."""
        task, options = key  # type: ignore[misc]
        return self.pipelines[task](items, **dict(options))

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
                raise EmptyInput(f"input {index} has no pieces the tokenizer can read: {text[:60]!r}")
            if len(ids) + 2 > self.window:
                if not truncate:
                    raise InvalidRequest(self._too_long(index, len(ids) + 2))
                text, ids = self._cut(text, self.window - 2)
            if must_hold is not None and must_hold not in ids:
                token = self.tokenizer.convert_ids_to_tokens(must_hold)
                raise InvalidRequest(
                    f"input {index} has no {token}" + (" within the model's window" if len(text) < len(texts[index]) else "")
                    + f": write {token} where a word should be predicted"
                )
            ready.append(Ready(text, len(ids) + 2))
        return ready

    def pair_tokens(self, pairs: Sequence[tuple[str, str | None]]) -> list[int]:
        """Real tokens of ``[CLS] first [SEP] second [SEP]`` (``[CLS] first [SEP]`` without a second).

        Raises:
            EmptyInput: a text is empty.
        """
        firsts = [first for first, _ in pairs]
        seconds = [second for _, second in pairs if second is not None]
        check_not_blank(firsts)
        check_not_blank(seconds)
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
        if tokens > self.window and not truncate:
            raise InvalidRequest(self._too_long(index, tokens))
        return min(tokens, self.window)

    def _too_long(self, index: int, tokens: int) -> str:
        return (
            f"input {index} is {tokens} tokens ([CLS] and [SEP] included), more than the model's window of "
            f"{self.window}; send truncate: true (or start the server with --auto-truncate) to cut it, or shorten it"
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


def check_not_blank(texts: Sequence[str]) -> None:
    """The pipelines' own check of texts, as the service's 400.

    Raises:
        EmptyInput: a text is empty (or only spaces), named.
    """
    try:
        check_texts(texts)
    except ValueError as error:
        raise EmptyInput(str(error)) from None
