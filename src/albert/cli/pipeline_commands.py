"""``albert fill-mask | embed | classify | tag | answer | choose | info``: the pipelines from the shell.

Each command reads its inputs (see :mod:`albert.cli.io`), builds the pipeline, and prints a
table, JSON lines (``--json``) or writes ``--output``. Every failure the user can fix (missing
model, unreadable file, empty input, wrong column) is one line on stderr and exit status 1.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import AlbertError
from ..options import options_command
from ..pipeline_options import (
    EmbeddingOptions,
    FillMaskOptions,
    LoadOptions,
    QuestionAnsweringOptions,
    TextClassificationOptions,
    TokenClassificationOptions,
)
from .app import app
from .io import (
    CliInputError,
    check_output,
    print_json_lines,
    print_table,
    read_records,
    read_texts,
    row_name,
    write_output,
)

if TYPE_CHECKING:
    import numpy as np

# -- options every command shares -----------------------------------------------------------------
# The pipelines' own options (and how every pipeline loads its model) are derived from their
# option classes (albert.pipeline_options) by options_command; these are the shell's alone.

#: What a command gets for a group of derived options: the ones the user gave, by field name.
Given = dict[str, Any]

InputFile = Annotated[
    Path | None,
    typer.Option(
        "--input",
        "-i",
        help="Read texts from a .txt (one a line), .jsonl, .csv or .parquet file; - is stdin.",
    ),
]
Column = Annotated[
    str | None,
    typer.Option("--column", "--text-column", help="The field holding the text in --input (default: text)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write results to a .jsonl or .parquet file.")
]
Texts = Annotated[
    list[str] | None,
    typer.Argument(help="Texts (or use --input, or pipe lines on stdin).", show_default=False),
]


def _pipeline(task: str, loading: Given) -> Any:
    """The task's pipeline, loaded with the :class:`LoadOptions` the user gave (the rest: the
    pipeline's defaults)."""
    _check_model(loading.get("model"))
    from ..pipelines import pipeline
    from ..threads import use_threads

    loading = dict(loading)
    threads = loading.pop("threads", None)
    use_threads(threads, f"albert {task}", keep_fewer=threads is None)  # a fresh process: torch's default is all CPUs
    return pipeline(task, **loading)


def _check_model(model: str | None) -> None:
    """Read the model's config.json before torch is imported (seconds): a name that resolves to
    nothing, or a broken config, fails at once. Raises ModelNotFoundError or ConfigError."""
    from ..config import AlbertConfig

    if model is not None:
        AlbertConfig.from_pretrained(model)


def _emit(
    records: Sequence[dict[str, Any]],
    columns: Sequence[str],
    as_json: bool,
    output: Path | None,
    array: Callable[[], np.ndarray] | None = None,
) -> None:
    if output is not None:
        write_output(output, records, array)
        typer.echo(f"wrote {len(records)} rows to {output}", err=True)
    elif as_json:
        print_json_lines(records)
    else:
        print_table(records, columns)


# -- the commands ---------------------------------------------------------------------------------


@app.command("fill-mask")
@options_command(options=FillMaskOptions, loading=LoadOptions)
def fill_mask(
    texts: Texts = None,
    *,
    options: Given,
    loading: Given,
    input_file: InputFile = None,
    column: Column = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Predict the words behind [MASK]: albert fill-mask "The man worked as a [MASK]." """
    inputs = read_texts(texts, input_file, column)
    check_output(output, (".jsonl", ".parquet"))
    unmasker = _pipeline("fill-mask", loading)
    results = unmasker(inputs, **options)
    records = []
    for number, (text, per_text) in enumerate(zip(inputs, results)):
        per_mask = per_text if per_text and isinstance(per_text[0], list) else [per_text]
        for mask, predictions in enumerate(per_mask):
            for rank, prediction in enumerate(predictions, 1):
                records.append({"input": number, "text": text, "mask": mask, "rank": rank, **prediction})
    _emit(records, ["input", "mask", "rank", "token_str", "score", "sequence"], as_json, output)


@app.command("embed")
@options_command(options=EmbeddingOptions, loading=LoadOptions, exclude={"allow_untrained_head"})
def embed(
    texts: Texts = None,
    *,
    options: Given,
    loading: Given,
    input_file: InputFile = None,
    column: Column = None,
    as_json: AsJson = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a .jsonl, .parquet or .npy file.")
    ] = None,
    spark: Annotated[
        str | None,
        typer.Option(
            "--spark",
            help="Run on Spark (local[*], local[2], spark://host:7077): reads --input, writes a Parquet "
            "folder to --output with Spark's writer. Needs the spark extra and Java 17.",
        ),
    ] = None,
) -> None:
    """Vectors for pieces, words, sentences or documents (.npy: one row per unit)."""
    import numpy as np

    if "level" not in options and not _is_sentence_folder(loading.get("model")):
        options = {**options, "level": "sentence"}  # the command embeds sentences; a sentence folder, its texts
    if spark is not None:
        given = {**options, **loading}  # an option the Spark stage has no Param for is refused, not dropped
        refused = {"texts as arguments": bool(texts), **{"--" + name.replace("_", "-"): True for name in given
                   if name not in _SPARK_PARAMS}, "--json": as_json}  # fmt: skip
        for name, refuse in refused.items():
            if refuse:
                raise CliInputError(f"{name} does not go with --spark (Spark reads --input and writes --output)")
        if input_file is None or output is None or output.suffix.lower() != ".parquet":
            raise CliInputError("--spark reads --input FILE and writes --output NAME.parquet (a Parquet folder)")
        params = {_SPARK_PARAMS[name]: value for name, value in given.items() if value not in (None, "")}
        _embed_on_spark(spark, str(input_file), str(output), column or "text", **params)
        return
    inputs = read_texts(texts, input_file, column)
    check_output(output)
    embedder = _pipeline("embeddings", loading)
    records = embedder(inputs, **options, output="records")
    rows = [record for per_text in records for record in per_text]
    if output is None and not as_json:  # a terminal shows the size and the first values, not 768 numbers
        rows_shown = [
            {**{k: v for k, v in row.items() if k != "embedding"}, "dim": len(row["embedding"]),
             "norm": float(np.linalg.norm(row["embedding"])),
             "first values": " ".join(f"{value:+.3f}" for value in row["embedding"][:3]) + " …"}
            for row in rows
        ]  # fmt: skip
        columns = [c for c in ("document", "sentence", "word", "text", "start", "end") if c in rows_shown[0]]
        print_table(rows_shown, [*columns, "dim", "norm", "first values"])
        return
    _emit(rows, [], as_json, output, array=lambda: np.stack([row["embedding"] for row in rows]))


def _is_sentence_folder(model: str | None) -> bool:
    """Whether ``model`` is a folder saved with sentence-embedding settings (its defaults then apply)."""
    from ..sentence_folder import read_sentence_config

    return model is not None and Path(model).is_dir() and read_sentence_config(model) is not None


#: The options of ``albert embed`` -> the AlbertEmbeddings stage's Params (those left out keep the
#: stage's defaults, which are the pipeline's).
_SPARK_PARAMS = {
    "level": "level", "word_pooling": "wordPooling", "sentence_pooling": "sentencePooling", "layer": "layer",
    "split_sentences": "splitSentences", "batch_size": "batchSize", "model": "model", "device": "device",
    "dtype": "dtype", "normalize": "normalize", "dimension": "dimension", "precision": "precision",
}  # fmt: skip


def _embed_on_spark(master: str, input_path: str, output_path: str, text_column: str, **params: Any) -> None:
    try:
        from ..spark import spark_session
        from ..spark.jobs import embed_to_parquet
    except ImportError as error:
        raise CliInputError(f"{error}") from None
    echo = functools.partial(typer.echo, err=True)
    session = spark_session(master, app_name="albert embed")
    try:
        if session.sparkContext.uiWebUrl:
            echo(f"Spark {session.version} on {master}; UI at {session.sparkContext.uiWebUrl}")
        rows = embed_to_parquet(session, input_path, output_path, text_column, echo=echo, **params)
    except Exception as error:  # Spark's own errors (AnalysisException, a failed job) as one line
        if isinstance(error, AlbertError):
            raise
        raise CliInputError(f"the Spark job failed: {_spark_error(error)}") from None
    finally:
        session.stop()
    echo(f"wrote {rows} rows to {output_path}")


def _spark_error(error: BaseException) -> str:
    """The useful line of a Spark error (a Python worker's last traceback line, else the first)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    python_errors = [line for line in lines if line.split(":")[0].endswith(("Error", "Exception"))]
    return (python_errors[-1] if python_errors else lines[0] if lines else type(error).__name__)[:500]


@app.command("classify")
@options_command(options=TextClassificationOptions, loading=LoadOptions)
def classify(
    texts: Texts = None,
    *,
    options: Given,
    pair_column: Annotated[
        str | None, typer.Option("--pair-column", help="Field of --input holding a second text.")
    ] = None,
    loading: Given,
    input_file: InputFile = None,
    column: Column = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """A score for every label of each text (or text pair, with --pair-column)."""
    if pair_column is not None:
        if input_file is None:
            raise CliInputError(
                "--pair-column reads pairs from --input; give a .jsonl, .csv or .parquet file"
            )
        rows = read_records(input_file, [column or "text", pair_column])
        inputs: list[Any] = [{"text": row[column or "text"], "text_pair": row[pair_column]} for row in rows]
        shown = [f"{row['text']} | {row['text_pair']}" for row in inputs]
    else:
        inputs = read_texts(texts, input_file, column)
        shown = inputs
    check_output(output, (".jsonl", ".parquet"))
    classifier = _pipeline("text-classification", loading)
    results = classifier(inputs, **options)
    records = [
        {"input": number, "text": text, "rank": rank, **label}
        for number, (text, labels) in enumerate(zip(shown, results))
        for rank, label in enumerate(labels, 1)
    ]
    _emit(records, ["input", "text", "rank", "label", "score"], as_json, output)


@app.command("tag")
@options_command(options=TokenClassificationOptions, loading=LoadOptions)
def tag(
    texts: Texts = None,
    *,
    options: Given,
    keep_all: Annotated[bool, typer.Option("--keep-all", help="Also show words labelled O.")] = False,
    loading: Given,
    input_file: InputFile = None,
    column: Column = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Label words (named entities), with their character spans."""
    inputs = read_texts(texts, input_file, column)
    check_output(output, (".jsonl", ".parquet"))
    tagger = _pipeline("token-classification", loading)
    results = tagger(inputs, **options, ignore_labels=[] if keep_all else None)
    records = [
        {"input": number, "entity": entity.get("entity_group", entity.get("entity")),
         **{key: value for key, value in entity.items() if key not in ("entity", "entity_group")}}
        for number, entities in enumerate(results)
        for entity in entities
    ]  # fmt: skip
    _emit(records, ["input", "entity", "word", "start", "end", "score"], as_json, output)


@app.command("answer")
@options_command(options=QuestionAnsweringOptions, loading=LoadOptions)
def answer(
    *,
    question: Annotated[str | None, typer.Option("--question", "-q", help="The question.")] = None,
    context: Annotated[
        str | None, typer.Option("--context", "-c", help="The text holding the answer.")
    ] = None,
    context_file: Annotated[
        Path | None, typer.Option("--context-file", help="Read the context from a text file.")
    ] = None,
    options: Given,
    loading: Given,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="A .jsonl, .csv or .parquet file with question and context fields."
        ),
    ] = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Answer a question from a context: albert answer -q "Who?" -c "..." """
    if input_file is not None:
        if question is not None or context is not None or context_file is not None:
            raise CliInputError("give --input, or --question with --context; not both")
        records_in = read_records(input_file, ["question", "context"])
    else:
        if context_file is not None:
            if context is not None:
                raise CliInputError("give --context or --context-file, not both")
            try:
                context = context_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CliInputError(f"cannot read {context_file}: {error}") from None
        if not question or not context or not question.strip() or not context.strip():
            raise CliInputError(
                "give a non-empty --question and --context (or --context-file), or --input FILE"
            )
        records_in = [{"question": question, "context": context}]
    check_output(output, (".jsonl", ".parquet"))
    reader = _pipeline("question-answering", loading)
    results = reader(records_in, **options)
    records = []
    for number, (record, found) in enumerate(zip(records_in, results)):
        for rank, result in enumerate(found if isinstance(found, list) else [found], 1):
            records.append({"input": number, "question": record["question"], "rank": rank, **result})
    _emit(records, ["input", "question", "rank", "answer", "score", "start", "end"], as_json, output)


@app.command("choose")
@options_command(loading=LoadOptions)
def choose(
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt (or use --input).", show_default=False)
    ] = None,
    choice: Annotated[
        list[str] | None, typer.Option("--choice", help="A candidate (repeat for each).")
    ] = None,
    *,
    loading: Given,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="A .jsonl or .parquet file with prompt and choices (a list) fields."
        ),
    ] = None,
    as_json: AsJson = False,
    output: Output = None,
) -> None:
    """Score candidate continuations: albert choose "The man" --choice "ran." --choice "a the." """
    if input_file is not None:
        if prompt is not None or choice:
            raise CliInputError("give --input, or a prompt with --choice; not both")
        items = read_records(input_file, ["prompt", "choices"])
        for index, item in enumerate(items):
            if not isinstance(item["choices"], list):
                raise CliInputError(f"{row_name(input_file, index)}: choices must be a list of texts")
    else:
        if not prompt or not prompt.strip() or not choice:
            raise CliInputError("give a prompt and at least two --choice options, or --input FILE")
        items = [{"prompt": prompt, "choices": list(choice)}]
    check_output(output, (".jsonl", ".parquet"))
    chooser = _pipeline("multiple-choice", loading)
    results = chooser(items)
    records = []
    for number, (item, scored) in enumerate(zip(items, results)):
        best = max(range(len(scored)), key=lambda position: scored[position]["score"])
        for position, result in enumerate(scored):
            records.append({"input": number, "prompt": item["prompt"], **result, "best": position == best})
    _emit(records, ["input", "prompt", "index", "choice", "score", "best"], as_json, output)


@app.command("info")
def info(
    model: Annotated[
        str | None, typer.Argument(help="Model folder, shipped model name or Hub id.", show_default=False)
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Parameters, shared layers, memory at each dtype, vocabulary and config of a model."""
    _check_model(model)
    from ..pipelines.base import default_model
    from ..pipelines.info import model_info

    facts = model_info(model if model is not None else default_model())
    if as_json:
        print_json_lines([facts])
        return
    parameters, groups, inner = facts["parameters"], facts["hidden_groups"], facts["inner_group_num"]
    special = " ".join(f"{token}={index}" for token, index in facts["special_tokens"].items())
    rows = [
        {"": "model", "value": facts["model"]},
        {"": "architecture", "value": facts["architecture"]},
        {"": "parameters", "value": f"{parameters['total']:,}"},
        {"": "  embeddings", "value": f"{parameters['embeddings']:,}"},
        {"": "  encoder (shared)", "value": f"{parameters['encoder']:,}"},
        {"": "  heads and pooler", "value": f"{parameters['heads']:,}"},
        {"": "layers computed", "value": f"{facts['layers_computed']} ({facts['layers']} steps x {inner})"},
        {"": "distinct layers", "value": f"{facts['distinct_layers']} ({groups} groups x {inner})"},
        *({"": f"weights at {dtype}", "value": _size(size)} for dtype, size in facts["memory_bytes"].items()),
        {"": "vocabulary", "value": f"{facts['vocab_size']:,}"},
        {"": "special tokens", "value": special or "(no tokenizer files)"},
    ]  # fmt: skip
    config = facts["config"]
    for key in ("hidden_size", "embedding_size", "num_attention_heads", "intermediate_size", "hidden_act",
                "max_position_embeddings", "type_vocab_size"):  # fmt: skip
        if key in config:
            rows.append({"": f"config.{key}", "value": str(config[key])})
    print_table(rows, ["", "value"])


def _size(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
