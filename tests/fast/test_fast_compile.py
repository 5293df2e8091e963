"""``compile_fast``: compiled layers compute what eager ones do, and a CPU model is left eager
unless compiling there is asked for."""

from __future__ import annotations

import copy

import pytest
import torch
from support.tiny import tiny_config

from albert import AlbertModel
from albert.fast import is_accelerated
from albert.fast.compile import compile_fast, is_compiled


def test_cpu_models_are_accelerated_but_not_compiled_by_default():
    model = compile_fast(AlbertModel(tiny_config()).eval())
    assert is_accelerated(model) and not is_compiled(model)


@pytest.mark.slow
def test_compiled_layers_match_reference_across_token_counts():
    torch.manual_seed(0)
    reference = AlbertModel(tiny_config(num_hidden_groups=1, inner_group_num=1)).eval()
    compiled = compile_fast(copy.deepcopy(reference), on_cpu=True)
    assert is_compiled(compiled)
    for lengths in ([7, 3, 12], [5, 5, 2, 9, 1]):
        width = max(lengths)
        mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
        ids = torch.randint(5, 400, (len(lengths), width)) * mask
        with torch.no_grad():
            want, got = reference(ids, mask), compiled(ids, mask)
        real = mask.bool()
        torch.testing.assert_close(got.last_hidden_state[real], want.last_hidden_state[real], atol=1e-4, rtol=0)


@pytest.mark.slow
def test_compiled_layers_train_like_eager_ones():
    """A pretraining step through compiled layers (fixed shapes, as the GPU benchmark compiles
    them) gives the eager fast path's loss and gradients."""
    from albert import AlbertForPreTraining
    from albert.fast import accelerate

    torch.manual_seed(0)
    no_dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    config = tiny_config(num_hidden_groups=1, inner_group_num=1, **no_dropout)  # same draws are not guaranteed
    eager = accelerate(AlbertForPreTraining(config).train())
    compiled = compile_fast(copy.deepcopy(eager), dynamic=False, on_cpu=True)
    ids = torch.randint(5, 400, (3, 16))
    labels = torch.where(torch.rand(3, 16) < 0.2, ids, torch.full_like(ids, -100))
    labels[0, 1] = ids[0, 1]  # at least one masked position
    order = torch.tensor([0, 1, 0])
    losses = []
    for model in (eager, compiled):
        loss = model(input_ids=ids, labels=labels, sentence_order_label=order).loss
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=0)
    for (name, want), got in zip(eager.named_parameters(), compiled.parameters()):
        if want.grad is not None:
            torch.testing.assert_close(got.grad, want.grad, atol=1e-5, rtol=1e-4, msg=name)
