"""Multiple choice: a prompt and its choices in, a score per choice out (SWAG, RACE, COPA).

Each (prompt, choice) pair is one model input, ``[CLS] prompt [SEP] choice [SEP]``, cut to the
window by transformers' ``longest_first``; the model gives each a logit and a softmax over one
prompt's choices turns them into scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Encoded, encode_pairs


@dataclass(frozen=True)
class MultipleChoiceCodec:
    """Prompts with their choices to one row per choice; the rows' logits to choice scores."""

    tokenizer: Any
    max_length: int

    def encode(self, prompts: Sequence[str], choice_lists: Sequence[Sequence[str]]) -> list[Encoded]:
        """One :class:`Encoded` per prompt, a feature per choice; ``truncated`` when any pair was cut."""
        firsts = [prompt for prompt, choices in zip(prompts, choice_lists) for _ in choices]
        seconds: list[str | None] = [choice for choices in choice_lists for choice in choices]
        rows = iter(encode_pairs(self.tokenizer, firsts, seconds, self.max_length))
        encoded = []
        for choices in choice_lists:
            mine = [next(rows) for _ in choices]
            encoded.append(Encoded([feature for feature, _ in mine], truncated=any(cut for _, cut in mine)))
        return encoded

    @staticmethod
    def decode(choices: Sequence[str], logits: Sequence[float]) -> list[dict[str, Any]]:
        """``{"choice", "index", "score"}`` per choice, in the order given (scores sum to 1)."""
        scores = np.exp(np.asarray(logits, np.float64) - max(logits))
        scores /= scores.sum()
        return [
            {"choice": choice, "index": position, "score": float(score)}
            for position, (choice, score) in enumerate(zip(choices, scores))
        ]
