"""Multiple choice: how well each candidate continues or answers a prompt (SWAG, RACE, COPA).

Each (prompt, choice) pair is one model input, ``[CLS] prompt [SEP] choice [SEP]``; the model
gives each a logit and a softmax over one prompt's choices turns them into scores. Pairs are
batched by length like every other input, so prompts with different numbers of choices mix
freely.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..modeling import AlbertForMultipleChoice
from .base import Pipeline, TruncationWarning, build_inputs, check_texts, encode_pieces, truncate_pair


class MultipleChoicePipeline(Pipeline):
    """Score the choices of prompts with an ``AlbertForMultipleChoice`` model."""

    task = "multiple-choice"
    model_class = AlbertForMultipleChoice

    def forward(self, batch: dict[str, torch.Tensor], **options: Any) -> Any:
        # The head takes (batch, choices, sequence) and scores each row on its own, so a batch of
        # independent pairs is one example with as many "choices" as the batch has rows.
        return super().forward({name: tensor.unsqueeze(0) for name, tensor in batch.items()}, **options)

    def __call__(
        self,
        prompt: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        choices: Sequence[str] | None = None,
    ) -> list:
        """Score the ``choices`` of ``prompt``.

        Args:
            prompt: the prompt (a question or the start of a text), with ``choices``; or
                ``{"prompt": ..., "choices": [...]}``, or a list of those.
            choices: the candidates, at least two.

        Returns:
            For the prompt, a list with one ``{"choice", "index", "score"}`` per choice, in the
            order given (scores sum to 1); a list of prompts gives a list of those.

        Raises:
            InputError: no choices, fewer than two, or an empty prompt or choice.
        """
        prompts, choice_lists, single = _collect(prompt, choices)
        check_texts(prompts)
        for index, options in enumerate(choice_lists):
            if len(options) < 2:
                raise InputError(
                    f"inputs[{index}] has {len(options)} choice(s); give at least two to choose from"
                )
            check_texts(options, f"inputs[{index}]'s choices")

        prompt_pieces = encode_pieces(self.tokenizer, prompts, with_spans=False)
        flat_choices = [choice for options in choice_lists for choice in options]
        choice_pieces = iter(encode_pieces(self.tokenizer, flat_choices, with_spans=False))
        features, owners = [], []
        for index, options in enumerate(choice_lists):
            for _ in options:
                first, second, cut = truncate_pair(
                    prompt_pieces[index].ids, next(choice_pieces).ids, self.max_length - 3
                )
                if cut:
                    detail = (
                        f"with one of its choices is longer than the model's window of {self.max_length} tokens "
                        "and was truncated"
                    )
                    warnings.warn(TruncationWarning(index, detail), stacklevel=2)
                features.append(build_inputs(self.tokenizer, first, second))
                owners.append(index)
        outputs = self.run(features, lambda output, batch: {"logit": output.logits.reshape(-1)})

        logits_per_prompt: list[list[float]] = [[] for _ in prompts]
        for owner, output in zip(owners, outputs):
            logits_per_prompt[owner].append(float(output["logit"]))
        results = []
        for options, logits in zip(choice_lists, logits_per_prompt):
            scores = np.exp(np.asarray(logits, np.float64) - max(logits))
            scores /= scores.sum()
            results.append([
                {"choice": choice, "index": position, "score": float(score)}
                for position, (choice, score) in enumerate(zip(options, scores))
            ])  # fmt: skip
        return results[0] if single else results


def _collect(prompt: Any, choices: Any) -> tuple[list[str], list[list[str]], bool]:
    """(prompts, their choices, whether one prompt was given) from the accepted call forms."""
    if choices is not None:
        if isinstance(choices, str):
            raise InputError("choices must be a list of strings, not one string")
        if not isinstance(prompt, str):
            raise InputError("with choices=..., give one prompt as a string")
        return [prompt], [list(choices)], True
    records = [prompt] if isinstance(prompt, Mapping) else prompt
    if isinstance(records, str) or not isinstance(records, Sequence):
        raise InputError("give the choices: pipe(prompt, choices=[...]) or {'prompt': ..., 'choices': [...]}")
    prompts, choice_lists = [], []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping) or "prompt" not in record or "choices" not in record:
            raise InputError(f"inputs[{index}] should be {{'prompt': ..., 'choices': [...]}}, got {record!r}")
        if isinstance(record["choices"], str):
            raise InputError(f"the choices of inputs[{index}] must be a list of strings, not one string")
        prompts.append(record["prompt"])
        choice_lists.append(list(record["choices"]))
    return prompts, choice_lists, isinstance(prompt, Mapping)
