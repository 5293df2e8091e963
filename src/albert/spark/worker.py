"""What runs on the executors: one pipeline per Python worker, Arrow batches in and out.

Spark reuses its Python workers across tasks (``spark.python.worker.reuse``, on by default), so a
pipeline kept in this module outlives the task that loaded it: the model loads once per worker
and serves every later batch, task and job that asks for the same model. Each task runs torch on
the cores Spark gave it (``spark.task.cpus``), so N concurrent tasks never fight over threads,
and on the GPU Spark assigned it when there is one.

Within a task, each Arrow batch (``spark.sql.execution.arrow.maxRecordsPerBatch`` rows) is one
call of the pipeline, which groups its inputs into length-sorted batches of ``batchSize``.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import OptionError
from .annotations import Annotation, AnnotationColumn

#: Pipelines kept per worker; a third model evicts the oldest (a worker holds at most two models).
MAX_CACHED_PIPELINES = 2
_PIPELINES: OrderedDict[tuple, Any] = OrderedDict()
#: How many times this process loaded each model (read by the tests through a Spark job).
loads: Counter[str] = Counter()


@dataclass(frozen=True)
class WorkerSpec:
    """Everything an executor needs to annotate a column: plain values, pickled with the task.

    ``options`` are the task's call options as ``(name, value)`` pairs (hashable).
    """

    task: str
    model: str
    device: str = "auto"
    dtype: str = "float32"
    precision: str = "exact"
    batch_size: int = 32
    case_sensitive: bool | None = None
    input_col: str = "text"
    output_col: str = "annotations"
    pair_col: str | None = None
    options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    allow_untrained_head: bool = False  # run a head the checkpoint lacks (random answers)

    @property
    def call_options(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def annotator_type(self) -> str:
        """Spark NLP's type of every annotation this spec writes, which is also its column's
        ``annotatorType`` metadata: ``word_embeddings`` (word and piece levels) or
        ``sentence_embeddings``; ``category``; ``chunk``, or ``named_entity`` for each piece's tag
        (aggregation "none", the pipeline's default)."""
        options = self.call_options
        if self.task == "embeddings":
            sentences = options.get("level") in ("sentence", "document", "text")
            return "sentence_embeddings" if sentences else "word_embeddings"
        if self.task == "token-classification":
            return "named_entity" if options.get("aggregation_strategy", "none") == "none" else "chunk"
        return "category"


# -- loading, once per worker -------------------------------------------------------------------


def task_device(requested: str) -> str:
    """``requested``, or for "auto" the GPU Spark assigned this task (``resources()["gpu"]``);
    without one, "auto" keeps its usual meaning (a GPU when torch sees one, else the CPU)."""
    if requested != "auto":
        return requested
    from pyspark import TaskContext

    context = TaskContext.get()
    gpus = context.resources().get("gpu") if context is not None else None
    if gpus is not None and gpus.addresses:
        return f"cuda:{gpus.addresses[0]}"
    return "auto"


def _task_cores() -> int | None:
    """The cores Spark gave this task (``spark.task.cpus``); torch is set to use that many threads
    (never more than the physical cores; logged) unless the user fixed them by environment
    (``OMP_NUM_THREADS``, which pyspark also sets)."""
    from pyspark import TaskContext

    from ..threads import use_threads

    context = TaskContext.get()
    if context is None:
        return None
    cores = context.cpus()
    if cores:
        use_threads(None if "OMP_NUM_THREADS" in os.environ else cores, f"albert on Spark (spark.task.cpus={cores})")
    return cores


def load_pipeline(spec: WorkerSpec, device: str | None = None) -> Any:
    """A new pipeline for ``spec`` (on ``device``, default the spec's): the model and tokenizer."""
    from ..pipelines import pipeline

    tokenizer = None
    if spec.case_sensitive is not None:
        tokenizer = tokenizer_with_case(spec.model, spec.case_sensitive)
    return pipeline(
        spec.task, model=spec.model, tokenizer=tokenizer, device=device or spec.device, dtype=spec.dtype,
        precision=spec.precision, batch_size=spec.batch_size, progress=False, allow_untrained_head=spec.allow_untrained_head,
    )  # fmt: skip


def pipeline_for(spec: WorkerSpec) -> Any:
    """This worker's pipeline for ``spec``, loaded on first use and kept for later tasks."""
    cores = _task_cores()
    device = task_device(spec.device)
    key = (spec.task, spec.model, device, spec.dtype, spec.precision, spec.case_sensitive, spec.allow_untrained_head)
    if key in _PIPELINES:
        _PIPELINES.move_to_end(key)
    else:
        _PIPELINES[key] = load_pipeline(spec, device)
        loads[spec.model] += 1
        while len(_PIPELINES) > MAX_CACHED_PIPELINES:
            _PIPELINES.popitem(last=False)
    pipe = _PIPELINES[key]
    pipe.batch_size = spec.batch_size
    if cores and hasattr(pipe.tokenizer, "num_threads"):  # SentencePiece too: not every core of the node
        pipe.tokenizer.num_threads = cores
    return pipe


def tokenizer_with_case(model: str, case_sensitive: bool) -> Any:
    """The model's tokenizer, lowercasing or not as asked.

    Raises:
        OptionError: case-sensitive input asked of a lowercase vocabulary (every capital letter
            would become an unknown piece).
    """
    from ..tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer.from_pretrained(model, do_lower_case=not case_sensitive)
    if case_sensitive:
        special = set(getattr(tokenizer, "all_special_tokens", []))
        if not any(any(c.isupper() for c in piece) for piece in tokenizer.get_vocab() if piece not in special):
            raise OptionError(
                f"caseSensitive=True, but the vocabulary of {model} has no capital letters (it was "
                "trained on lowercased text, as every released ALBERT was): capitals would all become "
                "unknown pieces; leave caseSensitive unset or False for this model"
            )
    return tokenizer


# -- Arrow batches in, Arrow batches out ----------------------------------------------------------


@dataclass(frozen=True)
class RowNames:
    """How messages name the rows of one slice: by the Spark partition the task reads (when
    there is one) and their index in it, counted from 0 as Spark counts partitions, so that a
    message names the row, not its place in a slice or an Arrow batch."""

    partition: int | None = None
    first: int = 0  # the slice's first row, as an index into the partition's rows

    def __call__(self, row: int) -> str:
        where = f"partition {self.partition}, " if self.partition is not None else ""
        return f"{where}rows[{self.first + row}]"


def _partition() -> int | None:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context is not None else None


def annotate_batches(batches: Iterator[pa.RecordBatch], spec: WorkerSpec) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: each batch comes back with its annotations column appended,
    in slices of at most :data:`MAX_CHARACTERS_PER_CALL` characters of text. One call reads one
    partition, so rows are counted from its start for the messages that name them."""
    pipe = pipeline_for(spec)
    annotate = ANNOTATORS[spec.task]
    partition, first = _partition(), 0
    for batch in batches:
        for part in _slices(batch, spec.input_col):
            texts = _column(part, spec.input_col)
            pairs = _column(part, spec.pair_col) if spec.pair_col else None
            column = annotate(pipe, texts, pairs, spec, RowNames(partition, first)).to_arrow()
            first += part.num_rows
            yield pa.RecordBatch.from_arrays([*part.columns, column], names=[*part.schema.names, spec.output_col])


#: Text handed to the pipeline at once. An Arrow batch of 10,000 long documents at token level
#: would hold every token's vector in the worker at once (tens of GB for a base model); a slice
#: of this much text holds ~60k pieces' vectors, and still gives the pipeline's length sorting
#: thousands of sentences to group.
MAX_CHARACTERS_PER_CALL = 262_144


def _slices(batch: pa.RecordBatch, text_column: str) -> Iterator[pa.RecordBatch]:
    """Consecutive zero-copy slices of ``batch`` of at most ``MAX_CHARACTERS_PER_CALL`` characters
    (a longer single text is a slice of its own)."""
    lengths = pc.fill_null(pc.utf8_length(batch.column(batch.schema.get_field_index(text_column))), 0)
    start, size = 0, 0
    for row, length in enumerate(lengths.to_pylist()):
        if size and size + length > MAX_CHARACTERS_PER_CALL:
            yield batch.slice(start, row - start)
            start, size = row, 0
        size += length
    if start < batch.num_rows or batch.num_rows == 0:
        yield batch.slice(start)


def _column(batch: pa.RecordBatch, name: str) -> list[str | None]:
    return batch.column(batch.schema.get_field_index(name)).to_pylist()


def _readable(texts: Sequence[str | None]) -> list[int]:
    """Rows with something to read; null rows give null, blank ones an empty array."""
    return [index for index, text in enumerate(texts) if text is not None and text.strip()]


def _has_text(text: str | None) -> bool:
    """Whether a cell has something to read (not null, not blank)."""
    return text is not None and bool(text.strip())


def _text_of(texts: Sequence[str | None], index: int) -> str:
    """The text of a row :func:`_readable` kept (never null)."""
    text = texts[index]
    assert text is not None, "a readable row has a text"
    return text


def _by_row(texts: Sequence[str | None], results: dict[int, list[Annotation]]) -> AnnotationColumn:
    column = AnnotationColumn()
    for index, text in enumerate(texts):
        column.append(None if text is None else results.get(index, []))
    return column


def embedding_annotations(
    pipe: Any, texts: Sequence[str | None], pairs: Any, spec: WorkerSpec, names: RowNames = RowNames()
) -> AnnotationColumn:
    """Spark NLP's ``word_embeddings`` (word, piece levels) or ``sentence_embeddings`` annotations."""
    from ..pipelines.embeddings import UnreadableTextError

    options = spec.call_options
    pending = _readable(texts)
    results: dict[int, list[Annotation]] = {}
    while pending:
        try:
            records = pipe([texts[index] for index in pending], output="records", **options)
        except UnreadableTextError as error:  # nothing the vocabulary reads: an empty array
            results[pending.pop(error.index)] = []
            continue
        for index, per_text in zip(pending, records):
            results[index] = _embedding_records(per_text, spec.annotator_type)
        break
    return _by_row(texts, results)


def _embedding_records(records: list[dict[str, Any]], kind: str) -> list[Annotation]:
    """The pipeline's records of one text as ``kind`` annotations; its keys say the level
    (``piece`` and ``word`` present, ``word`` only, or neither for sentences and documents)."""
    annotations = []
    previous: tuple[int, int] | None = None
    for record in records:
        text = record["text"]
        metadata = {"sentence": str(record.get("sentence", 0)), "token": text, "pieceId": "-1", "isWordStart": "true"}
        if "word" in record:
            metadata["word"] = str(record["word"])
        if "piece" in record:  # a piece starts a word unless the piece before it is of the same word
            metadata["pieceId"] = str(record["token"])
            word = (record["sentence"], record["word"])
            metadata["isWordStart"] = "true" if word != previous else "false"
            previous = word
        annotations.append(
            Annotation(kind, record["start"], record["end"] - 1, text, metadata, record["embedding"])
        )
    return annotations


def classification_annotations(
    pipe: Any,
    texts: Sequence[str | None],
    pairs: Sequence[str | None] | None,
    spec: WorkerSpec,
    names: RowNames = RowNames(),
) -> AnnotationColumn:
    """One ``category`` annotation per row: the best label as ``result``, every label's score in
    the metadata (as Spark NLP's sequence classifiers write them). Rows longer than the model's
    window are truncated, as the pipeline does, with one warning per slice that names them."""
    rows = _readable(texts)
    if pairs is not None:  # a pair needs both texts; a row missing its second gives null
        rows = [index for index in rows if _has_text(pairs[index])]
        inputs: list[Any] = [{"text": texts[index], "text_pair": pairs[index]} for index in rows]
    else:
        inputs = [texts[index] for index in rows]
    results: dict[int, list[Annotation]] = {}
    outputs = _calling(pipe, inputs, spec, [_text_of(texts, index) for index in rows], [names(index) for index in rows])
    for index, labels in zip(rows, outputs):
        metadata = {"sentence": "0", **{label["label"]: str(label["score"]) for label in labels}}
        end = len(_text_of(texts, index)) - 1
        results[index] = [Annotation(spec.annotator_type, 0, end, labels[0]["label"], metadata)]
    column = AnnotationColumn()
    for index, text in enumerate(texts):
        missing = text is None or (pairs is not None and pairs[index] is None)
        column.append(None if missing else results.get(index, []))
    return column


def _calling(pipe: Any, inputs: list[Any], spec: WorkerSpec, texts: list[str], names: list[str]) -> list[Any]:
    """``pipe(inputs)``, its truncation warnings (which count the call's inputs) gathered into
    one that names the rows by partition and index, with the start of each text."""
    if not inputs:
        return []
    from ..pipelines.base import TruncationWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = pipe(inputs, **spec.call_options)
    cut = []
    for warning in caught:
        if isinstance(warning.message, TruncationWarning):
            cut.append(warning.message.index)
        else:  # anything else goes on as it came
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if cut:
        shown = ", ".join(f"{names[index]} ({_preview(texts[index])!r}, {len(texts[index]):,} characters)"
                          for index in cut[:MAX_ROWS_NAMED])  # fmt: skip
        more = f" and {len(cut) - MAX_ROWS_NAMED:,} more rows" if len(cut) > MAX_ROWS_NAMED else ""
        verb = "is" if len(cut) == 1 else "are"
        warnings.warn(
            f"{shown}{more} {verb} longer than the model's window of {pipe.max_length} tokens and "
            f"{'was' if len(cut) == 1 else 'were'} truncated for classification",
            UserWarning,
            stacklevel=2,
        )
    return outputs


#: Truncated rows named in one warning (the rest are counted).
MAX_ROWS_NAMED = 5


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def entity_annotations(
    pipe: Any, texts: Sequence[str | None], pairs: Any, spec: WorkerSpec, names: RowNames = RowNames()
) -> AnnotationColumn:
    """Entities as Spark NLP's ``chunk`` annotations (NerConverter's), or with aggregation "none"
    each piece's ``named_entity`` tag."""
    rows = _readable(texts)
    kind = spec.annotator_type
    results: dict[int, list[Annotation]] = {}
    outputs = pipe([texts[index] for index in rows], **spec.call_options) if rows else []
    for index, entities in zip(rows, outputs):
        annotations = []
        for number, entity in enumerate(entities):
            if kind == "chunk":
                metadata = {"entity": entity["entity_group"], "sentence": "0", "chunk": str(number),
                            "confidence": str(entity["score"])}  # fmt: skip
                annotations.append(Annotation(kind, entity["start"], entity["end"] - 1, entity["word"], metadata))
            else:
                metadata = {"word": entity["word"], "sentence": "0", "confidence": str(entity["score"])}
                annotations.append(Annotation(kind, entity["start"], entity["end"] - 1, entity["entity"], metadata))
        results[index] = annotations
    return _by_row(texts, results)


ANNOTATORS: dict[str, Callable[..., AnnotationColumn]] = {
    "embeddings": embedding_annotations,
    "text-classification": classification_annotations,
    "token-classification": entity_annotations,
}
