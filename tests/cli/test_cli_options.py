"""The pipeline commands' options are their option classes' fields (albert.pipeline_options): one
declaration of name, type, default and help, so a field added there is a flag here, and a drift
between the two fails. An option the user leaves out reaches the pipeline as not given."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from albert.cli import app
from albert.options import option, options_command
from albert.pipeline_options import (
    EmbeddingOptions,
    FillMaskOptions,
    LoadOptions,
    QuestionAnsweringOptions,
    TextClassificationOptions,
    TokenClassificationOptions,
)

ROOT = typer.main.get_command(app)
COMMANDS: dict[str, Any] = ROOT.commands  # type: ignore[attr-defined]

#: Each pipeline command -> the option classes its options come from, and the fields it leaves out.
DERIVED: dict[str, tuple[tuple[type, ...], set[str]]] = {
    "fill-mask": ((FillMaskOptions, LoadOptions), set()),
    "embed": ((EmbeddingOptions, LoadOptions), {"allow_untrained_head"}),  # embeddings read no head
    "classify": ((TextClassificationOptions, LoadOptions), set()),
    "tag": ((TokenClassificationOptions, LoadOptions), set()),
    "answer": ((QuestionAnsweringOptions, LoadOptions), set()),
    "choose": ((LoadOptions,), set()),
}

#: The long flags each command took before its options were derived (scripts rely on them).
FLAGS = {
    "fill-mask": ["--top-k", "--target", "--model", "--device", "--dtype", "--batch-size", "--onnx", "--precision", "--threads",
                  "--allow-untrained-head", "--input", "--column", "--json", "--output"],
    "embed": ["--level", "--word-pooling", "--sentence-pooling", "--layer", "--mean-last", "--split-sentences",
              "--stride", "--normalize", "--dimension", "--model", "--device", "--dtype", "--batch-size", "--onnx", "--precision", "--threads", "--input", "--column", "--json",
              "--output", "--spark"],
    "classify": ["--top-k", "--function", "--pair-column", "--model", "--device", "--dtype", "--batch-size", "--onnx", "--precision", "--threads",
                 "--allow-untrained-head", "--input", "--column", "--json", "--output"],
    "tag": ["--aggregation", "--keep-all", "--model", "--device", "--dtype", "--batch-size", "--onnx", "--precision", "--threads",
            "--allow-untrained-head", "--input", "--column", "--json", "--output"],
    "answer": ["--question", "--context", "--context-file", "--top-k", "--doc-stride", "--max-answer-len",
               "--allow-no-answer", "--model", "--device", "--dtype", "--batch-size", "--onnx", "--precision", "--threads", "--allow-untrained-head",
               "--input", "--json", "--output"],
    "choose": ["--choice", "--model", "--device", "--dtype", "--batch-size", "--onnx", "--precision", "--threads", "--allow-untrained-head",
               "--input", "--json", "--output"],
}  # fmt: skip


def cli_fields(options_class: type, left_out: set[str]) -> list[dataclasses.Field]:
    return [item for item in dataclasses.fields(options_class)
            if item.metadata.get("cli") and item.name not in left_out]  # fmt: skip


@pytest.mark.parametrize("command", sorted(DERIVED))
def test_every_field_of_the_option_classes_is_a_flag_with_its_declared_help(command: str) -> None:
    classes, left_out = DERIVED[command]
    params = {param.name: param for param in COMMANDS[command].params}
    for options_class in classes:
        for item in cli_fields(options_class, left_out):
            assert item.name in params, f"albert {command} lacks the option {options_class.__name__}.{item.name}"
            param = params[item.name]
            assert param.help == item.metadata["help"], (command, item.name)
            flag = item.metadata["flag"] or "--" + item.name.replace("_", "-")
            flags = [flag] if isinstance(flag, str) else list(flag)
            assert [name for flag in flags for name in flag.split("/")] == [*param.opts, *param.secondary_opts]
            default = item.metadata["cli_default"]
            assert param.default == (item.default if default is dataclasses.MISSING else default), (command, item.name)
    for name in left_out:
        assert name not in params


@pytest.mark.parametrize("command", sorted(FLAGS))
def test_the_pipeline_commands_take_the_flags_they_always_took(command: str) -> None:
    params = COMMANDS[command].params
    assert [param.opts[0] if param.opts[0].startswith("--") else param.opts[1] for param in params
            if param.param_type_name == "option" and param.opts[0] != "--help"] == FLAGS[command]  # fmt: skip


# -- what the command is handed -------------------------------------------------------------------


@dataclass(frozen=True)
class ToyOptions:
    """Options of a toy command: one with a default, one the command's default overrides."""

    width: int = option(3, help="How wide.", at_least=1)
    style: str = option("plain", help="How it looks.", cli_default="fancy")
    secret: int = option(0, cli=False)

    def __post_init__(self) -> None:
        if self.width == 7:
            raise typer.BadParameter("width 7 is refused by the class")


def toy_app(record: list[dict[str, Any]]) -> typer.Typer:
    toy = typer.Typer()

    @toy.command()
    @options_command(options=ToyOptions)
    def run(name: str = typer.Option("x", "--name"), *, options: dict[str, Any]) -> None:
        record.append({"name": name, **options})

    return toy


def test_an_option_left_out_is_not_given_and_a_cli_default_always_is() -> None:
    record: list[dict[str, Any]] = []
    toy = toy_app(record)
    assert CliRunner().invoke(toy, []).exit_code == 0
    assert CliRunner().invoke(toy, ["--width", "5", "--name", "y"]).exit_code == 0
    assert CliRunner().invoke(toy, ["--width", "3", "--style", "plain"]).exit_code == 0  # given, though the default
    assert record == [{"name": "x", "style": "fancy"}, {"name": "y", "width": 5, "style": "fancy"},
                      {"name": "x", "width": 3, "style": "plain"}]  # fmt: skip


def test_a_field_is_a_flag_with_its_help_bound_and_check() -> None:
    toy = toy_app([])
    shown = CliRunner().invoke(toy, ["--help"], env={"COLUMNS": "200"}).stdout
    assert "--width" in shown and "How wide." in shown and "--style" in shown and "--secret" not in shown
    assert CliRunner().invoke(toy, ["--width", "0"]).exit_code == 2  # the bound, by the parser
    refused = CliRunner().invoke(toy, ["--width", "7"])
    assert refused.exit_code == 2 and "refused by the class" in refused.output  # the class's own check


def test_the_pipeline_gets_only_the_options_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import albert.cli.pipeline_commands as commands
    import albert.pipelines

    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def fake_pipeline(task: str, **loading: Any) -> Any:
        def run(inputs: list[str], **options: Any) -> list[Any]:
            calls.append((task, loading, options))
            return [[{"token_str": "a", "score": 0.5, "sequence": text, "token": 1}] for text in inputs]

        return run

    monkeypatch.setattr(albert.pipelines, "pipeline", fake_pipeline)
    monkeypatch.setattr(commands, "_check_model", lambda model: None)
    runner = CliRunner()
    assert runner.invoke(app, ["fill-mask", "a [MASK].", "--json"]).exit_code == 0
    assert runner.invoke(app, ["fill-mask", "a [MASK].", "--json", "-k", "5", "--target", "b", "--batch-size", "4",
                               "-m", "some/model"]).exit_code == 0  # fmt: skip
    assert calls == [
        ("fill-mask", {}, {}),
        ("fill-mask", {"batch_size": 4, "model": "some/model"}, {"top_k": 5, "targets": ["b"]}),
    ]
