"""From annotations to what Spark ML and tables want: vectors, and one row per unit.

Both run as Spark SQL expressions in the JVM (``transform``, ``explode``, ``array_to_vector``): no
Python worker, no model, just the column reshaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.functions import array_to_vector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..errors import InputTypeError, OptionError
from .annotations import ANNOTATIONS, require_column
from .annotators import set_given_params


def _check_annotations(dataset: DataFrame, name: str, param: str) -> None:
    data_type = require_column(dataset.schema, name, param)
    if data_type != ANNOTATIONS and "embeddings" not in data_type.simpleString():
        raise InputTypeError(
            f"{param} {name!r} is a {data_type.simpleString()} column, not annotations with embeddings "
            "(the output of AlbertEmbeddings or of Spark NLP's embedding annotators)"
        )


class EmbeddingsFinisher(Transformer, DefaultParamsReadable["EmbeddingsFinisher"], DefaultParamsWritable):
    """Spark NLP's ``EmbeddingsFinisher``: each annotations column becomes an array of its vectors,
    as Spark ML ``DenseVector`` s (``outputAsVector``, the default here) or float arrays.

    One row keeps one array (a vector per word or sentence); ``F.explode`` it to give Spark ML
    estimators (LogisticRegression, KMeans, BucketedRandomProjectionLSH) one vector per row.

    >>> finisher = EmbeddingsFinisher(inputCols=["embeddings"], outputCols=["vectors"])
    >>> finisher.transform(embedded).select(F.explode("vectors").alias("features"))
    """

    inputCols = Param(Params._dummy(), "inputCols", "annotations columns to finish", TypeConverters.toListString)
    outputCols = Param(
        Params._dummy(), "outputCols", "their output columns (default: finished_<input>)", TypeConverters.toListString
    )
    outputAsVector = Param(
        Params._dummy(), "outputAsVector", "Spark ML vectors (True, default) or float arrays (False)",
        TypeConverters.toBoolean,
    )  # fmt: skip
    cleanAnnotations = Param(
        Params._dummy(), "cleanAnnotations", "drop the input annotations columns (default False)",
        TypeConverters.toBoolean,
    )  # fmt: skip

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: list[str] | None = None,
        outputCols: list[str] | None = None,
        outputAsVector: bool = True,
        cleanAnnotations: bool = False,
    ) -> None:
        super().__init__()
        self._setDefault(inputCols=["embeddings"], outputAsVector=True, cleanAnnotations=False)
        set_given_params(self)

    def setInputCols(self, *value: str | list[str]) -> EmbeddingsFinisher:
        """Sets the input columns: a list, or the names as arguments (as Spark NLP takes them)."""
        names = list(value[0]) if len(value) == 1 and isinstance(value[0], (list, tuple)) else list(value)
        return self._set(inputCols=names)

    def setOutputCols(self, *value: str | list[str]) -> EmbeddingsFinisher:
        """Sets the output columns, one for each input column."""
        names = list(value[0]) if len(value) == 1 and isinstance(value[0], (list, tuple)) else list(value)
        return self._set(outputCols=names)

    def setOutputAsVector(self, value: bool) -> EmbeddingsFinisher:
        return self._set(outputAsVector=value)

    def setCleanAnnotations(self, value: bool) -> EmbeddingsFinisher:
        return self._set(cleanAnnotations=value)

    def getInputCols(self) -> list[str]:
        return self.getOrDefault("inputCols")

    def getOutputCols(self) -> list[str]:
        if self.isDefined("outputCols"):
            return self.getOrDefault("outputCols")
        return [f"finished_{name}" for name in self.getInputCols()]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        inputs, outputs = self.getInputCols(), self.getOutputCols()
        if len(inputs) != len(outputs):
            raise OptionError(f"outputCols {outputs} must name one column for each of inputCols {inputs}")
        as_vector = self.getOrDefault("outputAsVector")
        for name, output in zip(inputs, outputs):
            _check_annotations(dataset, name, "inputCols")
            vectors = F.transform(name, lambda annotation: _vector(annotation, as_vector))
            dataset = dataset.withColumn(output, vectors)
        return dataset.drop(*inputs) if self.getOrDefault("cleanAnnotations") else dataset


def _vector(annotation: Column, as_vector: bool) -> Column:
    return array_to_vector(annotation.embeddings) if as_vector else annotation.embeddings


def explode_embeddings(
    dataset: DataFrame, inputCol: str = "embeddings", idCol: str | None = None, keepCols: Sequence[str] = ()
) -> DataFrame:
    """One row per unit (word, piece, sentence or document) with flat columns.

    Args:
        dataset: a DataFrame with an annotations column (AlbertEmbeddings' output).
        inputCol: that column.
        idCol: a column identifying each input row (kept as it is); None adds ``row_id`` from
            ``monotonically_increasing_id()`` (unique, increasing in the input's order).
        keepCols: other columns of ``dataset`` repeated on each unit's row.

    Returns:
        Columns ``<idCol or row_id>``, the ``keepCols``, ``sentence`` (its index in the row), ``word`` (its index in
        the row's text; null at sentence and document level), ``text``, ``begin``, ``end``
        (characters, ``end`` inclusive as in the annotations) and ``embedding`` (array<float>).
        Null and empty annotation arrays give no rows.
    """
    _check_annotations(dataset, inputCol, "inputCol")
    if idCol is not None:
        require_column(dataset.schema, idCol, "idCol")
    for name in keepCols:
        require_column(dataset.schema, name, "keepCols")
    if idCol is None:  # numbered before the explode, so every unit of a row shares its id
        dataset = dataset.withColumn("row_id", F.monotonically_increasing_id())
    units = dataset.select(idCol or "row_id", *keepCols, F.explode(inputCol).alias("unit"))
    unit = F.col("unit")
    return units.select(
        idCol or "row_id",
        *keepCols,
        unit.metadata["sentence"].cast("int").alias("sentence"),
        unit.metadata["word"].cast("int").alias("word"),
        unit.result.alias("text"),
        unit.begin.alias("begin"),
        unit.end.alias("end"),
        unit.embeddings.alias("embedding"),
    )
