"""Fine-tuning from the shell: ``albert finetune`` and ``albert evaluate``.

Thin: each command parses its options, calls :mod:`albert.training.finetuning.trainer` or
:mod:`albert.training.finetuning.evaluate`, and prints. Errors a user can fix (unreadable data, unknown
labels, a diverged run, settings that differ on resume) are printed as one line on stderr with
exit status 1, without a traceback.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Literal

import typer

from ..atomic_files import write_text_atomic
from ..training.finetuning.settings import TASK_NAMES, FinetuneSettings
from .app import app, settings_option, show_training_messages

TASK_HELP = "What the model learns to do."
#: An option of ``albert finetune``: its default is FinetuneSettings' (one place sets it).
_setting = partial(settings_option, FinetuneSettings)


def _read_options(text_column: str | None, pair_column: str | None, label_column: str | None,
                  tag_column: str | None, no_header: bool):
    from ..training.finetuning.tasks import ReadOptions

    tag: str | int | None = tag_column
    if tag_column is not None and tag_column.lstrip("-").isdigit():
        tag = int(tag_column)  # a column position in CoNLL files; a key name in JSON files
    return ReadOptions(text_column=text_column, pair_column=pair_column, label_column=label_column,
                       tag_column=tag, header=not no_header)


def _show_metrics(metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        shown = f"{value:,.0f}" if name in ("examples", "truncated_words") or name.endswith("_count") else f"{value:.4f}"
        typer.echo(f"{name:>24}  {shown}")


# Column options shared by both commands.
_TEXT_COLUMN = typer.Option(None, "--text-column", help="Column of the text (default: found by name, e.g. sentence).")
_PAIR_COLUMN = typer.Option(None, "--pair-column", help="Column of the second text of a pair (default: found by name).")
_LABEL_COLUMN = typer.Option(None, "--label-column", help="Column of the label (default: label, score, Quality ...).")
_TAG_COLUMN = typer.Option(
    None, "--tag-column", help="CoNLL files: position of the tag column (default: last); JSON: the key (default: tags/ner)."
)
_NO_HEADER = typer.Option(False, "--no-header", help="TSV/CSV files without a header row: columns are 0, 1, 2 ...")


@app.command("finetune")
def finetune_command(
    task: Literal[TASK_NAMES] = typer.Option(..., "--task", help=TASK_HELP),
    model: str = typer.Option(..., "--model", help="Model to start from: a folder, a shipped model's name or a Hub id."),
    train: Path = typer.Option(..., "--train", help="Training file (TSV/CSV/JSONL, CoNLL, SQuAD JSON, SWAG/RACE)."),
    dev: Path | None = typer.Option(None, "--dev", help="Dev file: evaluated during training to keep the best model."),
    out: Path = typer.Option(..., "--out", help="Run folder: best/, metrics.json, metrics.jsonl, curves.png, checkpoints/."),
    epochs: int = _setting("--epochs", help="Passes over the training data."),
    lr: float | None = _setting(
        "--lr", field="learning_rate",
        help="Peak learning rate (default by model width: 1e-4 small, 3e-5 base, 2e-5 large, 1e-5 xlarge+).",
    ),
    batch_size: int = _setting("--batch-size", help="Examples per optimizer step."),
    eval_batch_size: int = _setting("--eval-batch-size", help="Examples per batch when evaluating."),
    max_length: int = _setting("--max-length", help="Longest input in pieces (longer ones are cut or windowed)."),
    warmup_ratio: float = _setting("--warmup-ratio", help="Share of the steps with a rising learning rate."),
    weight_decay: float = _setting("--weight-decay", help="Decoupled weight decay (not on LayerNorm/biases)."),
    max_grad_norm: float = _setting("--max-grad-norm", help="Gradient clipping norm."),
    accumulation_steps: int = _setting("--accumulation-steps", help="Micro-batches per optimizer step."),
    layerwise_lr_decay: float = _setting(
        "--layerwise-lr-decay", help="Scale the lr by this per level below the head (1 = off; try 0.9)."
    ),
    seed: int = _setting("--seed", help="Seed of the head's initialisation, the data order and dropout."),
    metric: str | None = _setting(
        "--metric", help="Dev metric that picks the best model (default: accuracy, pearson, or f1)."
    ),
    patience: int | None = _setting(
        "--patience", help="Stop after this many evaluations without improvement (default: never)."
    ),
    eval_every: int | None = _setting("--eval-every", help="Steps between evaluations (default: each epoch)."),
    checkpoint_every: int | None = _setting(
        "--checkpoint-every", help="Steps between checkpoints (default: at every evaluation)."
    ),
    keep_checkpoints: int = _setting("--keep-checkpoints", help="Checkpoints kept (the last ones)."),
    log_every: int = _setting("--log-every", help="Steps between lines of metrics.jsonl."),
    max_train_examples: int | None = _setting("--max-train-examples", help="Train on a seeded sample of this many examples."),
    max_dev_examples: int | None = _setting("--max-dev-examples", help="Evaluate the first N dev examples."),
    doc_stride: int = _setting("--doc-stride", help="Question answering: pieces shared by context windows."),
    max_answer_length: int = _setting("--max-answer-length", help="Question answering: longest answer in pieces."),
    text_column: str | None = _TEXT_COLUMN,
    pair_column: str | None = _PAIR_COLUMN,
    label_column: str | None = _LABEL_COLUMN,
    tag_column: str | None = _TAG_COLUMN,
    no_header: bool = _NO_HEADER,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    device: str = _setting("--device", help="cpu, cuda, cuda:N, mps or auto."),
    bf16: bool = _setting("--bf16/--no-bf16", help="bf16 autocast on GPU."),
    fast: bool = _setting("--fast/--no-fast", help="The packed (unpadded) encoder, attn_implementation='packed', on every device."),
    threads: int | None = _setting("--threads", help="CPU threads (default: torch's)."),
    progress: bool = _setting("--progress/--no-progress", help="Progress and status lines on stderr."),
) -> None:
    """Fine-tune a model on a task; the best model on the dev set is saved to OUT/best.

    Safe to interrupt: run the same command with --resume to continue from the last checkpoint.
    OUT/best loads in albert.pipeline(TASK, model=OUT/best), `albert evaluate` and transformers.
    """
    from ..training.finetuning.trainer import finetune

    show_training_messages()
    settings = FinetuneSettings(
        task=task, epochs=epochs, learning_rate=lr, batch_size=batch_size, eval_batch_size=eval_batch_size,
        max_length=max_length, warmup_ratio=warmup_ratio, weight_decay=weight_decay, max_grad_norm=max_grad_norm,
        accumulation_steps=accumulation_steps, layerwise_lr_decay=layerwise_lr_decay, seed=seed, metric=metric,
        patience=patience, eval_every=eval_every, checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints, log_every=log_every, max_train_examples=max_train_examples,
        max_dev_examples=max_dev_examples, doc_stride=doc_stride, max_answer_length=max_answer_length,
        read_options=_read_options(text_column, pair_column, label_column, tag_column, no_header),
        device=device, bf16=bf16, fast=fast, threads=threads, progress=progress,
    )
    settings.validate()  # before the model and the data load
    result = finetune(model, train, dev, out, settings, resume=resume)
    if result.best_metrics:
        typer.echo(f"best dev {result.metric}: {result.best_value:.4f} at step {result.best_step}"
                   + (" (stopped early)" if result.stopped_early else ""))
        _show_metrics(result.best_metrics)
    typer.echo(f"model: {result.best_model}")
    typer.echo(f"metrics: {result.run_dir / 'metrics.json'}, curves: {result.run_dir / 'curves.png'}")


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="A fine-tuned model folder (e.g. RUN/best)."),
    file: Path = typer.Argument(..., help="Labelled examples in a format of the task."),
    task: Literal[TASK_NAMES] | None = typer.Option(None, "--task", help="The task (default: the one the model was fine-tuned for)."),
    max_length: int | None = typer.Option(None, "--max-length", help="Longest input (default: as fine-tuned)."),
    doc_stride: int | None = typer.Option(None, "--doc-stride", help="Question answering: window overlap."),
    batch_size: int = typer.Option(64, "--batch-size"),
    max_examples: int | None = typer.Option(None, "--max-examples", help="Evaluate the first N examples only."),
    text_column: str | None = _TEXT_COLUMN,
    pair_column: str | None = _PAIR_COLUMN,
    label_column: str | None = _LABEL_COLUMN,
    tag_column: str | None = _TAG_COLUMN,
    no_header: bool = _NO_HEADER,
    output: Path = typer.Option(Path("metrics.json"), "--output", help="Where to write the metrics as JSON."),
    predictions: Path | None = typer.Option(None, "--predictions", help="Also write each example's prediction (JSONL)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N, mps or auto."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Score a fine-tuned model on a labelled file: prints the metrics and writes them to --output."""
    from ..training.finetuning.evaluate import evaluate

    columns_given = any(value is not None for value in (text_column, pair_column, label_column, tag_column)) or no_header
    metrics = evaluate(
        model, file, task,
        read_options=_read_options(text_column, pair_column, label_column, tag_column, no_header) if columns_given else None,
        max_length=max_length, doc_stride=doc_stride, batch_size=batch_size, max_examples=max_examples,
        device=device, predictions_path=predictions, progress=sys.stderr.isatty(),
    )
    record = {"model": str(model), "file": str(file), **metrics}
    write_text_atomic(output, json.dumps(record, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        _show_metrics(metrics)
        typer.echo(f"wrote {output}")
