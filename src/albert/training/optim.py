"""Optimizers and the learning-rate schedule for pretraining, and the paper's recipe as a named default.

ALBERT (paper section 4.1, google-research/albert ``run_pretraining.py``/``optimization.py``):
LAMB, learning rate 0.00176 at batch 4096, 125,000 steps, linear warmup over 3,125 steps then
linear decay to zero, weight decay 0.01 and eps 1e-6 with LayerNorm parameters and biases
excluded from decay (and from LAMB's trust ratio), gradients clipped to global norm 1.0,
sequences of 512 tokens (10% shorter), at most 20 masked predictions per sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .lamb import Lamb

OPTIMIZERS = ("lamb", "adamw")


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a pretraining run that are not the model's shape."""

    optimizer: str = "lamb"
    learning_rate: float = 0.00176
    batch_size: int = 4096
    steps: int = 125_000
    warmup_steps: int = 3_125
    weight_decay: float = 0.01
    eps: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    max_seq_length: int = 512
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20

    @property
    def warmup_fraction(self) -> float:
        """Warmup as a share of the run (2.5% in the paper), to scale it to shorter runs."""
        return self.warmup_steps / self.steps

    def to_dict(self) -> dict:
        return asdict(self)


#: The named recipes; ``albert pretrain --recipe NAME`` takes its defaults from one.
RECIPES: dict[str, Recipe] = {"albert-paper": Recipe()}
DEFAULT_RECIPE = "albert-paper"


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``. Raises ValueError naming the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None


def excluded_from_decay(name: str) -> bool:
    """LayerNorm parameters and biases get neither weight decay nor a LAMB trust ratio (as the
    reference's ``exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"]``)."""
    return "LayerNorm" in name or "layer_norm" in name or name.endswith("bias")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: matrices and embeddings (decayed, trust ratio), and LayerNorm/bias (neither).

    Tied parameters (the MLM decoder shares the word embeddings) appear once.
    """
    decayed, plain = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (plain if excluded_from_decay(name) else decayed).append(parameter)
    return [
        {"params": decayed, "weight_decay": weight_decay, "trust_ratio": True},
        {"params": plain, "weight_decay": 0.0, "trust_ratio": False},
    ]


def build_optimizer(
    model: nn.Module,
    name: str = "lamb",
    learning_rate: float = 0.00176,
    weight_decay: float = 0.01,
    eps: float = 1e-6,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """LAMB or AdamW over :func:`parameter_groups` (decoupled decay, LayerNorm/bias excluded)."""
    groups = parameter_groups(model, weight_decay)
    if name == "lamb":
        return Lamb(groups, lr=learning_rate, betas=betas, eps=eps)
    if name == "adamw":
        for group in groups:
            group.pop("trust_ratio")
        fused = all(p.is_cuda for group in groups for p in group["params"])
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=fused or None)
    raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def warmup_linear_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rising linearly from 0 over ``warmup_steps``, then falling linearly to 0 at
    ``total_steps`` (the reference's polynomial decay with power 1)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be between 0 and total_steps ({total_steps}), got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
