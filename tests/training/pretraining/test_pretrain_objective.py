"""The masked-positions-only MLM head: same loss and gradients as scoring every position."""

from __future__ import annotations

import pytest
import torch

from albert import AlbertConfig, AlbertForMaskedLM, AlbertForPreTraining
from albert.training.pretraining.trainer import PretrainingObjective

VOCAB = 120


def _config(**overrides) -> AlbertConfig:
    values = dict(vocab_size=VOCAB, embedding_size=16, hidden_size=32, num_hidden_layers=4, num_hidden_groups=2,
                  inner_group_num=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
    values.update(overrides)
    return AlbertConfig(**values)


def _batch(seed: int = 0, batch: int = 4, length: int = 24):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, VOCAB, (batch, length), generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[1, 15:] = 0  # a padded row
    token_type_ids = torch.zeros(batch, length, dtype=torch.long)
    token_type_ids[:, 12:] = 1
    labels = torch.full((batch, length), -100)
    chosen = torch.rand(batch, length, generator=generator) < 0.15
    chosen[:, 0] = False
    chosen[1, 15:] = False
    chosen[:, 3] = True  # every row predicts something
    labels[chosen] = torch.randint(5, VOCAB, (int(chosen.sum()),), generator=generator)
    sentence_order_label = torch.tensor([0, 1, 1, 0])
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                labels=labels, sentence_order_label=sentence_order_label)


def test_masked_only_loss_equals_the_full_logits_loss_and_gradients() -> None:
    torch.manual_seed(0)
    model = AlbertForPreTraining(_config(hidden_dropout_prob=0.1)).train()
    batch = _batch()

    torch.manual_seed(7)  # the same dropout masks for both computations
    full = model(**batch).loss
    full.backward()
    full_grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    torch.manual_seed(7)
    ours = PretrainingObjective(model)(**batch)
    ours["loss"].backward()
    torch.testing.assert_close(ours["loss"], full, rtol=1e-6, atol=1e-6)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, full_grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_parts_and_counts_match_a_direct_computation() -> None:
    torch.manual_seed(1)
    model = AlbertForPreTraining(_config()).eval()
    batch = _batch(seed=3)
    with torch.no_grad():
        result = PretrainingObjective(model)(**batch)
        outputs = model(**{k: v for k, v in batch.items() if k not in ("labels", "sentence_order_label")})
    predicted = batch["labels"] != -100
    logits = outputs.prediction_logits[predicted]
    targets = batch["labels"][predicted]
    assert int(result["mlm_count"]) == int(predicted.sum())
    assert int(result["mlm_correct"]) == int((logits.argmax(-1) == targets).sum())
    top5 = logits.topk(5, dim=-1).indices
    assert int(result["mlm_top5_correct"]) == int((top5 == targets[:, None]).any(-1).sum())
    expected_sop = torch.nn.functional.cross_entropy(outputs.sop_logits, batch["sentence_order_label"])
    torch.testing.assert_close(result["sop_loss"], expected_sop)
    assert int(result["sop_count"]) == 4


def test_a_model_without_sop_head_gives_the_mlm_loss_only() -> None:
    torch.manual_seed(2)
    model = AlbertForMaskedLM(_config()).eval()
    batch = _batch(seed=4)
    with torch.no_grad():
        result = PretrainingObjective(model)(**batch)
        full = model(**{k: v for k, v in batch.items() if k != "sentence_order_label"}).loss
    assert "sop_loss" not in result
    assert result["loss"].item() == pytest.approx(full.item(), rel=1e-6)
