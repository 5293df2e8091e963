"""Settings declared once (albert.options): frozen dataclasses that check themselves, the CLI's
options derived from them, and ``--settings FILE`` whose values are defaults that flags override."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from albert.cli import app
from albert.errors import OptionError, OptionTypeError
from albert.training.finetuning.readers import ReadOptions
from albert.training.finetuning.settings import FinetuneSettings
from albert.training.pretraining.settings import PretrainSettings


def test_settings_are_frozen_and_check_their_fields_with_the_value():
    settings = FinetuneSettings(task="regression")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 5  # type: ignore[misc]
    with pytest.raises(OptionTypeError, match=r"epochs must be an integer, got '3' \(str\)"):
        FinetuneSettings(task="regression", epochs="3")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match=r"patience must be at least 1 \(or unset\), got 0"):
        FinetuneSettings(task="regression", patience=0)
    with pytest.raises(OptionError, match="unknown optimizer 'sgd'; choose one of: lamb, adamw"):
        PretrainSettings(steps=1, batch_size=8, optimizer="sgd")
    assert PretrainSettings(steps=1, batch_size=8, init_from=Path("run/final")).init_from == "run/final"


@pytest.fixture
def captured(monkeypatch):
    """Run `albert finetune` up to the call of the library, keeping the settings it was given."""
    import albert.training.finetuning.trainer as trainer

    seen = {}

    def finetune(model, train, dev, out, settings, resume=False):
        seen["settings"] = settings
        raise OptionError("stop here")

    monkeypatch.setattr(trainer, "finetune", finetune)
    return seen


def _finetune(tmp_path: Path, *args: str):
    return CliRunner().invoke(app, ["finetune", "--model", "m", "--train", str(tmp_path / "t.jsonl"),
                                    "--out", str(tmp_path / "run"), *args])  # fmt: skip


def test_a_settings_file_gives_defaults_and_flags_win(tmp_path: Path, captured):
    file = tmp_path / "run.json"
    file.write_text(json.dumps({"task": "regression", "epochs": 7, "learning_rate": 1e-4, "divergence_factor": 8.0,
                                "read_options": {"label_column": "score", "header": False}}))  # fmt: skip
    result = _finetune(tmp_path, "--settings", str(file), "--epochs", "2", "--text-column", "sentence")
    assert "error: stop here" in result.output, result.output
    settings = captured["settings"]
    assert (settings.task, settings.epochs, settings.learning_rate, settings.divergence_factor) == (
        "regression", 2, 1e-4, 8.0)
    assert settings.read_options == ReadOptions(text_column="sentence", label_column="score", header=False)


def test_a_settings_file_in_toml_fills_a_required_option(tmp_path: Path, captured):
    file = tmp_path / "run.toml"
    file.write_text('task = "text-classification"\nbatch_size = 8\n')
    result = _finetune(tmp_path, "--settings", str(file))
    assert "error: stop here" in result.output, result.output
    assert (captured["settings"].task, captured["settings"].batch_size) == ("text-classification", 8)


def test_an_unknown_key_in_a_settings_file_is_refused_with_the_allowed_ones(tmp_path: Path):
    file = tmp_path / "run.json"
    file.write_text(json.dumps({"steps": 10, "lr": 0.1}))
    result = CliRunner().invoke(app, ["pretrain", "--tokenizer", "t", "--data", "d", "--out", "o", "--batch-size",
                                      "8", "--settings", str(file)])  # fmt: skip
    assert result.exit_code == 2
    assert "unknown setting(s) 'lr'" in result.output and "learning_rate" in result.output


def test_pipeline_options_check_themselves_and_a_call_changes_a_copy():
    from albert.pipelines.options import EmbeddingOptions, FillMaskOptions, with_options

    options = EmbeddingOptions(level="token", layer="3")
    assert (options.level, options.layer) == ("word", 3)
    with pytest.raises(OptionError, match="word_pooling must be one of first, mean, last, got 'sum'"):
        with_options(options, {"word_pooling": "sum"})
    with pytest.raises(OptionTypeError, match=r"unknown option\(s\) \['pooling'\]"):
        with_options(options, {"pooling": "mean"})
    with pytest.raises(OptionError, match="layer 13 does not exist"):
        options.for_model(12, 512) and with_options(options, {"layer": 13}).for_model(12, 512)
    assert with_options(FillMaskOptions(top_k=3), {"top_k": None}, none_keeps=True).top_k == 3
    with pytest.raises(OptionError, match="top_k must be at least 1, got 0"):
        with_options(FillMaskOptions(), {"top_k": 0}, none_keeps=True)
