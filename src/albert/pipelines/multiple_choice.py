"""Multiple choice: how well each candidate continues or answers a prompt (SWAG, RACE, COPA).

Encoding and decoding are :class:`~albert.codecs.multiple_choice.MultipleChoiceCodec`'s (what
fine-tuning uses too): each (prompt, choice) pair is one model input, ``[CLS] prompt [SEP] choice
[SEP]``, cut by transformers' ``longest_first``; a softmax over one prompt's logits gives the
scores. Pairs are batched by length like every other input, so prompts with different numbers of
choices mix freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..codecs.base import Encoded
from ..codecs.multiple_choice import MultipleChoiceCodec
from ..errors import InputError
from ..modeling import AlbertForMultipleChoice
from .base import Pipeline, check_texts, warn_truncated


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

        encoded = self.codec.encode(prompts, choice_lists)
        warn_truncated(
            encoded,
            f"with one of its choices is longer than the model's window of {self.max_length} tokens "
            "and was truncated",
        )
        results = self.infer(encoded, choice_lists)
        return results[0] if single else results

    @property
    def codec(self) -> MultipleChoiceCodec:
        """How this pipeline (and fine-tuning) encodes prompts with choices and decodes logits."""
        return MultipleChoiceCodec(self.tokenizer, self.max_length)

    def infer(
        self, encoded: Sequence[Encoded], choice_lists: Sequence[Sequence[str]]
    ) -> list[list[dict[str, Any]]]:
        """Run the model on inputs :attr:`codec` encoded and score each prompt's choices (the
        service's model process calls this with what its HTTP side encoded)."""
        outputs = self.run_encoded(encoded, lambda output, batch: {"logit": output.logits.reshape(-1)})
        return [
            self.codec.decode(choices, [float(row["logit"]) for row in rows])
            for choices, rows in zip(choice_lists, outputs)
        ]


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
