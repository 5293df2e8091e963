"""LAMB: layer-wise adaptive moments (You et al., 2019, "Large Batch Optimization for Deep Learning:
Training BERT in 76 minutes"), the optimizer ALBERT was pretrained with (paper section 4.1).

For each parameter tensor ``w`` with gradient ``g``, at step ``t``::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    u = m_hat / (sqrt(v_hat) + eps) + weight_decay * w      m_hat, v_hat: bias-corrected m, v
    r = ||w|| / ||u||   (1 when either norm is 0)           the trust ratio
    w = w - lr * r * u

Parameter groups carry ``weight_decay`` and ``trust_ratio`` (bool): ALBERT excludes LayerNorm
parameters and biases from both (see :func:`albert.training.optim.parameter_groups`).
``bias_correction=False`` reproduces google-research/albert's TF implementation, which has none.

The update runs with torch's ``_foreach`` kernels over all tensors of a group at once (one
launch per operation instead of one per tensor, and no host-device synchronisation: the trust
ratios stay on the device).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, overload

import torch
from torch.optim import Optimizer

from ..errors import OptionError


class Lamb(Optimizer):
    """LAMB as a ``torch.optim.Optimizer``.

    Args:
        params: parameters or parameter groups (groups may set ``weight_decay`` and ``trust_ratio``).
        lr: learning rate (ALBERT: 0.00176 at batch 4096).
        betas: Adam's moment decay rates.
        eps: added to the denominator (ALBERT: 1e-6).
        weight_decay: decoupled weight decay, added to the update before the trust ratio (0.01).
        trust_ratio: scale each tensor's update by ``||w|| / ||update||``.
        bias_correction: divide the moments by ``1 - beta**t`` as in the LAMB paper.
        foreach: use the multi-tensor kernels (default: yes, unless tensors are on different devices).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        trust_ratio: bool = True,
        bias_correction: bool = True,
        foreach: bool | None = None,
    ) -> None:
        if lr < 0:
            raise OptionError(f"learning rate must be >= 0, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise OptionError(f"betas must be in [0, 1), got {betas}")
        if eps <= 0:
            raise OptionError(f"eps must be > 0, got {eps}")
        if weight_decay < 0:
            raise OptionError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, trust_ratio=trust_ratio,
            bias_correction=bias_correction, foreach=foreach,
        )
        super().__init__(params, defaults)

    # The same overloads as torch.optim.Optimizer.step, plus the usual closure that returns the loss tensor.
    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @overload
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor: ...

    @torch.no_grad()
    def step(
        self, closure: Callable[[], float] | Callable[[], torch.Tensor] | None = None
    ) -> float | torch.Tensor | None:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs = [], [], [], []
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    # torch.optim's own error for a sparse gradient (albert's models have none)
                    raise RuntimeError("Lamb does not support sparse gradients; use dense embeddings")
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                params.append(param)
                grads.append(param.grad)
                exp_avgs.append(state["exp_avg"])
                exp_avg_sqs.append(state["exp_avg_sq"])
            if not params:
                continue
            # Tensors that joined later have fewer steps; bias correction needs each one's count.
            by_step: dict[int, list[int]] = {}
            for index, param in enumerate(params):
                by_step.setdefault(self.state[param]["step"], []).append(index)
            use_foreach = group["foreach"]
            if use_foreach is None:
                use_foreach = len({p.device for p in params}) == 1 and all(not p.is_sparse for p in params)
            update = _lamb_foreach if use_foreach else _lamb_single_tensor
            for step, indices in by_step.items():
                update(
                    [params[i] for i in indices],
                    [grads[i] for i in indices],
                    [exp_avgs[i] for i in indices],
                    [exp_avg_sqs[i] for i in indices],
                    step=step,
                    group=group,
                )
        return loss


def _bias_corrections(step: int, group: dict[str, Any]) -> tuple[float, float]:
    beta1, beta2 = group["betas"]
    if not group["bias_correction"]:
        return 1.0, 1.0
    return 1 - beta1**step, 1 - beta2**step


def _trust_ratios(weight_norms: torch.Tensor, update_norms: torch.Tensor) -> torch.Tensor:
    usable = (weight_norms > 0) & (update_norms > 0)
    return torch.where(usable, weight_norms / update_norms.clamp_min(torch.finfo(update_norms.dtype).tiny), 1.0)


def _lamb_foreach(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    *,
    step: int,
    group: dict[str, Any],
) -> None:
    beta1, beta2 = group["betas"]
    correction1, correction2 = _bias_corrections(step, group)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)  # m = beta1 m + (1 - beta1) g
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)

    denominators = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denominators, math.sqrt(correction2))
    torch._foreach_add_(denominators, group["eps"])
    updates = torch._foreach_div(exp_avgs, denominators)
    if correction1 != 1.0:
        torch._foreach_div_(updates, correction1)
    if group["weight_decay"]:
        torch._foreach_add_(updates, params, alpha=group["weight_decay"])
    if group["trust_ratio"]:
        weight_norms = torch.stack(torch._foreach_norm(params))
        update_norms = torch.stack(torch._foreach_norm(updates))
        torch._foreach_mul_(updates, list(_trust_ratios(weight_norms, update_norms).unbind()))
    torch._foreach_add_(params, updates, alpha=-group["lr"])


def _lamb_single_tensor(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    *,
    step: int,
    group: dict[str, Any],
) -> None:
    beta1, beta2 = group["betas"]
    correction1, correction2 = _bias_corrections(step, group)
    for param, grad, exp_avg, exp_avg_sq in zip(params, grads, exp_avgs, exp_avg_sqs):
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denominator = (exp_avg_sq.sqrt() / math.sqrt(correction2)).add_(group["eps"])
        update = exp_avg / correction1 / denominator
        if group["weight_decay"]:
            update.add_(param, alpha=group["weight_decay"])
        if group["trust_ratio"]:
            update.mul_(_trust_ratios(param.norm(), update.norm()))
        param.add_(update, alpha=-group["lr"])
