"""LAMB against a step computed by hand, its exclusions, the optimizer groups and the schedule."""

from __future__ import annotations

import io
import math

import pytest
import torch

from albert import AlbertConfig, AlbertForPreTraining
from albert.training.lamb import Lamb
from albert.training.optim import (
    RECIPES,
    build_optimizer,
    excluded_from_decay,
    parameter_groups,
    warmup_linear_decay,
)

WEIGHT = [[1.0, -2.0], [3.0, 0.5]]
GRAD = [[0.1, -0.2], [0.3, 0.4]]
BIAS = [0.5, -1.0]
BIAS_GRAD = [0.02, 0.01]


def _hand_step(weights, grads, lr, decay, trust, step=1, beta1=0.9, beta2=0.999, eps=1e-6, bias_correction=True):
    """One LAMB step from a zero state, with plain Python floats (You et al. 2019, Algorithm 2)."""
    flat_w = [w for row in weights for w in row] if isinstance(weights[0], list) else list(weights)
    flat_g = [g for row in grads for g in row] if isinstance(grads[0], list) else list(grads)
    updates = []
    for w, g in zip(flat_w, flat_g):
        m, v = (1 - beta1) * g, (1 - beta2) * g * g
        if bias_correction:
            m, v = m / (1 - beta1**step), v / (1 - beta2**step)
        updates.append(m / (math.sqrt(v) + eps) + decay * w)
    ratio = 1.0
    if trust:
        w_norm = math.sqrt(sum(w * w for w in flat_w))
        u_norm = math.sqrt(sum(u * u for u in updates))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
    return [w - lr * ratio * u for w, u in zip(flat_w, updates)]


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("bias_correction", [True, False])
def test_one_step_matches_the_hand_computed_update(foreach: bool, bias_correction: bool) -> None:
    weight = torch.tensor(WEIGHT, requires_grad=True)
    bias = torch.tensor(BIAS, requires_grad=True)
    optimizer = Lamb(
        [
            {"params": [weight], "weight_decay": 0.01, "trust_ratio": True},
            {"params": [bias], "weight_decay": 0.0, "trust_ratio": False},
        ],
        lr=0.1, eps=1e-6, bias_correction=bias_correction, foreach=foreach,
    )
    weight.grad, bias.grad = torch.tensor(GRAD), torch.tensor(BIAS_GRAD)
    optimizer.step()
    expected_weight = _hand_step(WEIGHT, GRAD, 0.1, 0.01, trust=True, bias_correction=bias_correction)
    expected_bias = _hand_step(BIAS, BIAS_GRAD, 0.1, 0.0, trust=False, bias_correction=bias_correction)
    assert weight.detach().flatten().tolist() == pytest.approx(expected_weight, rel=1e-6)
    assert bias.detach().tolist() == pytest.approx(expected_bias, rel=1e-6)


def test_trust_ratio_and_decay_change_the_step_only_where_enabled() -> None:
    results = {}
    for decay, trust in ((0.0, False), (0.01, False), (0.0, True)):
        weight = torch.tensor(WEIGHT, requires_grad=True)
        weight.grad = torch.tensor(GRAD)
        Lamb([{"params": [weight], "weight_decay": decay, "trust_ratio": trust}], lr=0.1).step()
        results[(decay, trust)] = weight.detach().flatten().tolist()
    plain = results[(0.0, False)]
    # without decay or trust ratio LAMB is Adam's first step: lr * sign(g) (up to eps)
    assert plain == pytest.approx([w - 0.1 * math.copysign(1, g) for w, g in zip(sum(WEIGHT, []), sum(GRAD, []))], rel=1e-5)
    assert results[(0.01, False)] != pytest.approx(plain, rel=1e-7)
    assert results[(0.0, True)] != pytest.approx(plain, rel=1e-7)


def test_zero_weights_get_a_trust_ratio_of_one() -> None:
    weight = torch.zeros(3, requires_grad=True)
    weight.grad = torch.tensor([1.0, -1.0, 0.5])
    Lamb([weight], lr=0.1, weight_decay=0.01).step()
    assert weight.detach().tolist() == pytest.approx([-0.1, 0.1, -0.1], rel=1e-5)


def test_foreach_and_per_tensor_paths_agree_over_several_steps() -> None:
    torch.manual_seed(0)
    shapes = [(4, 3), (7,), (2, 2, 2)]
    first = [torch.randn(shape, requires_grad=True) for shape in shapes]
    second = [p.detach().clone().requires_grad_() for p in first]
    fast = Lamb(first, lr=0.05, weight_decay=0.01, foreach=True)
    slow = Lamb(second, lr=0.05, weight_decay=0.01, foreach=False)
    for _ in range(5):
        for a, b in zip(first, second):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        fast.step()
        slow.step()
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_state_round_trips_through_a_saved_state_dict() -> None:
    weight = torch.tensor(WEIGHT, requires_grad=True)
    optimizer = Lamb([weight], lr=0.1, weight_decay=0.01)
    weight.grad = torch.tensor(GRAD)
    optimizer.step()
    copy = torch.tensor(WEIGHT, requires_grad=True)
    with torch.no_grad():
        copy.copy_(weight)
    restored = Lamb([copy], lr=0.1, weight_decay=0.01)
    saved = io.BytesIO()
    torch.save(optimizer.state_dict(), saved)
    saved.seek(0)
    restored.load_state_dict(torch.load(saved, weights_only=True))
    weight.grad, copy.grad = torch.tensor(GRAD), torch.tensor(GRAD)
    optimizer.step()
    restored.step()
    assert torch.equal(weight, copy)


def test_layernorm_and_biases_are_excluded_from_decay_and_trust_ratio() -> None:
    config = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=20, max_position_embeddings=16)
    model = AlbertForPreTraining(config)
    decayed, plain = parameter_groups(model, weight_decay=0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decayed["weight_decay"] == 0.01 and decayed["trust_ratio"] is True
    assert plain["weight_decay"] == 0.0 and plain["trust_ratio"] is False
    plain_names = {names[id(p)] for p in plain["params"]}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    assert all("LayerNorm" in n or "layer_norm" in n or n.endswith("bias") for n in plain_names)
    assert "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.weight" in plain_names
    assert "predictions.bias" in plain_names
    assert "albert.embeddings.word_embeddings.weight" in decayed_names
    assert not any(excluded_from_decay(n) for n in decayed_names)
    assert len(plain_names) + len(decayed_names) == len(list(model.parameters()))  # tied weights once


def test_adamw_uses_the_same_groups_without_trust_ratio() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    optimizer = build_optimizer(model, "adamw", learning_rate=1e-3)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]
    assert optimizer.defaults["eps"] == 1e-6
    with pytest.raises(ValueError, match="lamb, adamw"):
        build_optimizer(model, "sgd")


def test_schedule_warms_up_linearly_then_decays_to_zero() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = warmup_linear_decay(optimizer, warmup_steps=4, total_steps=12)
    rates = []
    for _ in range(12):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[4:] == pytest.approx([1.0 - k / 8 for k in range(8)])
    assert scheduler.get_last_lr()[0] == 0.0


def test_the_paper_recipe_is_named_and_complete() -> None:
    recipe = RECIPES["albert-paper"]
    assert (recipe.optimizer, recipe.learning_rate, recipe.batch_size) == ("lamb", 0.00176, 4096)
    assert (recipe.warmup_steps, recipe.steps, recipe.max_grad_norm) == (3125, 125_000, 1.0)
    assert (recipe.weight_decay, recipe.eps) == (0.01, 1e-6)
    assert recipe.warmup_fraction == pytest.approx(0.025)
