"""The fast (unpadded) path computes what the reference computes: same numbers at every real
token, same gradients, same checkpoints, for every head, with padding and several lengths."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from support.tiny import tiny_config

from albert import (
    AlbertForMaskedLM,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
    AlbertModel,
)
from albert.fast import accelerate, decelerate, is_accelerated, pack, packed_layout, unpack
from albert.fast.padding import from_slots, to_slots

TOL = 1e-4


def padded_batch(vocab_size: int, lengths: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded random ids with the given real lengths, and segment ids in the second half."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    ids = torch.randint(5, vocab_size, (len(lengths), width), generator=generator) * mask
    segments = (torch.arange(width)[None, :] >= torch.tensor(lengths)[:, None] // 2).long() * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": segments}


def pair(cls, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    reference = cls(tiny_config(vocab_size=99, **overrides)).eval()
    return reference, accelerate(copy.deepcopy(reference))


def assert_close_at_real(fast: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
    real = mask.bool()
    assert fast.shape == reference.shape
    torch.testing.assert_close(fast[real], reference[real], atol=TOL, rtol=0)


LENGTH_SETS = [[7, 3, 12, 1], [16, 16], [5], [2, 9, 9, 4, 11]]


# -- padding helpers ----------------------------------------------------------------------------

def test_pack_keeps_real_tokens_in_order_and_unpack_restores_them_with_zero_padding():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 0]])
    values = torch.arange(12.0).view(3, 4)
    layout = packed_layout(mask, 3, 4, "cpu")
    assert pack(values, layout).tolist() == [0.0, 1.0, 2.0, 4.0, 9.0, 10.0]
    assert layout.cu_seqlens.tolist() == [0, 3, 4, 6]
    assert layout.max_seqlen == 3
    assert unpack(pack(values, layout), layout).tolist() == (values * mask).tolist()


def test_slots_left_align_each_row_and_round_trip():
    mask = torch.tensor([[0, 1, 1], [1, 0, 0]])
    layout = packed_layout(mask, 2, 3, "cpu")
    packed = torch.tensor([10.0, 11.0, 20.0])
    slotted = to_slots(packed, layout)
    assert slotted.tolist() == [[10.0, 11.0], [20.0, 0.0]]
    assert layout.key_mask.tolist() == [[True, True], [True, False]]
    assert from_slots(slotted, layout).tolist() == packed.tolist()


def test_full_mask_and_no_mask_give_a_dense_layout():
    assert packed_layout(None, 2, 5, "cpu").is_dense
    assert packed_layout(torch.ones(2, 5), 2, 5, "cpu").is_dense


def test_mask_of_the_wrong_shape_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        packed_layout(torch.ones(2, 4), 2, 5, "cpu")


# -- forward exactness ----------------------------------------------------------------------------

@pytest.mark.parametrize("lengths", LENGTH_SETS)
@pytest.mark.parametrize("backend", ["padded", "nested", "flex"])
def test_base_model_matches_reference_at_every_real_token(lengths, backend):
    reference, fast = pair(AlbertModel)
    fast.set_attn_implementation("packed", backend)
    batch = padded_batch(99, lengths)
    with torch.no_grad():
        want = reference(**batch, output_hidden_states=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no silent fallback to another kernel
            got = fast(**batch, output_hidden_states=True)
    assert_close_at_real(got.last_hidden_state, want.last_hidden_state, batch["attention_mask"])
    torch.testing.assert_close(got.pooler_output, want.pooler_output, atol=TOL, rtol=0)
    assert len(got.hidden_states) == len(want.hidden_states) == reference.config.num_hidden_layers + 1
    for fast_states, reference_states in zip(got.hidden_states, want.hidden_states, strict=True):
        assert_close_at_real(fast_states, reference_states, batch["attention_mask"])


def test_padding_positions_hold_zeros():
    _, fast = pair(AlbertModel)
    batch = padded_batch(99, [6, 2])
    with torch.no_grad():
        states = fast(**batch).last_hidden_state
    assert torch.count_nonzero(states[~batch["attention_mask"].bool()]) == 0


def test_matches_transformers_on_the_same_checkpoint(make_tiny_model):
    transformers = pytest.importorskip("transformers")
    folder = make_tiny_model(AlbertModel, seed=3)
    theirs = transformers.AlbertModel.from_pretrained(folder, attn_implementation="sdpa").eval()
    ours = accelerate(AlbertModel.from_pretrained(folder))
    batch = padded_batch(theirs.config.vocab_size, [9, 4, 13, 2], seed=5)
    with torch.no_grad():
        want = theirs(**batch)
        got = ours(**batch)
    assert_close_at_real(got.last_hidden_state, want.last_hidden_state, batch["attention_mask"])
    torch.testing.assert_close(got.pooler_output, want.pooler_output, atol=TOL, rtol=0)


def test_inputs_embeds_and_explicit_position_ids_match_reference():
    reference, fast = pair(AlbertModel)
    batch = padded_batch(99, [5, 8])
    embeds = reference.embeddings.word_embeddings(batch["input_ids"])
    positions = torch.arange(8).flip(0)[None, :]
    with torch.no_grad():
        want = reference(inputs_embeds=embeds, attention_mask=batch["attention_mask"], position_ids=positions)
        got = fast(inputs_embeds=embeds, attention_mask=batch["attention_mask"], position_ids=positions)
    assert_close_at_real(got.last_hidden_state, want.last_hidden_state, batch["attention_mask"])


@pytest.mark.parametrize(
    "cls, fields",
    [
        (AlbertForMaskedLM, ["logits"]),
        (AlbertForSequenceClassification, ["logits"]),
        (AlbertForTokenClassification, ["logits"]),
        (AlbertForQuestionAnswering, ["start_logits", "end_logits"]),
        (AlbertForPreTraining, ["prediction_logits", "sop_logits"]),
    ],
)
def test_every_head_matches_reference(cls, fields):
    reference, fast = pair(cls, seed=1)
    batch = padded_batch(99, [10, 3, 7])
    with torch.no_grad():
        want, got = reference(**batch), fast(**batch)
    for name in fields:
        expected, actual = getattr(want, name), getattr(got, name)
        if expected.dim() >= 2 and expected.shape[:2] == batch["attention_mask"].shape:
            assert_close_at_real(actual, expected, batch["attention_mask"])
        else:
            torch.testing.assert_close(actual, expected, atol=TOL, rtol=0)


def test_masked_lm_loss_matches_reference():
    reference, fast = pair(AlbertForMaskedLM, seed=2)
    batch = padded_batch(99, [10, 4, 7])
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 3], labels[1, 1], labels[2, 6] = 11, 12, 13
    with torch.no_grad():
        torch.testing.assert_close(fast(**batch, labels=labels).loss, reference(**batch, labels=labels).loss)


def test_pretraining_scores_only_masked_positions_with_the_same_loss():
    reference, fast = pair(AlbertForPreTraining, seed=4)
    batch = padded_batch(99, [12, 6, 9])
    labels = torch.full_like(batch["input_ids"], -100)
    masked = [(0, 2), (0, 11), (1, 4), (2, 0), (2, 8)]
    for row, column in masked:
        labels[row, column] = 7 + row + column
    order = torch.tensor([0, 1, 1])
    with torch.no_grad():
        want = reference(**batch, labels=labels, sentence_order_label=order)
        got = fast(**batch, labels=labels, sentence_order_label=order)
    assert got.prediction_logits.shape == (len(masked), 99)
    rows, columns = zip(*masked, strict=True)
    torch.testing.assert_close(got.prediction_logits, want.prediction_logits[list(rows), list(columns)], atol=TOL, rtol=0)
    torch.testing.assert_close(got.loss, want.loss, atol=TOL, rtol=0)


def test_training_gradients_match_reference_with_gradient_checkpointing():
    no_dropout = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    reference, fast = pair(AlbertForPreTraining, seed=5, **no_dropout)
    reference.train()
    fast.train()
    fast.gradient_checkpointing_enable()
    batch = padded_batch(99, [11, 5, 8])
    labels = torch.where(batch["input_ids"] % 3 == 0, batch["input_ids"], torch.full_like(batch["input_ids"], -100))
    labels = labels.masked_fill(batch["attention_mask"] == 0, -100)
    order = torch.tensor([1, 0, 1])
    reference(**batch, labels=labels, sentence_order_label=order).loss.backward()
    fast(**batch, labels=labels, sentence_order_label=order).loss.backward()
    fast_grads = dict(fast.named_parameters())
    for name, parameter in reference.named_parameters():
        torch.testing.assert_close(fast_grads[name].grad, parameter.grad, atol=TOL, rtol=1e-3, msg=name)


# -- same model, same checkpoint --------------------------------------------------------------------

def test_accelerate_keeps_parameters_state_dict_and_checkpoint_format(tmp_path):
    reference, fast = pair(AlbertForMaskedLM)
    assert is_accelerated(fast) and not is_accelerated(reference)
    assert fast.state_dict().keys() == reference.state_dict().keys()
    fast.save_pretrained(tmp_path)
    reloaded = AlbertForMaskedLM.from_pretrained(tmp_path)
    assert reloaded.config.extra["architectures"] == ["AlbertForMaskedLM"]
    batch = padded_batch(99, [6, 3])
    with torch.no_grad():
        assert_close_at_real(reloaded(**batch).logits, reference(**batch).logits, batch["attention_mask"])


def test_decelerate_restores_the_reference_forward():
    reference, fast = pair(AlbertModel)
    decelerate(fast)
    assert not is_accelerated(fast)
    batch = padded_batch(99, [6, 3])
    with torch.no_grad():
        torch.testing.assert_close(fast(**batch).last_hidden_state, reference(**batch).last_hidden_state)


def test_fused_qkv_follows_in_place_weight_updates():
    reference, fast = pair(AlbertModel)
    batch = padded_batch(99, [6, 3])
    with torch.no_grad():
        fast(**batch)  # builds the cached fused matrix
        for model in (reference, fast):
            model.encoder.albert_layer_groups[0].albert_layers[0].attention.key.weight.mul_(1.5)
        assert_close_at_real(fast(**batch).last_hidden_state, reference(**batch).last_hidden_state, batch["attention_mask"])
    attention = fast.encoder.albert_layer_groups[0].albert_layers[0].attention
    with torch.no_grad():
        weight, _ = attention.fused_qkv()
    torch.testing.assert_close(weight[32:64], attention.key.weight)


# -- where the reference answers -----------------------------------------------------------------------

def test_output_attentions_is_answered_by_the_reference():
    reference, fast = pair(AlbertModel)
    batch = padded_batch(99, [6, 3])
    with torch.no_grad():
        got = fast(**batch, output_attentions=True)
        want = reference(**batch, output_attentions=True)
    assert len(got.attentions) == len(want.attentions) > 0
    torch.testing.assert_close(got.attentions[0], want.attentions[0])


def test_left_padding_under_a_pooler_gives_the_reference_result():
    reference, fast = pair(AlbertModel)
    batch = padded_batch(99, [6, 3])
    batch["attention_mask"] = batch["attention_mask"].flip(1)
    with torch.no_grad():
        torch.testing.assert_close(fast(**batch).pooler_output, reference(**batch).pooler_output)


def test_unavailable_kernel_warns_and_falls_back_to_exact_results():
    reference, fast = pair(AlbertModel)
    fast.set_attn_implementation("packed", "varlen")  # CUDA-only flash kernel
    batch = padded_batch(99, [6, 3])
    with torch.no_grad(), pytest.warns(UserWarning, match="padded"):
        got = fast(**batch)
    if torch.cuda.is_available():
        pytest.skip("varlen may run on this machine")
    assert_close_at_real(got.last_hidden_state, reference(**batch).last_hidden_state, batch["attention_mask"])


def test_accelerate_refuses_other_modules_and_unknown_backends():
    with pytest.raises(TypeError, match="Linear"):
        accelerate(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="'fastest'"):
        accelerate(AlbertModel(tiny_config()), attention_backend="fastest")
