"""Text classification and regression: a text or a text pair in, a score per label out.

Encoding is ``[CLS] text [SEP] (pair [SEP])`` cut to the window by transformers' ``longest_first``
(:func:`~albert.codecs.base.encode_pairs`). Decoding applies the scoring function the model's
``problem_type`` implies, as transformers does: sigmoid for multi-label models and single-output
models, softmax for single-label models, raw values for regression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..pipeline_options import FUNCTIONS as FUNCTIONS  # the option's names, declared there
from .base import Encoded, encode_pairs


def default_function(problem_type: str | None, num_labels: int) -> str:
    """The scoring function a model's ``problem_type`` (and its number of labels) implies."""
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def apply_function(logits: np.ndarray, function: str) -> np.ndarray:
    """``logits`` through ``function`` ("softmax", "sigmoid" or "none")."""
    if function == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    if function == "softmax":
        shifted = np.exp(logits - logits.max())
        return shifted / shifted.sum()
    return logits


@dataclass(frozen=True)
class TextClassificationCodec:
    """Texts (and pairs) to ``[CLS] text [SEP] (pair [SEP])`` within ``max_length`` tokens; logits
    to label scores, best first."""

    tokenizer: Any
    max_length: int

    def encode(self, texts: Sequence[str], pairs: Sequence[str | None] | None = None) -> list[Encoded]:
        """One :class:`Encoded` (one feature) per text, ``truncated`` when it was cut to fit."""
        seconds = list(pairs) if pairs is not None else [None] * len(texts)
        return [
            Encoded([feature], truncated=cut)
            for feature, cut in encode_pairs(self.tokenizer, texts, seconds, self.max_length)
        ]

    def decode(
        self, logits: np.ndarray, id2label: Mapping[int, str], function: str, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        """``{"label", "score"}`` for the ``top_k`` best labels (every label when None), best first."""
        scores = apply_function(np.asarray(logits, dtype=np.float64), function)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"label": id2label.get(int(i), f"LABEL_{i}"), "score": float(scores[i])} for i in order]
