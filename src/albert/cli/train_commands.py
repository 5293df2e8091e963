"""Pretraining from the shell: ``albert train-tokenizer``, ``prepare-data``, ``pretrain``, ``evaluate-mlm``.

Thin: each command parses its options, calls :mod:`albert.training`, and prints. Errors a user
can fix (bad paths, corrupt data, mismatched settings, a diverged run) are printed as one line
on stderr with exit status 1, without a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

import typer

from ..errors import OptionError
from ..options import holds_settings, load_settings_file, settings_command
from ..training.pretraining.settings import PretrainSettings
from .app import app, show_training_messages


def _parse_overrides(assignments: list[str]) -> dict[str, Any]:
    """``["hidden_size=256", "hidden_act=gelu"]`` -> ``{"hidden_size": 256, "hidden_act": "gelu"}``
    (values are read as JSON when they parse, else kept as strings)."""
    overrides: dict[str, Any] = {}
    for assignment in assignments:
        key, separator, raw = assignment.partition("=")
        if not separator or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {assignment!r}", param_hint="--set")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        overrides[key.strip()] = value
    return overrides


@app.command("train-tokenizer")
def train_tokenizer_command(
    corpus: list[Path] = typer.Argument(..., help="Text files (.txt, .txt.gz, .txt.xz) or folders of them."),
    out: Path = typer.Option(..., "--out", help="Folder to write spiece.model and the tokenizer config into."),
    vocab_size: int = typer.Option(30000, "--vocab-size", help="Pieces in the vocabulary (ALBERT: 30000)."),
    max_sentences: int = typer.Option(10_000_000, "--max-sentences", help="Sentences sampled for training at most."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the sentence sampling."),
) -> None:
    """Train a SentencePiece unigram vocabulary with ALBERT's settings (lowercased; <pad>=0 <unk>=1
    [CLS]=2 [SEP]=3 [MASK]=4), into a folder AlbertTokenizer.from_pretrained loads."""
    from ..training.pretraining.vocabulary import train_tokenizer

    folder = train_tokenizer(corpus, out, vocab_size, max_sentences=max_sentences, seed=seed)
    typer.echo(f"wrote a {vocab_size:,}-piece tokenizer to {folder}")


@app.command("prepare-data")
def prepare_data_command(
    corpus: list[Path] = typer.Argument(..., help="Text files (.txt, .txt.gz, .txt.xz) or folders of them."),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Tokenizer folder (from train-tokenizer or a model)."),
    out: Path = typer.Option(..., "--out", help="Folder for the tokenized shards and manifest.json."),
    heldout_fraction: float = typer.Option(0.01, "--heldout-fraction", help="Share of documents kept for evaluation."),
    min_document_chars: int = typer.Option(
        2000, "--min-document-chars", help="A blank line ends a document only after this many characters."
    ),
    max_document_lines: int = typer.Option(
        64, "--max-document-lines", help="Lines per document in files without blank lines (a record a line)."
    ),
) -> None:
    """Tokenize a corpus once into sharded, memory-mapped arrays for `albert pretrain --data`.

    Optional: `albert pretrain` given text files does this itself, into OUT/data of the run.
    """
    from ..tokenizer import load_tokenizer
    from ..training.pretraining.shards import prepare_shards

    manifest = prepare_shards(
        corpus, load_tokenizer(tokenizer), out, heldout_fraction=heldout_fraction,
        min_document_chars=min_document_chars, max_document_lines=max_document_lines,
    )
    for split, shards in manifest["splits"].items():
        tokens = sum(shard["tokens"] for shard in shards)
        documents = sum(shard["documents"] for shard in shards)
        typer.echo(f"{split}: {tokens:,} tokens in {documents:,} documents ({len(shards)} shards)")
    typer.echo(f"wrote {out}")


#: The order ``albert pretrain --help`` shows its options in (the settings' own, with the rest).
_PRETRAIN_ORDER = [
    "config", "tokenizer", "data", "out", "steps", "batch_size", "max_seq_length", "recipe", "learning_rate",
    "optimizer", "warmup_steps", "weight_decay", "max_grad_norm", "max_predictions_per_seq", "short_seq_prob",
    "accumulation_steps", "seed", "resume", "init_from", "checkpoint_every", "keep_checkpoints", "log_every",
    "eval_batches", "activation_checkpointing", "fast", "compile", "device", "bf16", "num_threads", "set_fields",
    "progress", "settings_file",
]  # fmt: skip
SETTINGS_FILE_HELP = (
    "A JSON (or TOML, YAML) file of the run's settings, keyed by their names (learning_rate, ...): "
    "defaults that flags given here override."
)


def _shape_or_settings(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """``albert pretrain --config``: the model's shape, unless the file holds a run's settings
    (a TOML/YAML file, or a JSON object of settings and no config field), read then as
    ``--settings`` (the shape stays the default, albert-base-v2).

    Raises:
        typer.BadParameter: a JSON file holding both settings and config fields, or a settings file
            that does not read.
    """
    from ..config import AlbertConfig

    if ctx.resilient_parsing:
        return value
    config_fields = {item.name for item in dataclasses.fields(AlbertConfig)} | {"architectures", "model_type"}
    try:
        is_settings = holds_settings(value, PretrainSettings, config_fields)
    except OptionError as error:
        raise typer.BadParameter(str(error), ctx=ctx, param_hint="'--config'") from None
    if not is_settings:
        return value
    load_settings_file(ctx, value, PretrainSettings, "--config")
    return str(param.default)


# typer reads the callback's annotations to hand it the context and the parameter
_shape_or_settings.__annotations__ = {"ctx": typer.Context, "param": typer.CallbackParam, "value": str, "return": str}


@app.command("pretrain")
@settings_command(PretrainSettings, order=_PRETRAIN_ORDER, file_help=SETTINGS_FILE_HELP)
def pretrain_command(
    settings: PretrainSettings,
    config: str = typer.Option(
        "albert-base-v2", "--config", is_eager=True, callback=_shape_or_settings,
        help="Model shape: a preset (albert-base-v2), a config.json, or a model folder; or a file of the run's "
        "settings (as --settings), told apart by what it holds.",
    ),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Tokenizer folder (its vocabulary sets vocab_size)."),
    data: list[Path] = typer.Option(
        ..., "--data", help="A prepare-data folder, or text files/folders (tokenized into OUT/data). Repeatable."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, metrics.jsonl, curves.png, final/."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUT."),
    set_fields: list[str] = typer.Option([], "--set", help="Override a config field: --set hidden_size=256."),
) -> None:
    """Pretrain ALBERT from scratch (masked LM with n-gram masking + sentence-order prediction).

    Safe to interrupt: run the same command with --resume to continue from the last checkpoint.
    Several GPUs or machines: torchrun --nproc_per_node N -m albert.cli pretrain ...
    """
    from ..tokenizer import load_tokenizer
    from ..training.pretraining.trainer import pretrain

    show_training_messages()
    overrides = _parse_overrides(set_fields)
    if settings.compile and not settings.fast:  # --compile implies --fast
        settings = dataclasses.replace(settings, fast=True)
    settings.resolved()  # the settings are checked before the tokenizer and the data load
    try:
        result = pretrain(
            config, load_tokenizer(tokenizer), data, out, settings, config_overrides=overrides, resume=resume
        )
    except KeyboardInterrupt:
        typer.echo("\ninterrupted; continue from the last checkpoint with the same command and --resume", err=True)
        raise typer.Exit(code=130) from None
    if int(os.environ.get("RANK", "0")) == 0:
        metrics = result.last_metrics
        if metrics:
            typer.echo(
                f"step {metrics['step']}: mlm loss {metrics['mlm_loss']:.4f}, mlm accuracy "
                f"{metrics['mlm_accuracy']:.4f}, sop accuracy {metrics.get('sop_accuracy', float('nan')):.4f}"
            )
        typer.echo(f"final model: {result.final_model}")


@app.command("evaluate-mlm")
def evaluate_mlm_command(
    model: str = typer.Argument(..., help="Model folder (with its tokenizer), e.g. RUN/final."),
    files: list[Path] = typer.Argument(
        ..., help="Held-out text files (.txt, .txt.gz, .txt.xz) or folders, or one prepare-data folder."
    ),
    split: Literal["heldout", "train"] = typer.Option("heldout", "--split", help="Split of a prepare-data folder."),
    seq_len: int = typer.Option(128, "--seq-len", help="Length of the sentence pairs."),
    batch_size: int = typer.Option(32, "--batch-size"),
    seed: int = typer.Option(0, "--seed", help="Fixes the pairs and masks: same seed, same test."),
    max_examples: int = typer.Option(2000, "--max-examples", help="Pairs evaluated at most (0: all)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N, mps or auto."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Masked-token accuracy (top-1, top-5), MLM loss and sentence-order accuracy on held-out text."""
    from ..training.pretraining.held_out import evaluate_mlm

    results = evaluate_mlm(
        model, files, max_seq_length=seq_len, batch_size=batch_size, seed=seed,
        max_examples=max_examples or None, device=device, progress=sys.stderr.isatty(), split=split,
    )
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        shown = f"{value:,.0f}" if key in ("masked_tokens", "pairs", "examples") else f"{value:.4f}"
        typer.echo(f"{key:>20}  {shown}")
