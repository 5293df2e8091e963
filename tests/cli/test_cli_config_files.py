"""``--config FILE`` for a run's settings: ``albert finetune --config`` is ``--settings``;
``albert pretrain --config`` is the model's shape, or a settings file when the file holds settings
(TOML/YAML, or a JSON object of settings and no config field). See docs/cli.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from albert.cli import app
from albert.errors import OptionError


@pytest.fixture
def finetune_settings(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run `albert finetune` up to the call of the library, keeping the settings it was given."""
    import albert.training.finetuning.trainer as trainer

    seen: dict[str, Any] = {}

    def finetune(model: Any, train: Any, dev: Any, out: Any, settings: Any, resume: bool = False) -> Any:
        seen["settings"] = settings
        raise OptionError("stop here")

    monkeypatch.setattr(trainer, "finetune", finetune)
    return seen


@pytest.fixture
def pretrain_call(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run `albert pretrain` up to the call of the library, keeping the shape and settings given."""
    import albert.tokenizer
    import albert.training.pretraining.trainer as trainer

    seen: dict[str, Any] = {}

    def pretrain(config: Any, tokenizer: Any, data: Any, out: Any, settings: Any, **options: Any) -> Any:
        seen.update(config=config, settings=settings)
        raise OptionError("stop here")

    monkeypatch.setattr(trainer, "pretrain", pretrain)
    monkeypatch.setattr(albert.tokenizer, "load_tokenizer", lambda path: None)
    return seen


def pretrain(*args: str) -> Any:
    return CliRunner().invoke(app, ["pretrain", "--tokenizer", "t", "--data", "d", "--out", "o", *args])


def test_finetune_config_is_the_settings_file(tmp_path: Path, finetune_settings: dict[str, Any]) -> None:
    file = tmp_path / "run.json"
    file.write_text(json.dumps({"task": "regression", "epochs": 7, "divergence_factor": 8.0}))
    seen = []
    for flag in ("--settings", "--config"):
        result = CliRunner().invoke(app, ["finetune", "--model", "m", "--train", "t.jsonl", "--out", "run", flag,
                                          str(file), "--epochs", "2"])  # fmt: skip
        assert "error: stop here" in result.output, result.output
        seen.append(finetune_settings["settings"])
    assert seen[0] == seen[1]
    assert (seen[1].task, seen[1].epochs, seen[1].divergence_factor) == ("regression", 2, 8.0)


def test_pretrain_config_reads_a_settings_file_and_keeps_the_default_shape(
    tmp_path: Path, pretrain_call: dict[str, Any]
) -> None:
    file = tmp_path / "run.json"
    file.write_text(json.dumps({"steps": 5, "batch_size": 8, "learning_rate": 1e-3, "masked_lm_prob": 0.2}))
    result = pretrain("--config", str(file), "--steps", "6")
    assert "error: stop here" in result.output, result.output
    settings = pretrain_call["settings"]
    assert pretrain_call["config"] == "albert-base-v2"
    assert (settings.steps, settings.batch_size, settings.learning_rate, settings.masked_lm_prob) == (6, 8, 1e-3, 0.2)
    toml = tmp_path / "run.toml"
    toml.write_text("steps = 3\nbatch_size = 4\n")
    assert "error: stop here" in pretrain("--config", str(toml)).output
    assert (pretrain_call["settings"].steps, pretrain_call["config"]) == (3, "albert-base-v2")


def test_pretrain_config_is_still_the_shape_for_a_config_a_preset_or_a_folder(
    tmp_path: Path, pretrain_call: dict[str, Any]
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 128}))
    for shape in (str(config), "albert-large-v2", str(tmp_path)):
        result = pretrain("--config", shape, "--steps", "1", "--batch-size", "2")
        assert "error: stop here" in result.output, result.output
        assert pretrain_call["config"] == shape
    result = pretrain("--config", str(config))  # a config gives no settings: steps is still asked for
    assert result.exit_code == 2 and "--steps" in result.output


def test_pretrain_config_refuses_a_file_of_both_kinds(tmp_path: Path) -> None:
    file = tmp_path / "both.json"
    file.write_text(json.dumps({"hidden_size": 64, "steps": 5}))
    result = CliRunner().invoke(app, ["pretrain", "--config", str(file), "--tokenizer", "t", "--data", "d",
                                      "--out", "o"], env={"COLUMNS": "300"})  # fmt: skip
    assert result.exit_code == 2
    assert "run settings (steps)" in result.output and "config's fields (hidden_size)" in result.output
