"""What every task's codec shares: the encoded form of an example, ``[CLS]``/``[SEP]`` assembly,
and texts (or pairs) cut to the window by the tokenizer's own ``longest_first``.

A codec turns one example into model inputs (features) and the model's outputs for them back
into records. Fine-tuning, evaluation, the pipelines, the service and the Spark stages all call
the same codec, so a model reads its inputs the same way wherever it runs. No torch here: the
service's HTTP side encodes with these and sends the features to the model's process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..encoding_assembly import truncate_pair
from .texts import encode_pieces

#: One model input row: ``input_ids`` and ``token_type_ids`` as plain lists.
Feature = dict[str, list[int]]


@dataclass
class Encoded:
    """One example as model inputs: its features (one per window, choice ...), what its codec
    needs to read the outputs back (``meta``), and whether the example was cut to fit."""

    features: list[Feature]
    meta: Any = None
    truncated: bool = False
    #: Real tokens of its features (the service's batch budget).
    tokens: int = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = sum(len(feature["input_ids"]) for feature in self.features)


class TruncationWarning(UserWarning):
    """An input longer than the model's window, cut to fit (classification, multiple choice).

    ``index`` is its position among the inputs of the call (from 0) and ``detail`` the rest of
    the message, so that a caller that knows more about the input (a Spark row) can say so.
    """

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(f"inputs[{index}] {detail}")
        self.index = index
        self.detail = detail


def build_inputs(tokenizer: Any, first: Sequence[int], second: Sequence[int] | None = None) -> Feature:
    """``[CLS] first [SEP]`` or ``[CLS] first [SEP] second [SEP]`` with ALBERT's segment ids."""
    input_ids = [tokenizer.cls_token_id, *first, tokenizer.sep_token_id]
    token_type_ids = [0] * len(input_ids)
    if second is not None:
        input_ids += [*second, tokenizer.sep_token_id]
        token_type_ids += [1] * (len(second) + 1)
    return {"input_ids": input_ids, "token_type_ids": token_type_ids}


def encode_pairs(
    tokenizer: Any, firsts: Sequence[str], seconds: Sequence[str | None], max_length: int
) -> list[tuple[Feature, bool]]:
    """``[CLS] first [SEP] (second [SEP])`` for each text (or pair), within ``max_length`` tokens,
    and whether it was cut.

    A text or pair that does not fit is cut by the tokenizer's own rule,
    :func:`~albert.encoding_assembly.truncate_pair` with ``longest_first``: one token at a time from
    the longer part, ties from the second, as transformers does, so the ids are the reference's.
    """
    first_ids = [pieces.ids for pieces in encode_pieces(tokenizer, firsts, with_spans=False)]
    paired = [index for index, second in enumerate(seconds) if second is not None]
    second_pieces = encode_pieces(tokenizer, [seconds[index] for index in paired], with_spans=False)  # type: ignore[misc]
    second_ids: dict[int, list[int]] = {index: pieces.ids for index, pieces in zip(paired, second_pieces)}
    results = []
    for index, first in enumerate(first_ids):
        second = second_ids.get(index)
        specials = 2 if second is None else 3  # [CLS] first [SEP] (second [SEP])
        cut = truncate_pair(
            first, second, max_length - specials, "longest_first", num_special_tokens=specials
        )
        results.append((build_inputs(tokenizer, cut.first, cut.second), cut.truncated))
    return results
