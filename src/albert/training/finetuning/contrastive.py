"""Contrastive objectives for sentence embeddings: what ``albert finetune --task sentence-embeddings`` trains.

* pairs (anchor, positive), optionally with a hard negative: the multiple-negatives ranking loss
  (Henderson et al. 2017, "Efficient Natural Language Response Suggestion"; sentence-transformers'
  ``MultipleNegativesSymmetricRankingLoss``): each anchor must pick its own positive among every
  positive and hard negative of the batch, and each positive its own anchor among the anchors;
  the two cross-entropies are averaged. Similarities are cosines times ``scale`` (20, as
  sentence-transformers).
* scored pairs: CoSENT (Su 2022; sentence-transformers' ``CoSENTLoss``): every two pairs whose
  scores are ordered must have cosines in the same order, ``log(1 + sum exp(scale (cos_j - cos_i)))``
  over pairs with ``score_i > score_j``; only the order of the scores counts, so 0..1 and 0..5
  scales train alike.
* Matryoshka (Kusupati et al. 2022, "Matryoshka Representation Learning"): the loss is summed over
  the prefixes ``embeddings[..., :d]`` of each listed dimension, each normalised on its own, so
  that each prefix works alone.

Under DistributedDataParallel the vectors of every process are gathered (with their gradients,
:func:`gather_rows`), so the in-batch negatives are those of the global batch: the loss, and the
update, are one process's on the same batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...pipelines.embeddings import pool, truncate_and_normalize

#: The similarity scale of both losses (sentence-transformers' default).
DEFAULT_SCALE = 20.0


def multiple_negatives_ranking_loss(anchors: torch.Tensor, positives: torch.Tensor,
                                    negatives: torch.Tensor | None = None, scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """The symmetric multiple-negatives ranking loss of normalised ``(B, H)`` vectors: the mean of
    cross-entropy(anchor i -> positive i among the positives and ``negatives``) and
    cross-entropy(positive i -> anchor i among the anchors)."""
    targets = torch.arange(anchors.shape[0], device=anchors.device)
    candidates = positives if negatives is None else torch.cat([positives, negatives])
    forward = F.cross_entropy(scale * anchors @ candidates.T, targets)
    backward = F.cross_entropy(scale * positives @ anchors.T, targets)
    return (forward + backward) / 2


def cosent_loss(first: torch.Tensor, second: torch.Tensor, scores: torch.Tensor,
                scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """CoSENT of normalised ``(B, H)`` vector pairs and their ``(B,)`` scores:
    ``log(1 + sum over score_i > score_j of exp(scale * (cos_j - cos_i)))``."""
    cosines = scale * (first * second).sum(dim=-1)
    differences = cosines[None, :] - cosines[:, None]  # [i, j] = cos_j - cos_i
    ordered = scores[:, None] > scores[None, :]  # pairs i, j whose cosines must be ordered as i > j
    differences = differences.masked_fill(~ordered, float("-inf"))
    return torch.logsumexp(torch.cat([differences.new_zeros(1), differences.flatten()]), dim=0)


def contrastive_loss(embeddings: torch.Tensor, scores: torch.Tensor | None, dimensions: Sequence[int | None],
                     scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """The loss of a batch of pooled ``(B, R, H)`` vectors (R texts an example: anchor, positive
    and an optional hard negative), summed over the Matryoshka ``dimensions`` (``[None]``: the whole
    vector): CoSENT when ``scores`` are given, else the multiple-negatives ranking loss."""
    total = embeddings.new_zeros((), dtype=torch.float32)
    for dimension in dimensions:
        vectors = truncate_and_normalize(embeddings.float(), dimension, normalize=True)
        if scores is not None:
            total = total + cosent_loss(vectors[:, 0], vectors[:, 1], scores, scale)
        else:
            negatives = vectors[:, 2] if vectors.shape[1] > 2 else None
            total = total + multiple_negatives_ranking_loss(vectors[:, 0], vectors[:, 1], negatives, scale)
    return total


# -- the encoder and the objective ------------------------------------------------------------------


@dataclass
class SentenceEncoderOutput:
    """Pooled vectors ``(B, R, H)`` (not normalised: a Matryoshka prefix is normalised on its own)."""

    embeddings: torch.Tensor
    loss: torch.Tensor | None = None


class SentenceEncoder(nn.Module):
    """An encoder (``AlbertModel``) and its pooling: ``(B, R, S)`` inputs, R texts an example, to
    ``(B, R, H)`` vectors, pooled by the embeddings pipeline's :func:`~albert.pipelines.embeddings.pool`
    (so training, evaluation and inference pool alike)."""

    def __init__(self, model: nn.Module, pooling: str) -> None:
        super().__init__()
        self.model, self.pooling = model, pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                **ignored: Any) -> SentenceEncoderOutput:
        shape = input_ids.shape
        flat = {"input_ids": input_ids.reshape(-1, shape[-1]), "attention_mask": attention_mask.reshape(-1, shape[-1])}
        if token_type_ids is not None:
            flat["token_type_ids"] = token_type_ids.reshape(-1, shape[-1])
        hidden = self.model(**flat).last_hidden_state
        pooled = pool(hidden, flat["attention_mask"], self.pooling)
        return SentenceEncoderOutput(pooled.reshape(*shape[:-1], pooled.shape[-1]))


class ContrastiveObjective(nn.Module):
    """Fine-tuning's objective for sentence embeddings: :func:`contrastive_loss` of the batch's
    vectors, gathered from every process when ``distributed`` (a process whose part of the step is
    a placeholder row, ``placeholder_row`` given, adds no rows)."""

    def __init__(self, encoder: SentenceEncoder, dimensions: Sequence[int | None], scale: float,
                 distributed: bool = False) -> None:
        super().__init__()
        self.encoder, self.dimensions, self.scale, self.distributed = encoder, list(dimensions), scale, distributed

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, placeholder_row: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        embeddings = self.encoder(input_ids, attention_mask, token_type_ids).embeddings
        if placeholder_row is not None:
            embeddings = embeddings[:0]
            labels = labels[:0] if labels is not None else None
        if self.distributed:
            embeddings = gather_rows(embeddings)
            if labels is not None:
                labels = gather_rows(labels.detach())
        return {"loss": contrastive_loss(embeddings, labels, self.dimensions, self.scale)}


# -- gathering across processes ---------------------------------------------------------------------


class _GatherRows(torch.autograd.Function):
    """All processes' rows, in rank order, on every process; the gradient of a process's own
    rows is the sum of every process's gradient for them (each computes the loss of all rows)."""

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor) -> torch.Tensor:
        world_size, rank = dist.get_world_size(), dist.get_rank()
        count = torch.tensor([rows.shape[0]], device=rows.device)
        counts = [torch.zeros_like(count) for _ in range(world_size)]
        dist.all_gather(counts, count)
        sizes = [int(size) for size in counts]
        widest = max(sizes)
        padded = rows.new_zeros((widest, *rows.shape[1:]))
        padded[:rows.shape[0]] = rows
        parts = [torch.empty_like(padded) for _ in range(world_size)]
        dist.all_gather(parts, padded.contiguous())
        ctx.start, ctx.count = sum(sizes[:rank]), rows.shape[0]
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        gradient = gradient.contiguous().clone()
        dist.all_reduce(gradient)
        return gradient[ctx.start:ctx.start + ctx.count]


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Every process's ``rows`` (their first dimensions may differ), concatenated in rank order,
    with gradients flowing back to each process's own rows."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows
    if not rows.requires_grad:
        with torch.no_grad():
            return _GatherRows.apply(rows)
    return _GatherRows.apply(rows)
