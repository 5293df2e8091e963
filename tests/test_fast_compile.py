"""``compile_fast``: compiled layers compute what eager ones do, and a CPU model is left eager
unless compiling there is asked for."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import tiny_config

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
