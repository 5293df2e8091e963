"""Fill-mask: the most likely pieces for every [MASK] in a text, as the model cards show them.

``unmasker("Hello I'm a [MASK] model.")`` gives, best first, records such as
``{"sequence": "hello i'm a modeling model.", "score": 0.05, "token": 12807, "token_str": "modeling"}``.

``sequence`` is transformers' (the filled ids decoded, so lowercased as the vocabulary is); a text
with several masks keeps the others as ``[MASK]``, spaced as they were in the text. Two choices
differ from transformers' fill-mask pipeline, both so that no answer is quietly wrong:

- A target word of several pieces is scored as a whole (see :meth:`FillMaskPipeline.__call__`),
  not by its first piece.
- Predictions that read as nothing (the bare "▁" piece) are never shown: the next best is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..modeling import AlbertForMaskedLM, AlbertForPreTraining
from ..wordpiece import AlbertWordPieceTokenizer
from .base import Pipeline, as_list, build_inputs, check_texts, encode_pieces
from .options import FillMaskOptions, with_options
from .texts import Pieces

Prediction = dict[str, Any]
#: Candidates looked at beyond ``top_k`` when some of the best pieces read as nothing.
_SPARE_CANDIDATES = 16


@dataclass(frozen=True)
class Target:
    """One word to score: its pieces (ids, in order) and how it reads when filled in."""

    ids: tuple[int, ...]
    text: str
    starts_word: bool  # its first piece carries "▁": a space before it where the text has none


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
        self.options = FillMaskOptions(top_k=top_k, targets=targets)

    @property
    def top_k(self) -> int:
        """Predictions per mask when a call does not say."""
        return self.options.top_k

    @property
    def targets(self) -> Sequence[str] | str | None:
        """The words scored when a call does not say (None: the whole vocabulary)."""
        return self.options.targets

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
            targets: only score these words. A word of one piece scores its probability at the
                mask. A word of k pieces (``"carpenter"`` -> ``▁car p ent er``) is scored as the
                original pretraining saw whole words masked (n-gram masking, ALBERT paper
                section 4.1): the mask becomes k masks, and the score is the product of each
                piece's probability with the pieces before it filled in, left to right
                (k forward passes). A piece written with its "▁" (``"▁car"``) is used as it is.

        Returns:
            For one text with one mask, a list of ``{sequence, score, token, token_str}`` best
            first; with several masks, one such list per mask (in text order), each filling its
            own mask and leaving the others as written. A list of texts gives a list of those.
            ``sequence`` is the input with that mask filled; ``token_str`` is never empty
            (pieces that read as nothing are passed over for the next best). For a target of
            several pieces, ``token`` is its first piece and ``tokens`` lists them all.

        Raises:
            InputError: a text has no mask, is empty, or (with its target's pieces in place) is
                longer than the model's window; a target with no text or with special tokens
                inside.
            OptionError: ``top_k`` below 1.
        """
        texts, single = as_list(inputs)
        check_texts(texts)
        results = self.infer(texts, encode_pieces(self.tokenizer, texts), top_k=top_k, targets=targets)
        return results[0] if single else results

    def infer(
        self, texts: Sequence[str], all_pieces: Sequence[Pieces], *, top_k: int | None = None,
        targets: Sequence[str] | str | None = None,
    ) -> list:  # fmt: skip
        """Fill the masks of ``texts``, given as their pieces with spans (:func:`encode_pieces`), as
        :meth:`__call__` does for a list (the service's model process calls this with what its HTTP
        side encoded); raises what :meth:`__call__` raises for the texts' lengths, masks and targets."""
        options = with_options(self.options, {"top_k": top_k, "targets": targets}, none_keeps=True)
        top_k = options.top_k
        chosen = self._targets(options.targets)
        if chosen is not None:
            top_k = min(top_k, len(chosen))

        longest_target = max((len(target.ids) for target in chosen or ()), default=1)
        for index, pieces in enumerate(all_pieces):
            self._check_fits(index, texts[index], pieces, longest_target)
        features = [build_inputs(self.tokenizer, pieces.ids) for pieces in all_pieces]
        outputs = self.run(features, self._mask_logits)
        if chosen is None:
            masks = [pieces.ids.count(self.tokenizer.mask_token_id) for pieces in all_pieces]
            # rows past a text's own masks are the batch's padding
            scored = [self._best_pieces(output["logits"][:count], top_k) for output, count in zip(outputs, masks)]
        else:
            scored = self._target_scores(list(all_pieces), outputs, chosen, top_k)
        return [
            self._records(text, pieces, per_mask)
            for text, pieces, per_mask in zip(texts, all_pieces, scored)
        ]

    # -- checks --------------------------------------------------------------------------------
    def _check_fits(self, index: int, text: str, pieces: Pieces, longest_target: int) -> None:
        mask = self.tokenizer.mask_token
        if self.tokenizer.mask_token_id not in pieces.ids:
            raise InputError(
                f"inputs[{index}] has no {mask} token: {_preview(text)!r}; write {mask} where a word should be "
                "predicted"
            )
        length = len(pieces) + 2 + longest_target - 1
        if length > self.max_length:
            with_target = f" with the longest target's {longest_target} pieces in place" if longest_target > 1 else ""
            raise InputError(
                f"inputs[{index}] is {length} tokens long{with_target}, more than the model's window of "
                f"{self.max_length}; shorten it around the {mask}"
            )

    def _targets(self, targets: Sequence[str] | str | None) -> list[Target] | None:
        """The words to score for ``targets`` (unique, in order), or None for the whole vocabulary.

        Raises:
            InputError: a target with no pieces, one that reads as nothing, or special tokens
                inside a word; an empty list.
        """
        if targets is None:
            return None
        if isinstance(targets, str):
            targets = [targets]
        vocab = self.tokenizer.get_vocab()
        special = set(self.tokenizer.all_special_tokens)
        chosen: dict[tuple[int, ...], Target] = {}
        for target in targets:
            if not isinstance(target, str):
                raise InputError(f"targets must be words (strings), got {target!r}")
            if target in vocab and (target.startswith("\u2581") or target in special):
                pieces = [target]  # a piece of the vocabulary, as it is written there
            else:
                pieces = self.tokenizer.tokenize(target)
            ids = tuple(self.tokenizer.convert_tokens_to_ids(pieces))
            text = self.tokenizer.decode(list(ids)).strip() if ids else ""
            if not text:
                raise InputError(
                    f"the target {target!r} reads as nothing (pieces {pieces}): give a word, or leave targets "
                    "out to score every piece"
                )
            if len(pieces) > 1 and special.intersection(pieces):
                raise InputError(
                    f"the target {target!r} holds special tokens ({', '.join(sorted(special.intersection(pieces)))})"
                    ": give a plain word"
                )
            chosen.setdefault(ids, Target(ids, text, self._starts_word(pieces[0])))
        if not chosen:
            raise InputError("targets is empty; give at least one word, or leave targets out to score every piece")
        return list(chosen.values())

    # -- scoring -------------------------------------------------------------------------------
    def _best_pieces(self, mask_logits: np.ndarray, top_k: int) -> list[list[tuple[float, Target]]]:
        """The ``top_k`` most likely pieces at each mask that read as something, best first."""
        per_mask = []
        for logits in mask_logits:
            probabilities = torch.softmax(torch.from_numpy(logits), dim=-1)
            # A few spare candidates cover the pieces that read as nothing; all of them only if needed.
            for wanted in (min(top_k + _SPARE_CANDIDATES, probabilities.numel()), probabilities.numel()):
                scores, tokens = probabilities.topk(wanted)
                best: list[tuple[float, Target]] = []
                for score, token in zip(scores.tolist(), tokens.tolist()):
                    piece = self._piece(token)
                    if piece is not None:
                        best.append((score, piece))
                        if len(best) == top_k:
                            break
                if len(best) == top_k:
                    break
            per_mask.append(best)
        return per_mask

    def _piece(self, token: int) -> Target | None:
        """One piece as a target, or None when it reads as nothing (the bare "▁")."""
        text = self.tokenizer.decode([token])
        if not text.strip():
            return None
        return Target((token,), text.strip(), self._starts_word(self.tokenizer.convert_ids_to_tokens(token)))

    def _starts_word(self, piece: str) -> bool:
        """Whether ``piece`` begins a word: SentencePiece marks word starts ("▁the"), WordPiece
        (the Chinese releases) marks the rest ("##s")."""
        if isinstance(self.tokenizer, AlbertWordPieceTokenizer):
            return not piece.startswith("##")
        return piece.startswith("\u2581")

    def _target_scores(
        self, all_pieces: list[Pieces], outputs: list[dict[str, np.ndarray]], targets: list[Target], top_k: int
    ) -> list[list[list[tuple[float, Target]]]]:
        """Each target's score at each mask of each text, the best ``top_k`` per mask.

        One-piece targets read the first pass's scores; a target of k pieces needs k more
        inputs per mask (its pieces filled in one more at a time), all run in one batched pass.
        """
        mask_id = self.tokenizer.mask_token_id
        log_scores: dict[tuple[int, int, int], float] = {}  # (text, mask, target) -> log probability
        features, wanted = [], []  # wanted[f]: (text, mask, target, piece id scored at that mask)
        for text, pieces in enumerate(all_pieces):
            positions = [position for position, piece in enumerate(pieces.ids) if piece == mask_id]
            probabilities = torch.log_softmax(torch.from_numpy(outputs[text]["logits"][: len(positions)]), dim=-1)
            for mask, position in enumerate(positions):
                for number, target in enumerate(targets):
                    if len(target.ids) == 1:
                        log_scores[text, mask, number] = float(probabilities[mask, target.ids[0]])
                        continue
                    for step, piece in enumerate(target.ids):
                        left = len(target.ids) - step  # masks still open, the first of them scored now
                        ids = [*pieces.ids[:position], *target.ids[:step], *[mask_id] * left,
                               *pieces.ids[position + 1 :]]  # fmt: skip
                        features.append(build_inputs(self.tokenizer, ids))
                        # the scored mask is the row's mask number `mask`: the masks before it are the text's own
                        wanted.append((text, mask, number, piece))
        if features:
            ordinals = torch.tensor([row[1] for row in wanted], device=self.device)
            pieces_wanted = torch.tensor([row[3] for row in wanted], device=self.device)

            def read(output: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
                index = batch["feature_index"]
                logits = output[torch.arange(len(index), device=output.device), ordinals[index]].float()  # (B, V)
                chosen = torch.log_softmax(logits, dim=-1).gather(1, pieces_wanted[index, None])
                return {"log_score": chosen[:, 0]}

            for (text, mask, number, _), result in zip(wanted, self.run(features, read)):
                key = (text, mask, number)
                log_scores[key] = log_scores.get(key, 0.0) + float(result["log_score"])

        scored = []
        for text, pieces in enumerate(all_pieces):
            per_mask = []
            for mask in range(pieces.ids.count(mask_id)):
                ranked = sorted(
                    ((math.exp(log_scores[text, mask, number]), target) for number, target in enumerate(targets)),
                    key=lambda pair: -pair[0],
                )
                per_mask.append(ranked[:top_k])
            scored.append(per_mask)
        return scored

    # -- records -------------------------------------------------------------------------------
    def _records(self, text: str, pieces: Pieces, per_mask: list[list[tuple[float, Target]]]) -> list:
        """The records of one text; one list per mask, or the list itself for a single mask."""
        records = [
            [self._record(text, pieces, number, target, score) for score, target in ranked]
            for number, ranked in enumerate(per_mask)
        ]
        return records[0] if len(records) == 1 else records

    def _record(self, text: str, pieces: Pieces, mask_number: int, target: Target, score: float) -> Prediction:
        """A prediction as transformers writes it; ``tokens`` too for a target of several pieces."""
        record: Prediction = {
            "sequence": self._sequence(text, pieces, mask_number, target),
            "score": score,
            "token": target.ids[0],
            "token_str": target.text,
        }
        if len(target.ids) > 1:
            record["tokens"] = list(target.ids)
        return record

    def _sequence(self, text: str, pieces: Pieces, mask_number: int, target: Target) -> str:
        """The ids with mask ``mask_number`` filled, decoded as transformers decodes them. Other
        masks stay ``[MASK]``, with a space before one where the text has one and after one where
        the next piece starts a word: decoding the ids whole glues a special token to its
        neighbours (``"and[MASK]there."``). Other special tokens are left out, as transformers
        leaves them out of a one-mask sequence."""
        mask_id, mask = self.tokenizer.mask_token_id, self.tokenizer.mask_token
        filled: list[int] = []
        other_masks: list[int] = []  # positions of the masks left in ``filled``
        number = 0
        for piece in pieces.ids:
            if piece != mask_id:
                filled.append(piece)
                continue
            if number == mask_number:
                filled.extend(target.ids)
            else:
                other_masks.append(len(filled))
                filled.append(piece)
            number += 1
        if not other_masks:  # transformers' sequence: special tokens (a predicted [CLS]) left out
            return self.tokenizer.decode(filled, skip_special_tokens=True)
        mask_starts = [start for piece, (start, _) in zip(pieces.ids, pieces.spans) if piece == mask_id]
        left = [start for index, start in enumerate(mask_starts) if index != mask_number]
        sequence, run = "", []
        for position, filled_id in enumerate([*filled, None]):
            if filled_id is not None and position not in other_masks:
                run.append(filled_id)
                continue
            if run:
                first = self.tokenizer.convert_ids_to_tokens(run[0])
                glue = " " if sequence and self._starts_word(first) else ""
                sequence += glue + self.tokenizer.decode(run, skip_special_tokens=True)
                run = []
            if filled_id is not None:
                start = left[other_masks.index(position)]
                glue = " " if sequence and start > 0 and text[start - 1].isspace() else ""
                sequence += glue + mask
        return sequence

    def forward(self, batch: dict[str, torch.Tensor], **options: Any) -> torch.Tensor:
        """The encoder, then the vocabulary head at the masked positions only: (B, most masks in
        a row, V). Scoring every position would cost S times the vocabulary projection (on a CPU
        a tenth of a short sentence's time) for scores nobody reads; the head works position by
        position, so the scores are the same."""
        model = self.model
        assert isinstance(model, (AlbertForMaskedLM, AlbertForPreTraining))  # accepted_classes, checked at load
        hidden = model.albert(**batch, **options).last_hidden_state  # (B, S, H)
        is_mask = batch["input_ids"] == self.tokenizer.mask_token_id
        logits = model.masked_logits(hidden, is_mask)  # (M, V), row by row
        per_row = logits.split(is_mask.sum(dim=1).tolist())
        return torch.nn.utils.rnn.pad_sequence(per_row, batch_first=True)  # (B, most masks in a row, V)

    @staticmethod
    def _mask_logits(output: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": output}


def _preview(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
