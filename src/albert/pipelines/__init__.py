"""Pipelines: plain text in, plain records out, for every ALBERT task.

``albert.pipeline("fill-mask", model="path/or/hub-id")`` returns a callable object; the task
names and their aliases are those transformers users know.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ..errors import OptionError
from ..hub import default_model

if TYPE_CHECKING:
    import torch

    from .base import Pipeline

#: Task name -> (module, class). Modules are imported on first use, so `import albert` stays light.
TASKS: dict[str, tuple[str, str]] = {
    "fill-mask": ("fill_mask", "FillMaskPipeline"),
    "embeddings": ("embeddings", "EmbeddingsPipeline"),
    "text-classification": ("text_classification", "TextClassificationPipeline"),
    "token-classification": ("token_classification", "TokenClassificationPipeline"),
    "question-answering": ("question_answering", "QuestionAnsweringPipeline"),
    "multiple-choice": ("multiple_choice", "MultipleChoicePipeline"),
}

#: Other names for the same tasks, as transformers and Spark NLP users say them.
TASK_ALIASES: dict[str, str] = {
    "feature-extraction": "embeddings",
    "embed": "embeddings",
    "sentiment-analysis": "text-classification",
    "classify": "text-classification",
    "ner": "token-classification",
    "tag": "token-classification",
    "qa": "question-answering",
    "answer": "question-answering",
    "choose": "multiple-choice",
}


def pipeline_class(task: str) -> type[Pipeline]:
    """The pipeline class for a task name or alias.

    Raises:
        OptionError: the task is unknown; the message lists the known names.
    """
    name = TASK_ALIASES.get(task, task)
    if name not in TASKS:
        known = ", ".join(sorted([*TASKS, *TASK_ALIASES]))
        raise OptionError(f"unknown task {task!r}; choose one of: {known}")
    module_name, class_name = TASKS[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)


def pipeline(
    task: str,
    model: str | os.PathLike[str] | torch.nn.Module | None = None,
    tokenizer: Any = None,
    device: str | int | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    batch_size: int = 32,
    allow_untrained_head: bool = False,
    **kwargs: Any,
) -> Pipeline:
    """Build the pipeline for ``task``.

    Args:
        task: "fill-mask", "embeddings" ("feature-extraction"), "text-classification"
            ("sentiment-analysis"), "token-classification" ("ner"), "question-answering" or
            "multiple-choice".
        model: a folder written by ``save_pretrained``, a shipped model's name, a Hub id, or a
            loaded model; None uses the model shipped with the package.
        tokenizer: a tokenizer or where to load one from (default: the model's own files).
        device: "cpu", "cuda", "cuda:1", a GPU index, or None for a GPU when there is one.
        dtype: "float32" (default), "bfloat16" or "float16".
        batch_size: model inputs run at once; inputs are grouped by length.
        allow_untrained_head: run a model whose head for ``task`` is not in its checkpoint (newly
            initialised, so its answers are random), e.g. to test the plumbing. By default such
            a model is refused: fill-mask needs a masked-LM head, the other tasks but embeddings
            a fine-tuned one (``albert finetune``).
        **kwargs: ``fast=False`` to run the reference (padded) encoder instead of the fast
            path (:mod:`albert.fast`, the default for models loaded by name); ``precision="fast"``
            (bf16 where the hardware has bf16 dot products) or ``"int8"`` (:mod:`albert.precision`);
            ``onnx=True``/``False`` (default None: single texts in ONNX Runtime on the CPU when the
            ``onnx`` extra is installed, see :class:`~albert.pipelines.base.Pipeline`); the task's own defaults (e.g. ``top_k=10`` for fill-mask,
            ``aggregation_strategy="simple"`` for token-classification) and ``progress``.

    Returns:
        A callable pipeline: ``pipe(text)`` or ``pipe([texts])``.

    Raises:
        OptionError: unknown task; ModelNotFoundError: no such model (or no default model).
        UntrainedHeadError: the task's head is not in the model's checkpoint (see
            ``allow_untrained_head``). CheckpointError: damaged or incomplete weights.
    """
    return pipeline_class(task)(
        model, tokenizer, device=device, dtype=dtype, batch_size=batch_size,
        allow_untrained_head=allow_untrained_head, **kwargs,
    )  # fmt: skip


def __getattr__(name: str) -> Any:
    """``Pipeline`` on first use: the pipelines need torch, and :mod:`albert.pipelines.texts`
    (what a process that only tokenizes imports) must not pull it in through this package."""
    if name == "Pipeline":
        from .base import Pipeline

        return Pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TASKS", "TASK_ALIASES", "Pipeline", "default_model", "pipeline", "pipeline_class"]
