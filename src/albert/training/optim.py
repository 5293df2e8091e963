"""Optimizers and the learning-rate schedule for pretraining, and the paper's recipe as a named default.

ALBERT (paper section 4.1, google-research/albert ``run_pretraining.py``/``optimization.py``):
LAMB, learning rate 0.00176 at batch 4096, 125,000 steps, linear warmup over 3,125 steps then
linear decay to zero, weight decay 0.01 and eps 1e-6 with LayerNorm parameters and biases
excluded from decay (and from LAMB's trust ratio), gradients clipped to global norm 1.0,
sequences of 512 tokens (10% shorter), at most 20 masked predictions per sequence.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import OptionError
from .lamb import Lamb
from .recipes import DEFAULT_RECIPE, OPTIMIZERS, RECIPES, Recipe, get_recipe  # noqa: F401 (their old home)


def excluded_from_decay(name: str) -> bool:
    """LayerNorm parameters and biases get neither weight decay nor a LAMB trust ratio (as the
    reference's ``exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"]``)."""
    return "LayerNorm" in name or "layer_norm" in name or name.endswith("bias")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: matrices and embeddings (decayed, trust ratio), and LayerNorm/bias (neither).

    Tied parameters (the MLM decoder shares the word embeddings) appear once.
    """
    decayed: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
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
    raise OptionError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def warmup_linear_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rising linearly from 0 over ``warmup_steps``, then falling linearly to 0 at
    ``total_steps`` (the reference's polynomial decay with power 1)."""
    if total_steps < 1:
        raise OptionError(f"total_steps must be at least 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise OptionError(f"warmup_steps must be between 0 and total_steps ({total_steps}), got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
