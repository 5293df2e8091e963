"""Fill-mask: the most likely pieces for every [MASK] in a text, as the model cards show them.

``unmasker("Hello I'm a [MASK] model.")`` gives, best first, records such as
``{"sequence": "hello i'm a modeling model.", "score": 0.05, "token": 12807, "token_str": "modeling"}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..modeling import AlbertForMaskedLM, AlbertForPreTraining
from .base import Pipeline, as_list, build_inputs, check_texts, encode_pieces

Prediction = dict[str, Any]


class FillMaskPipeline(Pipeline):
    """Predict the pieces hidden behind ``[MASK]`` tokens.

    Args:
        top_k: how many predictions to return for each mask (default 5).
        targets: words (or pieces) to score instead of the whole vocabulary; see :meth:`__call__`.
        Other arguments: see :class:`~albert.pipelines.base.Pipeline`.
    """

    task = "fill-mask"
    model_class = AlbertForMaskedLM
    accepted_classes = (AlbertForMaskedLM, AlbertForPreTraining)

    def __init__(
        self, *args: Any, top_k: int = 5, targets: Sequence[str] | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.top_k = top_k
        self.targets = targets

    def __call__(
        self,
        inputs: str | Sequence[str],
        *,
        top_k: int | None = None,
        targets: Sequence[str] | str | None = None,
    ) -> list:
        """Fill the masks of one text or of a list of texts.

        Args:
            inputs: text(s) holding the tokenizer's mask token (``[MASK]``) once or more.
            top_k: predictions per mask (the pipeline's default when None).
            targets: only score these words; a word that is several pieces is scored by its
                first piece, with a warning. A piece written with its "▁" is used as it is.

        Returns:
            For one text with one mask, a list of ``{sequence, score, token, token_str}`` best
            first; with several masks, one such list per mask (in text order). A list of texts
            gives a list of those.

        Raises:
            ValueError: a text has no mask, is empty, or is longer than the model's window.
        """
        texts, single = as_list(inputs)
        check_texts(texts)
        top_k = self.top_k if top_k is None else top_k
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        target_ids = self._target_ids(self.targets if targets is None else targets)
        if target_ids is not None:
            top_k = min(top_k, len(target_ids))

        features = []
        for index, pieces in enumerate(encode_pieces(self.tokenizer, texts, with_spans=False)):
            if self.tokenizer.mask_token_id not in pieces.ids:
                raise ValueError(
                    f"input {index} has no {self.tokenizer.mask_token} token: {_preview(texts[index])!r}; "
                    f"write {self.tokenizer.mask_token} where a word should be predicted"
                )
            if len(pieces) + 2 > self.max_length:
                raise ValueError(
                    f"input {index} is {len(pieces) + 2} tokens long, more than the model's window of "
                    f"{self.max_length}; shorten it around the {self.tokenizer.mask_token}"
                )
            features.append(build_inputs(self.tokenizer, pieces.ids))

        outputs = self.run(features, self._mask_logits)
        results = [
            self._predictions(feature["input_ids"], output["logits"], top_k, target_ids)
            for feature, output in zip(features, outputs)
        ]
        return results[0] if single else results

    def _predictions(
        self,
        input_ids: list[int],
        mask_logits: np.ndarray,
        top_k: int,
        target_ids: list[int] | None,
    ) -> list:
        """Top predictions for each mask; ``mask_logits`` holds one row per mask, in order."""
        rows = [row for row, piece in enumerate(input_ids) if piece == self.tokenizer.mask_token_id]
        per_mask = []
        for row, logits in zip(rows, mask_logits):
            probabilities = torch.softmax(torch.from_numpy(logits), dim=-1)
            if target_ids is None:
                scores, tokens = probabilities.topk(top_k)
            else:
                candidates = torch.tensor(target_ids)
                scores, order = probabilities[candidates].topk(top_k)
                tokens = candidates[order]
            per_mask.append(
                [
                    self._prediction(input_ids, row, int(token), float(score))
                    for score, token in zip(scores, tokens)
                ]
            )
        return per_mask[0] if len(per_mask) == 1 else per_mask

    def _prediction(self, input_ids: list[int], row: int, token: int, score: float) -> Prediction:
        filled = list(input_ids)
        filled[row] = token
        # Keep other masks visible in the sequence: drop only [CLS], [SEP] and padding.
        framing = {self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id}
        sequence = self.tokenizer.decode([piece for piece in filled if piece not in framing])
        return {
            "sequence": sequence,
            "score": score,
            "token": token,
            "token_str": self.tokenizer.decode([token]),
        }

    def _target_ids(self, targets: Sequence[str] | str | None) -> list[int] | None:
        """Vocabulary ids to score for ``targets`` (unique, in order), or None for all."""
        if targets is None:
            return None
        if isinstance(targets, str):
            targets = [targets]
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            if target in vocab and (
                target.startswith("\u2581") or target in self.tokenizer.all_special_tokens
            ):
                piece_id = vocab[target]
            else:
                pieces = self.tokenizer.tokenize(target)
                if not pieces:
                    raise ValueError(f"the target {target!r} has no pieces at all; give a word")
                if len(pieces) > 1:
                    warnings.warn(
                        f"the target {target!r} is not one piece of the vocabulary (it is {pieces}); "
                        f"scoring its first piece {pieces[0]!r} instead",
                        UserWarning,
                        stacklevel=3,
                    )
                piece_id = self.tokenizer.convert_tokens_to_ids(pieces[0])
            if piece_id not in ids:
                ids.append(piece_id)
        if not ids:
            raise ValueError(
                "targets is empty; give at least one word, or leave targets out to score every piece"
            )
        return ids

    def forward(self, batch: dict[str, torch.Tensor], **options: Any) -> torch.Tensor:
        """The encoder, then the vocabulary head at the masked positions only: (B, most masks in
        a row, V). Scoring every position would cost S times the vocabulary projection (on a CPU
        a tenth of a short sentence's time) for scores nobody reads; the head works position by
        position, so the scores are the same."""
        hidden = self.model.albert(**batch, **options).last_hidden_state  # (B, S, H)
        is_mask = batch["input_ids"] == self.tokenizer.mask_token_id
        logits = self.model.masked_logits(hidden, is_mask)  # (M, V), row by row
        per_row = logits.split(is_mask.sum(dim=1).tolist())
        return torch.nn.utils.rnn.pad_sequence(per_row, batch_first=True)  # (B, most masks in a row, V)

    @staticmethod
    def _mask_logits(output: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": output}


def _preview(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
