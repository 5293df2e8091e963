"""What every pipeline shares: loading, devices, tokenized pieces, windows, and batched inference.

A pipeline turns plain text into plain records in three steps: ``encode`` (text -> pieces with
character spans), ``forward`` (features -> model outputs, batched here once for all tasks), and
a task-specific step that reads the outputs back into records. The model is called in exactly
one place, :meth:`Pipeline.forward`, so a faster encoder can be plugged in there alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

if TYPE_CHECKING:
    from ..modeling import AlbertPreTrainedModel

from ..checkpoint_files import NEW_WEIGHTS_RECORD
from ..codecs.base import Encoded, Feature
from ..codecs.base import TruncationWarning as TruncationWarning  # re-exported: its old home
from ..codecs.base import build_inputs as build_inputs  # re-exported: its old home
from ..codecs.texts import Pieces, check_texts, encode_pieces  # noqa: F401  (the pipelines import them from here)
from ..codecs.windows import most_central_window as most_central_window  # re-exported: its old home
from ..devices import resolve_device, resolve_dtype
from ..errors import InputTypeError, OptionError, OptionTypeError, UntrainedHeadError
from ..hub import default_model as default_model  # re-exported: albert.pipelines' default
from ..hub import shipped_models
from ..precision import apply_precision, check_dtype_for, check_precision
from ..tokenization_base import check_tokenizer_fits, pad_batch
from ..tokenization_base import window_ranges as window_ranges  # re-exported: the one windowing rule

#: Progress bars appear only when inference takes at least this many batches (and stderr is a
#: terminal): a bar that flashes for a tenth of a second is noise.
PROGRESS_MIN_BATCHES = 8

#: Models narrower than this stay in torch by default: a single text takes a millisecond or two
#: there, and exporting the graph (seconds) would not pay back.
ONNX_MIN_HIDDEN_SIZE = 256

#: The weights each task reads beyond the encoder (its head, by name prefix). When a checkpoint
#: lacks them they are newly initialised, and the task's answers would be random. Embeddings read
#: the encoder's states only ("cls" pooling is the [CLS] state, not the pooler).
TASK_HEADS: dict[str, tuple[str, ...]] = {
    "fill-mask": ("predictions.",),
    "text-classification": ("classifier.", "albert.pooler."),
    "token-classification": ("classifier.",),
    "question-answering": ("qa_outputs.",),
    "multiple-choice": ("classifier.", "albert.pooler."),
    "embeddings": (),
}


@contextlib.contextmanager
def _new_weights_unlogged() -> Iterator[None]:
    """Leave out the model classes' log of newly initialised weights while a pipeline loads a
    model: the pipeline refuses (or, when allowed, reports) an untrained head of its task
    itself, and the weights of heads the task does not read are no concern of its users."""
    logger = logging.getLogger("albert")

    def keep(record: logging.LogRecord) -> bool:
        return not getattr(record, NEW_WEIGHTS_RECORD, False)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def untrained_head_message(task: str, model: str | os.PathLike[str] | None, kind: str, fresh: Sequence[str]) -> str:
    """Why a model with an untrained ``task`` head (the newly initialised weights ``fresh``) is
    refused, and what to pass instead: a fine-tuned model, or how to fine-tune one."""
    shipped = {path: name for name, path in shipped_models().items()}
    name = shipped.get(Path(model), model) if model is not None else None
    where = f"the model {name}" if name is not None else f"this {kind}"
    weights = ", ".join(fresh[:4]) + (f" and {len(fresh) - 4} more" if len(fresh) > 4 else "")
    said = f"{where} has no trained {task} head: {weights} {'is' if len(fresh) == 1 else 'are'} not in its weights"
    anyway = "or pass --allow-untrained-head (allow_untrained_head=True) to run the random head anyway"
    if task == "fill-mask":
        return (
            f"{said}, so the masked-LM head would be random and so would every prediction. Pass a model "
            "pretrained with its masked-LM head (saved from AlbertForMaskedLM or AlbertForPreTraining, such as "
            f"the shipped albert-small-en or albert/albert-base-v2), {anyway}."
        )
    start = name if name is not None else "MODEL"
    return (
        f"{said}, so it would be random and so would every answer. Pass a model fine-tuned for {task}, or "
        f"fine-tune one: albert finetune --task {task} --model {start} --train TRAIN_FILE --out RUN, then "
        f"--model RUN/best (model='RUN/best'); {anyway}."
    )


# -- pieces, spans and windows -----------------------------------------------------------------


def span_of(spans: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The character span covering several pieces' spans (empty spans of bare "▁" ignored)."""
    visible = [span for span in spans if span[1] > span[0]]
    if not visible:
        return spans[0] if spans else (0, 0)
    return visible[0][0], max(end for _, end in visible)


def warn_truncated(encoded: Sequence[Encoded], detail: str) -> None:
    """A :class:`TruncationWarning` (``inputs[i] <detail>``) for each example its codec cut to fit,
    pointing at the line that called the pipeline."""
    for index, example in enumerate(encoded):
        if example.truncated:
            warnings.warn(TruncationWarning(index, detail), stacklevel=3)


# -- batching ----------------------------------------------------------------------------------


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding stays small.

    Results are put back in input order by the caller, by index.
    """
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _show_progress(requested: bool | None, num_batches: int) -> bool:
    if requested is not None:
        return requested
    return num_batches >= PROGRESS_MIN_BATCHES and sys.stderr.isatty()


# -- the pipeline ------------------------------------------------------------------------------


class Pipeline:
    """Base of every task pipeline: holds the model, tokenizer, device and batch size.

    Args:
        model: a folder, shipped model name or Hub id, or a loaded model of ``model_class``;
            None means :func:`default_model`.
        tokenizer: a tokenizer, or where to load one from; by default the model's own files.
        device: "cpu", "cuda", "cuda:1", an index, or None/"auto" (a GPU when there is one).
        dtype: "float32", "bfloat16", "float16" (or torch dtypes), or "auto" for the dtype the
            weights are stored in; None loads float32 (a model passed in keeps its own).
        batch_size: how many model inputs run at once.
        progress: True/False to force a progress bar on or off; None shows one on a terminal
            when there are many batches.
        fast: the packed (unpadded) encoder, ``attn_implementation="packed"``. None (default):
            on for models loaded by name, a model passed in keeps its own setting; True or
            False: that setting, for whichever model the pipeline runs.
        onnx: run the encoder in ONNX Runtime on the CPU (:func:`albert.fast.onnx_encoder.use_onnx`):
            True exports it once (cached by its weights), a path uses that graph. Needs the
            ``onnx`` extra. None (default): batches of a few rows (single texts) go to ONNX Runtime
            and larger ones to the packed torch path, when the model was loaded by name, runs on
            the CPU in float32 with ``precision="exact"``, is not tiny (hidden size >= 256) and the
            extra is installed (:class:`albert.fast.onnx_encoder.SmallBatchOnnx`); False: torch only.
        precision: ``"exact"`` (default: the dtype asked for), ``"fast"`` (bfloat16 where the
            hardware multiplies it natively, else float32 with a warning) or ``"int8"`` (dynamic
            int8 quantisation of the encoder, CPU only); see :mod:`albert.precision`.
        allow_untrained_head: run even when the task's head (:data:`TASK_HEADS`) was newly
            initialised at load, not read from the checkpoint (its answers are random: for
            testing the plumbing only). By default such a model is refused.

    Raises:
        ModelNotFoundError: the model cannot be found (or none was given and none ships).
        UntrainedHeadError: the task's head is not in the checkpoint (the model's
            ``loading_info`` lists it as newly initialised), unless ``allow_untrained_head``.
        CheckpointError: the weights are damaged, or lack part of the encoder.
        OptionTypeError: a loaded model of the wrong kind was passed.
        TokenizerMismatchError: the tokenizer has more pieces than the model's ``vocab_size``.
        OptionError: ``onnx`` on a pipeline that is not on the CPU or with reduced precision, an
            unknown ``precision`` or one that contradicts ``dtype``, or ``batch_size`` below 1.
    """

    #: The head this task loads from a name (e.g. AlbertForMaskedLM).
    model_class: ClassVar[type[AlbertPreTrainedModel]]
    #: Classes of already loaded models the task can use (the loading class by default).
    accepted_classes: ClassVar[tuple[type[AlbertPreTrainedModel], ...]] = ()
    task: ClassVar[str] = ""

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        device: str | int | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        batch_size: int = 32,
        progress: bool | None = None,
        fast: bool | None = None,
        onnx: bool | str | os.PathLike[str] | None = None,
        allow_untrained_head: bool = False,
        precision: str = "exact",
    ) -> None:
        if batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, got {batch_size}")
        self.precision = check_precision(precision)
        check_dtype_for(self.precision, dtype)
        if self.precision != "exact" and onnx not in (None, False):
            raise OptionError(
                f"onnx runs the float32 graph; it cannot be combined with precision={self.precision!r} "
                "(for an int8 graph: albert export onnx MODEL OUT --int8, then onnx=OUT.int8.onnx)"
            )
        self.device = resolve_device(device)
        self.fast = fast
        self.allow_untrained_head = allow_untrained_head
        self._loaded_by_name = isinstance(model, (str, os.PathLike)) or model is None
        self.model = apply_precision(self._load_model(model, resolve_dtype(dtype)), self.precision)
        self.tokenizer = self._load_tokenizer(tokenizer)
        # The one place a model meets its tokenizer: a mismatch is an error now, not an
        # IndexError (or nonsense) at the first text whose ids the model lacks.
        check_tokenizer_fits(self.tokenizer, self.config.vocab_size, getattr(self.model, "name_or_path", "given"))
        if onnx is None:
            self._onnx_for_small_batches()
        elif onnx is not False:
            if self.device.type != "cpu":
                raise OptionError(f"onnx runs the encoder in ONNX Runtime on the CPU; this pipeline is on {self.device}")
            from ..fast.onnx_encoder import use_onnx

            use_onnx(self.model, None if onnx is True else onnx)
        self.batch_size = batch_size
        self.progress = progress

    def _onnx_for_small_batches(self) -> None:
        """The default back-end choice (``onnx=None``): single texts in ONNX Runtime, larger
        batches in torch, where that is exact and pays (see the ``onnx`` argument)."""
        if not (self._loaded_by_name and self.device.type == "cpu" and self.precision == "exact"):
            return
        if self.model.dtype != torch.float32 or self.config.hidden_size < ONNX_MIN_HIDDEN_SIZE:
            return
        from ..fast.onnx_encoder import onnx_available, use_onnx_for_small_batches

        if onnx_available():
            use_onnx_for_small_batches(self.model)

    # -- loading --------------------------------------------------------------------------------
    def _load_model(self, model: Any, dtype: torch.dtype | str | None) -> AlbertPreTrainedModel:
        if model is None:
            model = default_model()
        if isinstance(model, (str, os.PathLike)):
            with _new_weights_unlogged():  # a new head is refused or reported below, once
                loaded = self.load(model, dtype)
            self._check_head(loaded, model)
            if self.fast is not False:  # by default only models loaded here: a model passed in is the caller's
                loaded.set_attn_implementation("packed")
        else:
            accepted = self.accepted_classes or (self.model_class,)
            if not isinstance(model, accepted):
                names = " or ".join(cls.__name__ for cls in accepted)
                raise OptionTypeError(
                    f"the {self.task} pipeline needs a {names}, got {type(model).__name__}; "
                    f"load one with {self.model_class.__name__}.from_pretrained(...) or pass the folder"
                )
            self._check_head(model, getattr(model, "name_or_path", None))
            loaded = model.to(dtype=dtype) if isinstance(dtype, torch.dtype) else model
            if self.fast is not None:  # asked for in so many words: the caller's model is switched
                loaded.set_attn_implementation("packed" if self.fast else "sdpa")
        return loaded.to(self.device).eval()

    def _check_head(self, model: Any, name: str | os.PathLike[str] | None) -> None:
        """Refuse a model whose head for this task was newly initialised when it was loaded (its
        ``loading_info`` says so; a model built in code has none and is the caller's own); with
        ``allow_untrained_head``, warn instead.

        Raises:
            UntrainedHeadError: unless ``allow_untrained_head``; the message says how to get a
                trained head.
        """
        info = getattr(model, "loading_info", None)
        prefixes = TASK_HEADS.get(self.task, ())
        if info is None or not prefixes:
            return
        fresh = [key for key in [*info.missing_keys, *(key for key, *_ in info.mismatched_keys)]
                 if key.startswith(prefixes)]  # fmt: skip
        if not fresh:
            return
        if not self.allow_untrained_head:
            raise UntrainedHeadError(untrained_head_message(self.task, name, type(model).__name__, fresh))
        warnings.warn(
            f"the {self.task} head is untrained ({', '.join(fresh)} newly initialised, as allow_untrained_head "
            "asked): its answers are random",
            UserWarning, stacklevel=4,
        )  # fmt: skip

    def load(self, name_or_path: str | os.PathLike[str], dtype: torch.dtype | str | None) -> AlbertPreTrainedModel:
        """Load :attr:`model_class` from a name (tasks that can use several heads override this)."""
        return self.model_class.from_pretrained(name_or_path, dtype=dtype)

    def _load_tokenizer(self, tokenizer: Any) -> Any:
        if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
            return tokenizer
        source = tokenizer if tokenizer is not None else getattr(self.model, "name_or_path", None)
        if source is None:
            raise OptionError(
                "the model was passed without a tokenizer and does not say where it was loaded from: "
                "pass tokenizer=AlbertTokenizer.from_pretrained(...) too"
            )
        from ..tokenizer import load_tokenizer

        return load_tokenizer(source)

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def max_length(self) -> int:
        """The longest input the model takes, special tokens included."""
        window = int(self.config.max_position_embeddings)
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < window:
            window = tokenizer_limit
        return window

    # -- inference ------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor], **options: Any) -> Any:
        """Run the model on one padded batch already on the device (the one place it is called).

        ``options`` are passed to the model, e.g. ``output_hidden_states=True``.
        """
        return self.model(**batch, **options)

    def run(
        self,
        features: Sequence[Feature],
        read_outputs: Callable[[Any, dict[str, torch.Tensor]], dict[str, torch.Tensor]],
        **options: Any,
    ) -> list[dict[str, np.ndarray]]:
        """Run the model over ``features`` in length-sorted batches; results in input order.

        Args:
            features: model inputs, each with ``input_ids`` (and ``token_type_ids``).
            read_outputs: ``(model output, padded batch) -> tensors wanted``, each batch-first;
                picking here, on the device, keeps large outputs (vocabulary scores) off the CPU.
                The batch also holds ``feature_index``, each row's index into ``features``.
            options: passed to the model's forward, e.g. ``output_hidden_states=True``.

        Returns:
            For every feature, the picked tensors' rows as float32 numpy arrays (sequence-shaped
            rows still padded to the batch's width: callers cut them to their own length).
        """
        lengths = [len(feature["input_ids"]) for feature in features]
        too_long = [length for length in lengths if length > self.max_length]
        if too_long:  # every task windows or truncates before this
            raise RuntimeError(  # a bug, not a user's error
                f"an input of {max(too_long)} tokens exceeds the model's window of {self.max_length}"
            )
        batches = length_sorted_batches(lengths, self.batch_size)
        results: list[dict[str, np.ndarray] | None] = [None] * len(features)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

        def collect(indices: list[int], picked: dict[str, torch.Tensor]) -> None:
            arrays = {name: tensor.float().cpu().numpy() for name, tensor in picked.items()}
            for row, index in enumerate(indices):
                results[index] = {name: values[row] for name, values in arrays.items()}

        # One batch in flight: a batch's results are copied to the host only after the next batch
        # is queued, so a GPU computes while the host pads the next batch and reads the last one.
        pending: tuple[list[int], dict[str, torch.Tensor]] | None = None
        with torch.inference_mode():
            for indices in self._progress(batches, self.task):
                chosen = [features[index] for index in indices]
                ids, types = [row["input_ids"] for row in chosen], [row.get("token_type_ids", ()) for row in chosen]
                padded = pad_batch(ids, pad_id, types)
                batch = {name: torch.from_numpy(array).to(self.device) for name, array in padded.items()}
                output = self.forward(batch, **options)
                batch["feature_index"] = torch.tensor(indices, device=self.device)
                picked = read_outputs(output, batch)
                del output  # (all hidden states, say) not kept alive through the next batch
                if pending is not None:
                    collect(*pending)
                pending = (indices, picked)
            if pending is not None:
                collect(*pending)
        return results  # type: ignore[return-value]

    def run_encoded(
        self,
        encoded: Sequence[Encoded],
        read_outputs: Callable[[Any, dict[str, torch.Tensor]], dict[str, torch.Tensor]],
        **options: Any,
    ) -> list[list[dict[str, np.ndarray]]]:
        """:meth:`run` over the features of examples a codec encoded, all in one length-sorted
        pass; for each example, its features' picked outputs in order."""
        outputs = self.run([feature for example in encoded for feature in example.features], read_outputs, **options)
        grouped, start = [], 0
        for example in encoded:
            grouped.append(outputs[start : start + len(example.features)])
            start += len(example.features)
        return grouped

    def _progress(self, batches: list[list[int]], description: str) -> Iterator[list[int]]:
        if not _show_progress(self.progress, len(batches)):
            yield from batches
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        # stderr, so that results piped from stdout never mix with the bar
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(description, total=sum(len(batch) for batch in batches))
            for batch in batches:
                yield batch
                progress.advance(task, len(batch))


def as_list(inputs: Any, kind: str = "text") -> tuple[list[Any], bool]:
    """``(list of inputs, whether a single input was given)``; a single input gives one result."""
    if isinstance(inputs, (str, Mapping)):
        return [inputs], True
    if isinstance(inputs, Sequence):
        return list(inputs), False
    raise InputTypeError(f"expected a {kind} or a list of them, got {type(inputs).__name__}")


