"""Text classification: a score for every label of a text (or of a text pair).

The scoring function follows the model's ``problem_type``, as transformers does: sigmoid for
multi-label models (each label on its own) and single-output models, softmax for single-label
models, raw values for regression.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError, OptionError
from ..modeling import AlbertForSequenceClassification
from .base import (
    Pipeline,
    TruncationWarning,
    as_list,
    build_inputs,
    check_texts,
    encode_pieces,
    truncate_pair,
)

FUNCTIONS = ("softmax", "sigmoid", "none")
TextInput = str | Mapping[str, str] | tuple[str, str]


class TextClassificationPipeline(Pipeline):
    """Classify texts or text pairs with an ``AlbertForSequenceClassification`` model.

    Args:
        top_k: keep only the best k labels (default None: every label, best first).
        function_to_apply: "softmax", "sigmoid" or "none"; None picks it from the model's
            ``problem_type`` (see the module docstring).
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "text-classification"
    model_class = AlbertForSequenceClassification

    def __init__(
        self, *args: Any, top_k: int | None = None, function_to_apply: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.top_k = top_k
        self.function_to_apply = function_to_apply

    def default_function(self) -> str:
        """The scoring function the model's config implies."""
        problem_type = self.config.problem_type
        if problem_type == "regression":
            return "none"
        if problem_type == "multi_label_classification" or self.config.num_labels == 1:
            return "sigmoid"
        return "softmax"

    def __call__(
        self,
        inputs: TextInput | Sequence[TextInput],
        *,
        top_k: int | None = None,
        function_to_apply: str | None = None,
    ) -> list:
        """Score one input or a list of them.

        Args:
            inputs: a text, a pair as ``{"text": ..., "text_pair": ...}`` or ``(text, pair)``
                inside a list, or a list of those.
            top_k: keep the best k labels (default: the pipeline's, else every label).
            function_to_apply: "softmax", "sigmoid" or "none" (default: from the model).

        Returns:
            For each input a list of ``{"label", "score"}`` for every label, best first (one
            input gives one such list). An input longer than the model's window is truncated,
            longest part first, with a warning.

        Raises:
            InputError: an empty text. OptionError: an unknown function.
        """
        items, single = as_list(inputs, "text or text pair")
        firsts, seconds = _split_pairs(items)
        check_texts(firsts)
        paired = [index for index, second in enumerate(seconds) if second is not None]
        check_texts([seconds[index] for index in paired], "text_pair of inputs", paired)
        function = function_to_apply or self.function_to_apply or self.default_function()
        if function not in FUNCTIONS:
            raise OptionError(f"function_to_apply must be one of {', '.join(FUNCTIONS)}, got {function!r}")
        top_k = top_k if top_k is not None else self.top_k
        if top_k is not None and top_k < 1:
            raise OptionError(f"top_k must be at least 1 (or None for every label), got {top_k}")

        first_pieces = encode_pieces(self.tokenizer, firsts, with_spans=False)
        pair_indices = [index for index, second in enumerate(seconds) if second is not None]
        second_pieces = dict(
            zip(pair_indices, encode_pieces(self.tokenizer, [seconds[i] for i in pair_indices], with_spans=False))
        )
        features = []
        for index, pieces in enumerate(first_pieces):
            second = second_pieces[index].ids if index in second_pieces else None
            budget = self.max_length - (3 if second is not None else 2)
            first_ids, second_ids, cut = truncate_pair(pieces.ids, second, budget)
            if cut:
                detail = (
                    f"is longer than the model's window of {self.max_length} tokens and was truncated for "
                    "classification"
                )
                warnings.warn(TruncationWarning(index, detail), stacklevel=2)
            features.append(build_inputs(self.tokenizer, first_ids, second_ids))

        outputs = self.run(features, lambda output, batch: {"logits": output.logits})
        results = [self._labels(output["logits"], function, top_k) for output in outputs]
        return results[0] if single else results

    def _labels(self, logits: np.ndarray, function: str, top_k: int | None) -> list[dict[str, Any]]:
        scores = _apply(logits.astype(np.float64), function)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [
            {"label": self.config.id2label.get(int(i), f"LABEL_{i}"), "score": float(scores[i])}
            for i in order
        ]


def _apply(logits: np.ndarray, function: str) -> np.ndarray:
    if function == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    if function == "softmax":
        shifted = np.exp(logits - logits.max())
        return shifted / shifted.sum()
    return logits


def _split_pairs(items: list[Any]) -> tuple[list[Any], list[str | None]]:
    """Inputs -> (first texts, second texts or None), accepting dicts and 2-tuples for pairs."""
    firsts: list[Any] = []
    seconds: list[str | None] = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            if "text" not in item:
                raise InputError(
                    f"inputs[{index}] is a dict without a 'text' key: {item!r}; use text and text_pair"
                )
            firsts.append(item["text"])
            seconds.append(item.get("text_pair"))
        elif isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise InputError(f"inputs[{index}] should be a pair (text, text_pair), got {len(item)} parts")
            firsts.append(item[0])
            seconds.append(item[1])
        else:
            firsts.append(item)
            seconds.append(None)
    return firsts, seconds
