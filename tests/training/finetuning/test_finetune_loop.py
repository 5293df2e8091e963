"""The fine-tuning loop: learning rates per layer, data order, divergence, early stopping, accumulation,
resume checks and the errors a user meets before any training starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support.finetune import classification_records, one_thread, write_jsonl  # noqa: F401  (autouse fixture)

from albert.training.finetuning.tasks import UnknownLabelError
from albert.training.finetuning.trainer import (
    FinetuneSettings,
    TrainingDivergedError,
    finetune,
    finetune_parameter_groups,
    layer_depth,
    step_batch,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    return (write_jsonl(folder / "train.jsonl", classification_records(64, seed=1)),
            write_jsonl(folder / "dev.jsonl", classification_records(16, seed=2)))


def settings(**overrides) -> FinetuneSettings:
    values = dict(task="text-classification", epochs=1, learning_rate=3e-3, batch_size=16, max_length=32, seed=0,
                  threads=1, progress=False)
    values.update(overrides)
    return FinetuneSettings(**values)


# -- pieces --------------------------------------------------------------------------------------------


def test_layer_depth_counts_shared_groups_from_the_top():
    # two shared groups: head 0, top group 1, bottom group 2, embeddings 3
    assert layer_depth("classifier.weight", 2) == 0
    assert layer_depth("albert.pooler.weight", 2) == 0
    assert layer_depth("albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.weight", 2) == 1
    assert layer_depth("albert.encoder.albert_layer_groups.0.albert_layers.1.ffn.weight", 2) == 2
    assert layer_depth("albert.encoder.embedding_hidden_mapping_in.weight", 2) == 3
    assert layer_depth("albert.embeddings.word_embeddings.weight", 2) == 3


def test_layerwise_decay_scales_learning_rates_and_spares_layernorm_from_decay(make_tiny_model):
    from albert import AlbertForSequenceClassification

    model = AlbertForSequenceClassification.from_pretrained(make_tiny_model())
    groups = finetune_parameter_groups(model, learning_rate=1e-3, weight_decay=0.01, layerwise_lr_decay=0.5)
    rate_of = {id(p): (group["lr"], group["weight_decay"]) for group in groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert rate_of[id(named["classifier.weight"])] == (pytest.approx(1e-3), 0.01)
    assert rate_of[id(named["albert.embeddings.word_embeddings.weight"])] == (pytest.approx(1e-3 * 0.5**3), 0.01)
    assert rate_of[id(named["albert.embeddings.LayerNorm.weight"])] == (pytest.approx(1e-3 * 0.5**3), 0.0)
    assert rate_of[id(named["albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.bias"])][1] == 0.0
    assert sum(len(group["params"]) for group in groups) == len(named)


def test_each_epoch_visits_every_example_once_in_a_seeded_order():
    batches = [step_batch(10, 4, seed=7, step=step) for step in range(6)]  # 3 steps per epoch
    first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:])
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert list(first) != list(second)
    assert all(np.array_equal(step_batch(10, 4, seed=7, step=step), batch) for step, batch in enumerate(batches))


def test_settings_are_checked_with_their_values():
    with pytest.raises(ValueError, match="divisible by accumulation_steps 3"):
        settings(batch_size=16, accumulation_steps=3).validate()
    with pytest.raises(ValueError, match="unknown task 'ner'"):
        settings(task="ner").validate()
    with pytest.raises(ValueError, match=r"layerwise_lr_decay must be in \(0, 1\]"):
        settings(layerwise_lr_decay=1.5).validate()
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        settings(dropout=1.0)


# -- errors before training ------------------------------------------------------------------------------


def test_an_unknown_dev_label_stops_before_the_model_is_loaded(tmp_path, data):
    train, _ = data
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"sentence": "city paint", "label": "pos"},
                                               {"sentence": "city night", "label": "neutral"}])
    with pytest.raises(UnknownLabelError, match=r"'neutral' \(first in examples\[1\]\).*known labels are 'neg', 'pos'"):
        finetune(tmp_path / "no-such-model", train, dev, tmp_path / "run", settings())


def test_an_unknown_metric_is_refused_with_the_choices(tmp_path, data, make_tiny_model):
    with pytest.raises(ValueError, match="no metric 'f2'; choose one of: accuracy, f1, mcc, loss"):
        finetune(make_tiny_model(), *data, tmp_path / "run", settings(metric="f2"))


def test_a_used_run_folder_needs_resume_and_the_same_settings(tmp_path, data, make_tiny_model):
    model = make_tiny_model()
    finetune(model, *data, tmp_path / "run", settings())
    with pytest.raises(FileExistsError, match="pass --resume"):
        finetune(model, *data, tmp_path / "run", settings())
    with pytest.raises(ValueError, match="batch_size: checkpoint 16, now 8"):
        finetune(model, *data, tmp_path / "run", settings(batch_size=8), resume=True)
    # runtime settings may change; a finished run resumes to the same result without training
    result = finetune(model, *data, tmp_path / "run", settings(eval_batch_size=7), resume=True)
    assert result.steps == 4


# -- during training -------------------------------------------------------------------------------------


def test_an_exploding_loss_stops_with_advice(tmp_path, data, make_tiny_model):
    with pytest.raises(TrainingDivergedError, match=r"diverging at step \d+.*Lower the learning rate \(--lr, now 0.9"):
        finetune(make_tiny_model(), *data, tmp_path / "run", settings(learning_rate=0.9, warmup_ratio=0.0, log_every=2))


def test_a_nan_loss_stops_with_advice(tmp_path, data, make_tiny_model):
    from albert import AlbertForMaskedLM

    broken = AlbertForMaskedLM.from_pretrained(make_tiny_model())
    with torch.no_grad():
        broken.albert.embeddings.LayerNorm.weight.fill_(float("nan"))
    broken.save_pretrained(tmp_path / "broken")
    with pytest.raises(TrainingDivergedError, match="diverged at step 1: loss nan.*warm up longer"):
        finetune(tmp_path / "broken", *data, tmp_path / "run", settings(log_every=1))


def test_early_stopping_after_patience_evaluations_without_improvement(tmp_path, data, make_tiny_model):
    # a learning rate too small to change anything: the first evaluation stays the best
    result = finetune(make_tiny_model(), *data, tmp_path / "run",
                      settings(epochs=3, learning_rate=1e-12, eval_every=1, patience=2))
    assert result.stopped_early and result.steps == 3 and result.best_step == 1
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [record["step"] for record in summary["history"]] == [1, 2, 3]
    assert json.loads((result.best_model / "eval_results.json").read_text())["step"] == 1


def test_accumulation_computes_the_same_step_as_one_batch(tmp_path, data, make_tiny_model):
    from safetensors.torch import load_file

    model = make_tiny_model(classifier_dropout_prob=0.0)  # no dropout: the same computation either way
    whole = finetune(model, *data, tmp_path / "whole", settings(accumulation_steps=1))
    split = finetune(model, *data, tmp_path / "split", settings(accumulation_steps=4))
    for name, tensor in load_file(whole.best_model / "model.safetensors").items():
        torch.testing.assert_close(load_file(split.best_model / "model.safetensors")[name], tensor, atol=2e-5, rtol=1e-4)


def test_without_a_dev_set_the_last_model_is_kept(tmp_path, data, make_tiny_model):
    result = finetune(make_tiny_model(), data[0], None, tmp_path / "run", settings())
    info = json.loads((result.best_model / "finetune.json").read_text())
    assert info["task"] == "text-classification" and info["step"] == 4 and info["label_list"] == ["neg", "pos"]
    assert not (result.best_model / "eval_results.json").exists()


def test_finetune_leaves_the_thread_count_as_it_found_it(tmp_path, data, make_tiny_model):
    torch.set_num_threads(1)
    finetune(make_tiny_model(), *data, tmp_path / "run", settings(threads=2, max_train_examples=16))
    assert torch.get_num_threads() == 1


def test_dropout_overrides_the_models_own_while_training(tmp_path, data, make_tiny_model):
    from safetensors.torch import load_file

    model = make_tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    plain = finetune(model, data[0], None, tmp_path / "plain", settings())  # no dev set: the last model is kept
    dropped = finetune(model, data[0], None, tmp_path / "dropped", settings(dropout=0.3))
    config = json.loads((dropped.best_model / "config.json").read_text())
    assert (config["hidden_dropout_prob"], config["attention_probs_dropout_prob"]) == (0.3, 0.3)
    assert json.loads((plain.best_model / "config.json").read_text())["hidden_dropout_prob"] == 0.0
    first, second = (load_file(run.best_model / "model.safetensors") for run in (plain, dropped))
    assert any(not torch.equal(first[name], second[name]) for name in first)  # the dropout was applied
