"""What computes the service's batches: the pipelines of one model, on one set of weights, run on
inputs the HTTP side already encoded (:class:`~albert.serve.jobs.Job`): only the model and the
decode run here, through each pipeline's ``infer``.

A folder's head is its config's ``architectures`` (what :class:`~albert.pipelines.embeddings.EmbeddingsPipeline`
reads too); a task is served when its pipeline accepts that head, as the pipelines themselves
decide (``accepted_classes``). The shipped model (``AlbertForPreTraining``) serves fill-mask.
Every model serves embeddings and tokenization. The model is loaded once, by the head task's
pipeline, and the embeddings pipeline runs on the same weights.

A head that the config names but the weights do not hold would be newly initialised, and its
answers random: the head's pipeline refuses it (``UntrainedHeadError``), so the server does not
start, unless ``allow_untrained_head`` (``--allow-untrained-head``) says to serve it anyway.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, cast

from ..config import AlbertConfig
from ..modeling import MODEL_CLASSES, AlbertModel
from ..pipelines import Pipeline, pipeline, pipeline_class
from ..sentence_folder import read_sentence_folder
from ..text_normalization import build_tables
from ..threads import use_threads
from .jobs import Job
from .model_facts import HEAD_TASKS, ModelFacts


def head_task(name_or_path: str | Path) -> str | None:
    """The task the head of the model at ``name_or_path`` serves, or None for a bare encoder (a
    sentence-transformers folder is one)."""
    if Path(name_or_path).is_dir() and read_sentence_folder(name_or_path) is not None:
        return None
    config = AlbertConfig.from_pretrained(name_or_path)
    architecture = (config.extra.get("architectures") or ["AlbertModel"])[0]
    head = MODEL_CLASSES.get(architecture, AlbertModel)
    for task in HEAD_TASKS:
        task_class = pipeline_class(task)
        if issubclass(head, task_class.accepted_classes or (task_class.model_class,)):
            return task
    return None


class Pipelines:
    """The pipelines of one model, on one set of weights: what computes the batches.

    Args:
        model: a folder, shipped model name or Hub id.
        device, dtype, fast, onnx, allow_untrained_head, precision: as for :func:`albert.pipeline`.
        threads: torch's intra-op threads in this process (None: its physical cores; never more);
            set before the model loads (:func:`albert.threads.use_threads`).

    Raises:
        ModelNotFoundError: no such model. UntrainedHeadError: its head is not in its weights (and
        ``allow_untrained_head`` is off). ImportError: ``onnx`` without the onnx extra.
    """

    def __init__(self, model: str, device: str | None = None, dtype: str | None = None, fast: bool | None = None,
                 onnx: bool | None = None, allow_untrained_head: bool = False, precision: str = "exact",
                 threads: int | None = None) -> None:  # fmt: skip
        self.threads = use_threads(threads, "albert serve (the model's process)")
        self.precision = precision
        self.head_task = head_task(model)
        options: dict[str, Any] = dict(device=device, fast=fast, progress=False)
        self.pipelines: dict[str, Pipeline] = {}
        with warnings.catch_warnings(record=True) as caught:  # for the server's log (an untrained head ...)
            warnings.simplefilter("always")
            if self.head_task is not None:
                head = pipeline(self.head_task, model=model, dtype=dtype, onnx=onnx, precision=precision,
                                allow_untrained_head=allow_untrained_head, **options)  # fmt: skip
                self.pipelines[self.head_task] = head
                # The same weights (and their ONNX encoder) for the vectors; dtype and device are set.
                self.pipelines["embeddings"] = pipeline("embeddings", model=head.model, tokenizer=head.tokenizer,
                                                        **options)  # fmt: skip
            else:
                self.pipelines["embeddings"] = pipeline("embeddings", model=model, dtype=dtype, onnx=onnx,
                                                        precision=precision, **options)  # fmt: skip
        #: What loading warned of, one line each.
        self.warnings = tuple(dict.fromkeys(" ".join(str(each.message).split()) for each in caught))
        self.tokenizer = self.pipelines["embeddings"].tokenizer
        build_tables()  # here, not in the first batch with an accent

    def facts(self) -> ModelFacts:
        embeddings = self.pipelines["embeddings"]
        return ModelFacts(
            tasks=tuple(self.pipelines), head_task=self.head_task, window=int(embeddings.max_length),
            dimension=int(embeddings.config.hidden_size), device=str(embeddings.device),
            dtype=str(next(embeddings.model.parameters()).dtype).replace("torch.", ""), warnings=self.warnings,
            sentence=getattr(embeddings, "sentence_config", None),
            threads=self.threads, precision=self.precision,
        )  # fmt: skip

    def compute(self, key: Hashable, items: list[Job]) -> list[Any]:
        """Run one merged batch of inputs the HTTP side encoded: ``key`` is ``(task, ((option,
        value), ...))``; one result per item, as the task's pipeline gives it for a list."""
        task, options = cast("tuple[str, tuple[tuple[str, Any], ...]]", key)
        return _RUNS[task](self.pipelines[task], items, dict(options))


def _embeddings(pipe: Any, jobs: list[Job], options: dict[str, Any]) -> list[Any]:
    return pipe.infer([job.encoded for job in jobs], [job.text for job in jobs], **options)


def _fill_mask(pipe: Any, jobs: list[Job], options: dict[str, Any]) -> list[Any]:
    return pipe.infer([job.text for job in jobs], [job.encoded.meta for job in jobs], **options)


def _text_classification(pipe: Any, jobs: list[Job], options: dict[str, Any]) -> list[Any]:
    return pipe.infer([job.encoded for job in jobs], **options)


def _token_classification(pipe: Any, jobs: list[Job], options: dict[str, Any]) -> list[Any]:
    ignore = options["ignore_labels"]
    ignored = set(pipe.ignore_labels if ignore is None else ignore)
    return pipe.infer([job.encoded for job in jobs], [job.text for job in jobs],
                      options["aggregation_strategy"].lower(), ignored)  # fmt: skip


def _question_answering(pipe: Any, jobs: list[Job], options: dict[str, Any]) -> list[Any]:
    return pipe.infer([job.encoded for job in jobs], [job.text for job in jobs], **options)


def _multiple_choice(pipe: Any, jobs: list[Job], options: dict[str, Any]) -> list[Any]:
    return pipe.infer([job.encoded for job in jobs], [list(job.choices) for job in jobs])


#: How each task's pipeline runs the model on encoded inputs and decodes its outputs.
_RUNS: dict[str, Callable[[Any, list[Job], dict[str, Any]], list[Any]]] = {
    "embeddings": _embeddings,
    "fill-mask": _fill_mask,
    "text-classification": _text_classification,
    "token-classification": _token_classification,
    "question-answering": _question_answering,
    "multiple-choice": _multiple_choice,
}
