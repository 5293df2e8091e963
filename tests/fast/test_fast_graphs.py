"""CUDA graphs for small batches (``albert.fast.graphs``).

The bucketing a graph needs (tokens padded to a bucket and kept apart as one extra sequence, a
power-of-two length bound) is checked here on the CPU by running it eagerly (``capture=False``):
real tokens must come out as the plain fast path and the reference give them. The capture itself
needs CUDA and is checked by the ``gpu`` tests at the end (``pytest -m gpu``).
"""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
import torch
from support.tiny import random_batch, tiny_config

from albert import AlbertForMaskedLM, AlbertModel
from albert.fast import accelerate, decelerate, packed_layout
from albert.fast.graphs import bucket_sizes, drop_cuda_graphs, graphed_encoder, use_cuda_graphs
from albert.fast.padding import sequences_layout


def _models(model_class=AlbertModel, **graph_options):
    torch.manual_seed(0)
    reference = model_class(tiny_config(num_hidden_groups=2, inner_group_num=2, num_hidden_layers=4)).eval()
    fast = accelerate(copy.deepcopy(reference))
    graphed = use_cuda_graphs(copy.deepcopy(reference), capture=False, **graph_options)
    return reference, fast, graphed


@pytest.mark.parametrize(
    ("num_tokens", "longest", "step", "expected"),
    [
        (960, 40, 128, (1024, 64)),  # padding sequence of 64 tokens sets the bound
        (1024, 50, 128, (1152, 128)),  # an exact multiple still gets a padding sequence
        (5, 5, 128, (128, 128)),
        (300, 200, 64, (320, 256)),  # the longest real row sets the bound
        (0, 0, 8, (8, 8)),
    ],
)
def test_bucket_sizes(num_tokens, longest, step, expected):
    tokens, bound = bucket_sizes(num_tokens, longest, step)
    assert (tokens, bound) == expected
    assert tokens > num_tokens and tokens % step == 0
    assert bound >= max(longest, tokens - num_tokens) and bound & (bound - 1) == 0


def test_sequences_layout_matches_the_layout_of_a_padded_batch():
    _, mask = random_batch([4, 1, 7, 3])
    padded = packed_layout(mask, *mask.shape, "cpu")
    rebuilt = sequences_layout(padded.cu_seqlens, padded.max_seqlen, padded.num_tokens)
    assert torch.equal(rebuilt.slots, padded.slots)
    assert torch.equal(rebuilt.key_mask, padded.key_mask)
    assert rebuilt.max_seqlen == 7 and rebuilt.batch_size == 4


@pytest.mark.parametrize("backend", ["padded", "nested"])
def test_bucketed_encoder_gives_the_real_tokens_what_the_fast_path_gives(backend):
    reference, fast, graphed = _models()
    for model in (fast, graphed):
        accelerate(model, backend)  # keeps the graph runner: only the kernel changes
    runner = graphed_encoder(graphed)
    batches = [[7, 3, 12], [5, 5, 2, 9, 1], [1], [16, 16, 16, 16, 16, 16, 16, 16]]  # the last: 128 tokens exactly
    with torch.no_grad():
        for lengths in batches:
            ids, mask = random_batch(lengths)
            segments = (torch.arange(ids.shape[1]) >= 2).long().expand_as(ids) * mask
            want = reference(ids, mask, token_type_ids=segments)
            eager = fast(ids, mask, token_type_ids=segments)
            got = graphed(ids, mask, token_type_ids=segments)
            real = mask.bool()
            torch.testing.assert_close(got.last_hidden_state[real], want.last_hidden_state[real], atol=1e-5, rtol=0)
            torch.testing.assert_close(got.last_hidden_state, eager.last_hidden_state, atol=1e-5, rtol=0)
            torch.testing.assert_close(got.pooler_output, want.pooler_output, atol=1e-5, rtol=0)
    assert runner.num_graphs == len(batches)  # one recording per (rows, token bucket, length bound)


def test_recordings_are_reused_and_the_least_recent_dropped():
    _, _, graphed = _models(token_step=64, max_graphs=2)
    runner = graphed_encoder(graphed)
    with torch.no_grad():
        graphed(*random_batch([3, 4]))
        graphed(*random_batch([5, 2], seed=1))  # same rows, same buckets: reused
        assert runner.num_graphs == 1
        graphed(*random_batch([3, 4, 5]))
        graphed(*random_batch([3]))
        assert runner.num_graphs == 2


def test_weights_changed_in_place_drop_the_recordings():
    reference, _, graphed = _models()
    runner = graphed_encoder(graphed)
    ids, mask = random_batch([6, 2, 9])
    with torch.no_grad():
        before = graphed(ids, mask).last_hidden_state
        for model in (reference, graphed):
            model.encoder.albert_layer_groups[0].albert_layers[0].attention.query.weight.mul_(1.5)
        after = graphed(ids, mask).last_hidden_state
        want = reference(ids, mask).last_hidden_state
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after[mask.bool()], want[mask.bool()], atol=1e-5, rtol=0)
    assert runner.num_graphs == 1


def test_calls_that_need_the_eager_path_do_not_use_recordings():
    reference, _, graphed = _models(AlbertForMaskedLM)
    runner = graphed_encoder(graphed)
    ids, mask = random_batch([6, 2, 9])
    real = mask.bool()
    out = graphed(ids, mask)  # gradients enabled
    out.logits.sum().backward()
    assert runner.num_graphs == 0
    with torch.no_grad():
        hidden = graphed(ids, mask, output_hidden_states=True)
        assert runner.num_graphs == 0 and len(hidden.hidden_states) == 5
        graphed.train()
        graphed(ids, mask)
        assert runner.num_graphs == 0
        graphed.eval()
        got = graphed(ids, mask).logits
        want = reference(ids, mask).logits
    assert runner.num_graphs == 1
    torch.testing.assert_close(got[real], want[real], atol=1e-5, rtol=0)


def test_capture_on_a_cpu_model_falls_back_to_the_eager_fast_path():
    torch.manual_seed(0)
    reference = AlbertModel(tiny_config()).eval()
    graphed = use_cuda_graphs(copy.deepcopy(reference))  # capture=True, but no CUDA here
    ids, mask = random_batch([4, 8])
    with torch.inference_mode():
        got, want = graphed(ids, mask).last_hidden_state, reference(ids, mask).last_hidden_state
    assert graphed_encoder(graphed).num_graphs == 0
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], atol=1e-5, rtol=0)


def test_a_failed_capture_warns_once_and_leaves_the_eager_fast_path(monkeypatch):
    reference, _, graphed = _models()
    runner = graphed_encoder(graphed)
    runner.capture = True
    monkeypatch.setattr(type(runner), "applies", lambda self, *args: self.enabled)

    def refuse(*args):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(type(runner), "_capture", refuse)
    ids, mask = random_batch([5, 3])
    with torch.no_grad(), pytest.warns(UserWarning, match="CUDA graph capture failed"):
        got = graphed(ids, mask).last_hidden_state
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        again = graphed(ids, mask).last_hidden_state  # no second warning: graphs are off
        want = reference(ids, mask).last_hidden_state
    assert not runner.enabled and runner.num_graphs == 0
    for output in (got, again):
        torch.testing.assert_close(output[mask.bool()], want[mask.bool()], atol=1e-5, rtol=0)


def test_graphed_models_copy_pickle_and_switch_off():
    _, _, graphed = _models()
    with torch.inference_mode():
        graphed(*random_batch([3, 3]))
    copied = copy.deepcopy(graphed)
    assert graphed_encoder(copied).num_graphs == 0 and graphed_encoder(graphed).num_graphs == 1
    restored = pickle.loads(pickle.dumps(graphed))  # as torch.save(model) does
    assert graphed_encoder(restored).num_graphs == 0
    ids, mask = random_batch([4, 2])
    with torch.no_grad():
        torch.testing.assert_close(restored(ids, mask).last_hidden_state, graphed(ids, mask).last_hidden_state)
    assert graphed_encoder(drop_cuda_graphs(copied)) is None
    assert graphed_encoder(decelerate(graphed)) is None
    with pytest.raises(ValueError, match="positive"):
        use_cuda_graphs(AlbertModel(tiny_config()), token_step=0)


# -- on a GPU (pytest -m gpu) ----------------------------------------------------------------------

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
def test_cuda_graphs_match_the_eager_fast_path_in_bf16():
    torch.manual_seed(0)
    config = tiny_config(hidden_size=128, num_attention_heads=2, intermediate_size=256)
    eager = accelerate(AlbertModel(config).eval().to("cuda", torch.bfloat16))
    graphed = use_cuda_graphs(copy.deepcopy(eager))
    runner = graphed_encoder(graphed)
    with torch.inference_mode():
        for seed, lengths in enumerate([[7, 3, 12], [9, 1, 4], [30, 2, 2, 2], [7, 3, 12]]):
            ids, mask = (t.cuda() for t in random_batch(lengths, seed=seed))
            want = eager(ids, mask).last_hidden_state
            got = graphed(ids, mask).last_hidden_state
            torch.testing.assert_close(got.float(), want.float(), atol=0.05, rtol=0)
    assert runner.enabled and runner.captures >= 2 and runner.num_graphs == runner.captures
    with torch.no_grad():
        graphed.encoder.embedding_hidden_mapping_in.weight.mul_(2)
        eager.encoder.embedding_hidden_mapping_in.weight.mul_(2)
        ids, mask = (t.cuda() for t in random_batch([5, 6]))
        torch.testing.assert_close(
            graphed(ids, mask).last_hidden_state.float(), eager(ids, mask).last_hidden_state.float(), atol=0.05, rtol=0
        )
