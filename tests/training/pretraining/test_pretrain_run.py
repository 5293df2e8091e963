"""Pretraining runs in-process on the tiny corpus: the loss falls, the NaN guard, and runs that refuse to mix."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from support.pretrain import TINY_SHAPE, tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401

from albert import AlbertForMaskedLM, AlbertForPreTraining
from albert.training.checkpoints import CheckpointManager, NonFiniteLossError
from albert.training.pretraining import trainer as pretrain_module
from albert.training.pretraining.trainer import PretrainSettings, pretrain
from albert.training.run_log import read_metrics


def _settings(**overrides) -> PretrainSettings:
    values = dict(steps=8, batch_size=8, max_seq_length=64, learning_rate=0.03, log_every=2, checkpoint_every=4,
                  eval_batches=0, progress=False, num_threads=1)
    values.update(overrides)
    return PretrainSettings(**values)


def test_loss_falls_and_the_run_folder_is_complete(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    result = pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
                      settings=_settings(steps=60, batch_size=16, log_every=10, checkpoint_every=30, eval_batches=2))
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r.get("split", "train") == "train"]
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]
    assert records[-1]["mlm_loss"] < records[0]["mlm_loss"] - 0.4
    for key in ("mlm_accuracy", "sop_loss", "sop_accuracy", "learning_rate", "tokens_per_second", "peak_memory_mb"):
        assert all(math.isfinite(r[key]) for r in records), key
    heldout = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r.get("split") == "heldout"]
    assert [r["step"] for r in heldout] == [30, 60] and 0 <= heldout[-1]["mlm_top5_accuracy"] <= 1
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert [p.name for p in CheckpointManager(tmp_path).checkpoints()] == ["step-00000030.pt", "step-00000060.pt"]

    # the final folder loads as a pretraining model and as a fill-mask model, with its tokenizer
    assert result.final_model == tmp_path / "final"
    pretrained = AlbertForPreTraining.from_pretrained(result.final_model)
    masked_lm = AlbertForMaskedLM.from_pretrained(result.final_model)
    assert not pretrained.loading_info.missing_keys and not masked_lm.loading_info.missing_keys
    assert {"spiece.model", "tokenizer_config.json"} <= {p.name for p in result.final_model.iterdir()}


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, tiny_tokenizer, tiny_data_dir, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    original = pretrain_module.PretrainingObjective.forward
    calls = {"count": 0}

    def poisoned(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls["count"] += 1
        if calls["count"] > 5:  # from step 6 on
            result["loss"] = result["loss"] * float("nan")
        return result

    monkeypatch.setattr(pretrain_module.PretrainingObjective, "forward", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"diverged at step 6 .*step-00000004\.pt"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
                 settings=_settings(steps=12, log_every=2, checkpoint_every=4))
    manager = CheckpointManager(tmp_path)
    assert [p.name for p in manager.checkpoints()] == ["step-00000004.pt"]
    state = manager.load(manager.latest())
    assert all(torch.isfinite(tensor).all() for tensor in state["model"].values())
    assert not (tmp_path / "final").exists()


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
             settings=_settings(steps=4))
    with pytest.raises(FileExistsError, match="--resume"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
                 settings=_settings(steps=4))
    with pytest.raises(ValueError, match="batch_size: checkpoint 8, now 16"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
                 settings=_settings(steps=8, batch_size=16), resume=True)


def test_resuming_a_finished_run_with_more_steps_continues_it(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
             settings=_settings(steps=40, log_every=20, checkpoint_every=20))
    pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
             settings=_settings(steps=80, log_every=20, checkpoint_every=20), resume=True)
    steps = [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    assert steps == [20, 40, 60, 80]
    saved = CheckpointManager(tmp_path).load(CheckpointManager(tmp_path).latest())
    assert saved["settings"]["warmup_steps"] == 1  # the first run's 2.5% of 40 steps, kept


def test_bad_settings_are_refused_with_the_values(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="multiple of log_every"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, settings=_settings(log_every=3))
    with pytest.raises(ValueError, match="max_position_embeddings \\(64\\) is smaller than the sequence length 128"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides=TINY_SHAPE,
                 settings=_settings(max_seq_length=128))
    with pytest.raises(ValueError, match="unknown config field 'hiden_size'"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path, config_overrides={"hiden_size": 8},
                 settings=_settings())


def test_activation_checkpointing_gives_the_same_training(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    curves = []
    for checkpointing in (False, True):
        run = tmp_path / str(checkpointing)
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], run,
                 config_overrides={**TINY_SHAPE, "hidden_dropout_prob": 0.1},
                 settings=_settings(steps=4, log_every=1, activation_checkpointing=checkpointing))
        curves.append([(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl")])
        assert json.loads((run / "run.json").read_text())["settings"]["activation_checkpointing"] is checkpointing
    assert curves[0] == curves[1]


def test_the_fast_encoder_trains_to_the_same_first_losses(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    curves = []
    for fast in (False, True):
        run = tmp_path / str(fast)
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], run, config_overrides=TINY_SHAPE,
                 settings=_settings(steps=2, log_every=1, checkpoint_every=2, fast=fast))
        curves.append([r["loss"] for r in read_metrics(run / "metrics.jsonl")])
    assert curves[1] == pytest.approx(curves[0], abs=1e-4)


def test_the_model_config_comes_from_a_preset_a_json_file_or_a_folder(tmp_path: Path) -> None:
    from albert import AlbertConfig
    from albert.training.pretraining.trainer import resolve_model_config

    preset = resolve_model_config("albert-base-v2", vocab_size=400, max_seq_length=128, overrides={"hidden_size": 384,
                                  "num_attention_heads": 6})
    assert (preset.hidden_size, preset.num_hidden_layers, preset.vocab_size) == (384, 12, 400)
    AlbertConfig(**TINY_SHAPE, vocab_size=30000).save_pretrained(tmp_path)
    from_file = resolve_model_config(tmp_path / "config.json", vocab_size=400, max_seq_length=64)
    from_folder = resolve_model_config(tmp_path, vocab_size=400, max_seq_length=64)
    assert from_file == from_folder and from_file.hidden_size == 32 and from_file.vocab_size == 400
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_model_config("albert-tiny-v9", vocab_size=400, max_seq_length=64)


def test_init_from_starts_from_saved_weights_and_refuses_another_shape(
    tmp_path: Path, tiny_tokenizer, tiny_data_dir  # noqa: F811
) -> None:
    first = pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path / "first",
                     config_overrides=TINY_SHAPE, settings=_settings(steps=8))
    # learning rate 0: the continued run's final weights are exactly the ones it started from
    second = pretrain(first.final_model, tiny_tokenizer, [tiny_data_dir], tmp_path / "second",
                      settings=_settings(steps=4, learning_rate=0.0, init_from=str(first.final_model)))
    before = AlbertForPreTraining.from_pretrained(first.final_model).state_dict()
    after = AlbertForPreTraining.from_pretrained(second.final_model).state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)

    wider = {**TINY_SHAPE, "hidden_size": TINY_SHAPE["hidden_size"] * 2}
    with pytest.raises(ValueError, match="shapes differ.*--config"):
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], tmp_path / "third", config_overrides=wider,
                 settings=_settings(steps=2, init_from=str(first.final_model)))


@pytest.mark.slow
def test_compiled_layers_train_to_the_same_first_losses(tmp_path: Path, tiny_tokenizer, tiny_data_dir) -> None:  # noqa: F811
    curves = []
    for compiled in (False, True):
        run = tmp_path / str(compiled)
        pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], run, config_overrides=TINY_SHAPE,
                 settings=_settings(steps=3, log_every=1, checkpoint_every=3, fast=True, compile=compiled))
        curves.append([r["loss"] for r in read_metrics(run / "metrics.jsonl")])
        assert json.loads((run / "run.json").read_text())["settings"]["compile"] is compiled
    assert curves[1] == pytest.approx(curves[0], abs=1e-4)
