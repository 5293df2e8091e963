"""Evaluating a fine-tuned model: run it over a task's features and score the predictions.

:func:`predict` is the one place where the model meets evaluation data (during fine-tuning and
in ``albert evaluate``): features in length-sorted batches, bf16 autocast on GPU, the head's
loss when labels are there. :func:`evaluate` does it all for a saved model folder and a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ...atomic_files import atomic_path
from ...config import AlbertConfig
from ...errors import InputError, ModelNotFoundError, OptionError
from ..loop import autocast_for
from .tasks import EncodeOptions, Feature, ReadOptions, Task, collate, feature_length, get_task

if TYPE_CHECKING:
    from ...modeling import AlbertPreTrainedModel

#: Written into a fine-tuned model folder: how it was trained (task, lengths), so that
#: evaluation encodes inputs the same way by default.
FINETUNE_INFO_NAME = "finetune.json"


@dataclass
class Evaluation:
    """Metrics (with ``loss`` when the data has labels) and one prediction per example."""

    metrics: dict[str, float]
    predictions: list[Any] = field(default_factory=list)


def predict(
    model: torch.nn.Module,
    task: Task,
    features: Sequence[Feature],
    *,
    pad_token_id: int,
    batch_size: int = 64,
    device: torch.device | None = None,
    bf16: bool = True,
    progress: Any = None,
) -> tuple[list[dict[str, np.ndarray]], float | None]:
    """Run ``model`` over ``features``; returns each feature's outputs (float32 numpy rows, in
    input order, still padded to their batch's width) and the mean loss over batches (weighted
    by rows), or None when some feature has no labels.

    Args:
        progress: an optional ``(advance: int) -> None`` called after each batch.
    """
    device = device or next(model.parameters()).device
    order = sorted(range(len(features)), key=lambda index: -feature_length(features[index]))
    results: list[dict[str, np.ndarray] | None] = [None] * len(features)
    loss_sum, loss_rows = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                indices = order[start:start + batch_size]
                batch = collate([features[index] for index in indices], pad_token_id)
                batch = {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}
                with autocast_for(device, bf16):
                    output = model(**batch)
                if output.loss is not None:
                    loss_sum += float(output.loss) * len(indices)
                    loss_rows += len(indices)
                picked = {name: tensor.float().cpu().numpy() for name, tensor in task.read_outputs(output).items()}
                for row, index in enumerate(indices):
                    results[index] = {name: values[row] for name, values in picked.items()}
                if progress is not None:
                    progress(len(indices))
    finally:
        model.train(was_training)
    loss = loss_sum / loss_rows if loss_rows == len(features) and loss_rows else None
    return results, loss  # type: ignore[return-value]


def evaluate_examples(
    model: AlbertPreTrainedModel,
    tokenizer: Any,
    task: Task,
    examples: Sequence[Any],
    options: EncodeOptions,
    *,
    features: Sequence[Feature] | None = None,
    batch_size: int = 64,
    device: torch.device | None = None,
    bf16: bool = True,
    progress: Any = None,
) -> Evaluation:
    """Encode (unless ``features`` are given), predict and score ``examples`` with ``model``."""
    config = model.config
    if features is None:
        features = task.encode(examples, tokenizer, config.label2id, options)
    outputs, loss = predict(task.prediction_model(model, options), task, features, pad_token_id=_pad_id(tokenizer), batch_size=batch_size,
                            device=device, bf16=bf16, progress=progress)
    metrics, predictions = task.score(examples, features, outputs, config.id2label, options)
    if loss is not None:
        metrics["loss"] = loss
    return Evaluation(metrics, predictions)


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def read_finetune_info(model_dir: str | os.PathLike) -> dict[str, Any]:
    """What :mod:`.trainer` recorded about a model folder (empty when it was not fine-tuned here)."""
    path = Path(model_dir) / FINETUNE_INFO_NAME
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def resolve_task_name(model_dir: str | os.PathLike, task: str | None) -> str:
    """The task given, else the one the folder was fine-tuned for.

    Raises:
        ModelNotFoundError: no task given and no such folder.
        OptionError: no task given and the folder does not say.
    """
    if task:
        return task
    if not Path(model_dir).is_dir():
        raise ModelNotFoundError(
            f"no model folder at {model_dir}: give a folder written by albert finetune (e.g. RUN/best), "
            "or, for any other model, its task with --task"
        )
    recorded = read_finetune_info(model_dir).get("task")
    if recorded is None:
        config_path = Path(model_dir) / "config.json"
        if config_path.is_file():
            recorded = AlbertConfig.from_json_file(config_path).extra.get("finetuning_task")  # bounded, validated
    if recorded is None:
        raise OptionError(f"{model_dir} does not say which task it was fine-tuned for; pass --task")
    return recorded


def evaluate(
    model_dir: str | os.PathLike,
    file: str | os.PathLike,
    task: str | None = None,
    *,
    read_options: ReadOptions | None = None,
    max_length: int | None = None,
    doc_stride: int | None = None,
    allow_no_answer: bool | None = None,
    batch_size: int = 64,
    max_examples: int | None = None,
    device: str | torch.device | None = "auto",
    bf16: bool = True,
    predictions_path: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> dict[str, float]:
    """Score the model in ``model_dir`` on the labelled examples of ``file``.

    Args:
        task: one of :data:`~albert.training.finetuning.tasks.TASK_NAMES`; None: the task the folder was
            fine-tuned for.
        max_length, doc_stride: input length and QA window overlap; None: what the model was
            fine-tuned with (or 128 / 128).
        allow_no_answer: SQuAD 2.0 "no answer" predictions; None: when the file has
            unanswerable questions.
        max_examples: score the first N examples only.
        predictions_path: also write one JSON line per example with its prediction.
        progress: a progress bar on stderr (None: when stderr is a terminal).

    Returns:
        The metrics, e.g. ``{"accuracy": 0.91, "f1": 0.9, "mcc": 0.82, "loss": 0.27}``.

    Raises:
        ValueError (DataFormatError, UnknownLabelError): an unreadable file, or labels the model
            does not know; ModelNotFoundError: no such model.
    """
    from ...devices import resolve_device
    from ...tokenization_base import check_tokenizer_fits
    from ...tokenizer import AlbertTokenizer

    task_name = resolve_task_name(model_dir, task)
    spec = get_task(task_name)
    info = read_finetune_info(model_dir)
    examples = spec.read(file, read_options or ReadOptions(**info.get("read_options", {})))
    if max_examples is not None:
        examples = examples[:max_examples]
    if not examples:
        raise InputError(f"{file} holds no examples to evaluate")
    resolved_device = resolve_device(device)
    source = spec.model_source(model_dir)
    model = spec.load_model(source, resolved_device)
    examples = spec.align_labels(examples, model.config.id2label)
    spec.check_labels(examples, model.config.label2id, str(file))
    tokenizer = AlbertTokenizer.from_pretrained(source)
    check_tokenizer_fits(tokenizer, model.config.vocab_size, str(model_dir))
    from_folder = spec.folder_options(model_dir)  # a sentence-transformers folder's pooling and length
    options = EncodeOptions(
        max_length=max_length or from_folder.pop("max_length", None) or info.get("max_length", 128),
        doc_stride=doc_stride or info.get("doc_stride", 128),
        max_question_length=info.get("max_question_length", 64),
        max_answer_length=info.get("max_answer_length", 30),
        allow_no_answer=allow_no_answer,
        **{name: value for name, value in from_folder.items() if name != "max_length"},
    )
    check_max_length(options.max_length, model.config.max_position_embeddings)
    features = spec.encode(examples, tokenizer, model.config.label2id, options)
    show = sys.stderr.isatty() if progress is None else progress
    with _progress_bar(show, len(features), f"evaluating {Path(file).name}") as advance:
        evaluation = evaluate_examples(model, tokenizer, spec, examples, options, features=features,
                                       batch_size=batch_size, device=resolved_device, bf16=bf16, progress=advance)
    evaluation.metrics["examples"] = float(len(examples))
    if predictions_path is not None:
        write_predictions(predictions_path, examples, evaluation.predictions)
    return evaluation.metrics


def check_max_length(max_length: int, max_position_embeddings: int) -> None:
    """Raise OptionError when inputs of ``max_length`` pieces do not fit the model's positions."""
    if max_length > max_position_embeddings:
        raise OptionError(
            f"max_length {max_length} is longer than the model's {max_position_embeddings} positions; "
            f"use --max-length {max_position_embeddings} or less"
        )


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, description: str):
    if not enabled:
        yield None
        return
    from ..run_log import terminal_progress

    with terminal_progress(enabled=True) as bar:
        task = bar.add_task(description, total=total, status="")
        yield lambda count: bar.advance(task, count)


def write_predictions(path: str | os.PathLike, examples: Sequence[Any], predictions: Sequence[Any]) -> Path:
    """One JSON line per example: its fields and ``prediction``, written atomically."""
    import dataclasses

    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        for example, prediction in zip(examples, predictions):
            if dataclasses.is_dataclass(example) and not isinstance(example, type):  # an instance, not a class
                record = dataclasses.asdict(example)
            else:
                record = {"example": example}
            record["prediction"] = prediction
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return Path(path)
