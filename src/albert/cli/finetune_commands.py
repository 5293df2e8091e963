"""Fine-tuning from the shell: ``albert finetune`` and ``albert evaluate``.

Thin: each command parses its options, calls :mod:`albert.training.finetuning.trainer` or
:mod:`albert.training.finetuning.evaluate`, and prints. Errors a user can fix (unreadable data, unknown
labels, a diverged run, settings that differ on resume) are printed as one line on stderr with
exit status 1, without a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Literal

import typer

from ..atomic_files import write_text_atomic
from ..errors import OptionError
from ..options import settings_command
from ..training.finetuning.readers import ReadOptions
from ..training.finetuning.settings import TASK_NAMES, FinetuneSettings
from .app import app, show_training_messages
from .train_commands import SETTINGS_FILE_HELP

TASK_HELP = "What the model learns to do."


def _read_options(text_column: str | None, pair_column: str | None, label_column: str | None,
                  tag_column: str | None, no_header: bool, negative_column: str | None = None) -> ReadOptions:
    tag: str | int | None = tag_column
    if tag_column is not None and tag_column.lstrip("-").isdigit():
        tag = int(tag_column)  # a column position in CoNLL files; a key name in JSON files
    return ReadOptions(text_column=text_column, pair_column=pair_column, label_column=label_column,
                       tag_column=tag, header=not no_header, negative_column=negative_column)


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
_NEGATIVE_COLUMN = typer.Option(
    None, "--negative-column", help="Sentence embeddings: column of a hard negative (default: found by name, e.g. negative)."
)
_NO_HEADER = typer.Option(False, "--no-header", help="TSV/CSV files without a header row: columns are 0, 1, 2 ...")


#: The order ``albert finetune --help`` shows its options in (the settings' own, with the rest).
_FINETUNE_ORDER = [
    "task", "model", "train", "dev", "out", "epochs", "learning_rate", "batch_size", "eval_batch_size", "max_length",
    "warmup_ratio", "weight_decay", "max_grad_norm", "accumulation_steps", "layerwise_lr_decay", "dropout", "seed", "metric",
    "patience", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every", "max_train_examples",
    "max_dev_examples", "doc_stride", "max_answer_length", "pooling", "matryoshka", "scale", "text_column",
    "pair_column", "label_column", "tag_column", "negative_column", "no_header", "resume", "spark", "processes", "device", "bf16", "fast", "threads", "progress", "settings_file",
]  # fmt: skip


@app.command("finetune")
@settings_command(FinetuneSettings, order=_FINETUNE_ORDER, file_help=SETTINGS_FILE_HELP, file_flags=("--settings", "--config"))
def finetune_command(
    settings: FinetuneSettings,
    model: str = typer.Option(..., "--model", help="Model to start from: a folder, a shipped model's name or a Hub id."),
    train: Path = typer.Option(..., "--train", help="Training file (TSV/CSV/JSONL, Parquet, CoNLL, SQuAD JSON, SWAG/RACE)."),
    dev: Path | None = typer.Option(None, "--dev", help="Dev file: evaluated during training to keep the best model."),
    out: Path = typer.Option(..., "--out", help="Run folder: best/, metrics.json, metrics.jsonl, curves.png, checkpoints/."),
    text_column: str | None = _TEXT_COLUMN,
    pair_column: str | None = _PAIR_COLUMN,
    label_column: str | None = _LABEL_COLUMN,
    tag_column: str | None = _TAG_COLUMN,
    negative_column: str | None = _NEGATIVE_COLUMN,
    no_header: bool = _NO_HEADER,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    spark: str | None = typer.Option(
        None, "--spark", metavar="MASTER",
        help="Train on Spark's TorchDistributor (DDP): local[N] runs the processes here, spark://... on the "
        "executors (files and OUT on shared storage). Needs the spark extra.",
    ),
    processes: int = typer.Option(1, "--processes", min=1, help="With --spark: training processes (--batch-size is the global batch)."),
) -> None:
    """Fine-tune a model on a task; the best model on the dev set is saved to OUT/best.

    Safe to interrupt: run the same command with --resume to continue from the last checkpoint.
    OUT/best loads in albert.pipeline(TASK, model=OUT/best), `albert evaluate` and transformers.
    """
    show_training_messages()
    # the column options given here replace those of a --settings file (the rest of its read_options stay)
    given = _read_options(text_column, pair_column, label_column, tag_column, no_header, negative_column)
    changed = {name: value for name, value in dataclasses.asdict(given).items() if value != getattr(ReadOptions(), name)}
    settings = dataclasses.replace(settings, read_options=dataclasses.replace(settings.read_options, **changed))
    if spark is not None:
        result = _finetune_on_spark(spark, processes, model, train, dev, out, settings, resume)
    elif processes != 1:
        raise OptionError("--processes needs --spark MASTER (or start albert finetune with torchrun --nproc_per_node N)")
    else:
        from ..training.finetuning.trainer import finetune

        result = finetune(model, train, dev, out, settings, resume=resume)
    if result.best_metrics:
        typer.echo(f"best dev {result.metric}: {result.best_value:.4f} at step {result.best_step}"
                   + (" (stopped early)" if result.stopped_early else ""))
        _show_metrics(result.best_metrics)
    typer.echo(f"model: {result.best_model}")
    typer.echo(f"metrics: {result.run_dir / 'metrics.json'}, curves: {result.run_dir / 'curves.png'}")


def _finetune_on_spark(master: str, processes: int, model: str, train: Path, dev: Path | None, out: Path,
                       settings: FinetuneSettings, resume: bool) -> Any:
    """``finetune`` on ``processes`` processes of Spark's TorchDistributor: on the driver for a
    local master, else on the executors (the files and OUT must then be on shared storage)."""
    from ..spark import spark_session
    from ..spark.training_job import run_finetune

    session = spark_session(master, app_name="albert finetune", ui=False)
    try:
        folder = Path(model).expanduser()
        return run_finetune(
            str(folder.resolve()) if folder.is_dir() else model, train.resolve(),
            dev.resolve() if dev is not None else None, out.resolve(), settings, num_processes=processes,
            use_gpu=settings.device.startswith("cuda"), local_mode=master.startswith("local"), resume=resume,
        )
    finally:
        session.stop()


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="A fine-tuned model folder (e.g. RUN/best)."),
    file: Path = typer.Argument(..., help="Labelled examples in a format of the task."),
    # typer makes the choices of the tuple at run time; mypy wants the names spelt out (as in FinetuneSettings.task)
    task: Literal[TASK_NAMES] | None = typer.Option(None, "--task", help="The task (default: the one the model was fine-tuned for)."),  # type: ignore[valid-type]
    max_length: int | None = typer.Option(None, "--max-length", help="Longest input (default: as fine-tuned)."),
    doc_stride: int | None = typer.Option(None, "--doc-stride", help="Question answering: window overlap."),
    batch_size: int = typer.Option(64, "--batch-size"),
    max_examples: int | None = typer.Option(None, "--max-examples", help="Evaluate the first N examples only."),
    text_column: str | None = _TEXT_COLUMN,
    pair_column: str | None = _PAIR_COLUMN,
    label_column: str | None = _LABEL_COLUMN,
    tag_column: str | None = _TAG_COLUMN,
    negative_column: str | None = _NEGATIVE_COLUMN,
    no_header: bool = _NO_HEADER,
    output: Path = typer.Option(Path("metrics.json"), "--output", help="Where to write the metrics as JSON."),
    predictions: Path | None = typer.Option(None, "--predictions", help="Also write each example's prediction (JSONL)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N, mps or auto."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Score a fine-tuned model on a labelled file: prints the metrics and writes them to --output."""
    from ..training.finetuning.evaluate import evaluate

    columns = (text_column, pair_column, label_column, tag_column, negative_column)
    columns_given = any(value is not None for value in columns) or no_header
    metrics = evaluate(
        model, file, task,
        read_options=_read_options(text_column, pair_column, label_column, tag_column, no_header, negative_column)
        if columns_given else None,
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
