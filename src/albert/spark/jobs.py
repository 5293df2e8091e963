"""Whole jobs from files to files: what ``albert embed --spark`` runs.

Inputs are read by Spark's own readers (a path may be local, ``hdfs://``, ``s3a://`` ...) and the
output is written by Spark's Parquet writer, whose commit protocol publishes the output folder
only when every task has succeeded: a failed job leaves no half-written result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ..errors import InputError, OptionError
from .annotators import AlbertEmbeddings
from .finishers import explode_embeddings

#: File kinds by suffix; a folder is read as Parquet (Spark writes Parquet as folders).
READERS = (".parquet", ".csv", ".jsonl", ".json", ".txt")


def _has_scheme(path: str) -> bool:
    return "://" in path


def read_texts_frame(spark: SparkSession, path: str, text_column: str = "text") -> DataFrame:
    """A DataFrame of the rows of ``path`` (.parquet file or folder, .csv with a header, .jsonl,
    .txt: one text a line, in a column ``text``, blank lines left out).

    Raises:
        InputError: a local path that does not exist, or a kind of file Spark cannot read here.
    """
    local = not _has_scheme(path)
    if local and not Path(path).exists():
        raise InputError(f"cannot read {path}: no such file or folder")
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", "") or (local and Path(path).is_dir()):
        return spark.read.parquet(path)
    if suffix == ".csv":
        return spark.read.option("header", True).option("multiLine", True).option("escape", '"').csv(path)
    if suffix in (".jsonl", ".json"):
        return spark.read.json(path)
    if suffix == ".txt":
        lines = spark.read.text(path).withColumnRenamed("value", text_column)
        return lines.where(F.trim(F.col(text_column)) != "")
    raise InputError(f"cannot read {path} with Spark: use a {', '.join(READERS)} file or a Parquet folder")


def embed_to_parquet(
    spark: SparkSession,
    input_path: str,
    output_path: str,
    text_column: str = "text",
    echo: Callable[[str], Any] = print,
    **params: Any,
) -> int:
    """Embed the ``text_column`` of ``input_path`` and write one row per unit to ``output_path``.

    Args:
        params: AlbertEmbeddings Params (level, wordPooling, model, batchSize, ...).

    Returns:
        The number of rows written: columns ``row_id`` (the input's own, or an id increasing in
        the input's order), the input's other columns, then
        :func:`~albert.spark.explode_embeddings`' ``sentence``, ``word``, ``text``, ``begin``,
        ``end`` (inclusive) and ``embedding``.

    Raises:
        InputError: the input cannot be read, or the column is missing. OptionError: the output exists.
    """
    from .session import stage_lines

    if not _has_scheme(output_path) and Path(output_path).exists():
        raise OptionError(f"cannot write {output_path}: it exists already (Spark writes a new folder there)")
    frame = read_texts_frame(spark, input_path, text_column)
    if "row_id" not in frame.columns:  # numbered in the input's order, before any repartition
        frame = frame.withColumn("row_id", F.monotonically_increasing_id())
    # A file smaller than Spark's split size (128 MB) is one partition: spread it over every core.
    cores = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < cores:
        frame = frame.repartition(cores)
    embeddings = AlbertEmbeddings(inputCol=text_column, outputCol="_albert_embeddings", **params)
    annotated = embeddings.transform(frame)
    kept: Sequence[str] = [name for name in frame.columns if name not in (text_column, "row_id")]
    units = explode_embeddings(annotated, "_albert_embeddings", idCol="row_id", keepCols=kept)
    with stage_lines(spark, echo, label=f"albert embed {input_path}"):
        units.write.parquet(output_path, mode="errorifexists")
    return spark.read.parquet(output_path).count()
