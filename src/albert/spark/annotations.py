"""Spark NLP's Annotation schema, and the Arrow columns of annotations the executors return.

An annotation is one unit of a row (a word, a sentence, an entity, a label): its type, character
span (``begin`` and ``end`` inclusive, as Spark NLP writes them, in characters as Spark SQL's
``substring`` counts them), the text it covers, a string-to-string metadata map, and a float
vector. Code written for Spark NLP's output (``col.embeddings``, ``col.metadata['sentence']``)
reads ours unchanged. The columns are built column-wise in Arrow, vectors from one contiguous
float32 buffer: no Python float objects, no per-row conversion in pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type

from ..errors import InputError

#: One annotation, exactly as Spark NLP's ``Annotation.dataType`` declares it (Annotation.scala),
#: nullability included: Spark NLP's stages compare an input column's type with ``==``, which
#: counts nullability, so ``begin`` and ``end`` are never null and a vector holds no null floats.
ANNOTATION = T.StructType([
    T.StructField("annotatorType", T.StringType(), nullable=True),
    T.StructField("begin", T.IntegerType(), nullable=False),
    T.StructField("end", T.IntegerType(), nullable=False),
    T.StructField("result", T.StringType(), nullable=True),
    T.StructField("metadata", T.MapType(T.StringType(), T.StringType(), valueContainsNull=True), nullable=True),
    T.StructField("embeddings", T.ArrayType(T.FloatType(), containsNull=False), nullable=True),
])  # fmt: skip
#: The column type every albert.spark transformer writes: the annotations of one row (Spark NLP's
#: ``Annotation.arrayType``). The column also carries Spark NLP's ``annotatorType`` metadata.
ANNOTATIONS = T.ArrayType(ANNOTATION, containsNull=True)
#: The same type in Arrow, as Spark converts it: what the executors build.
ARROW_ANNOTATIONS = to_arrow_type(ANNOTATIONS)


def require_column(schema: T.StructType, name: str, param: str) -> T.DataType:
    """The type of column ``name``.

    Raises:
        InputError: there is no such column; the message names the Param and the columns there are.
    """
    if name not in schema.names:
        raise InputError(f"{param} {name!r} is not a column of this DataFrame; its columns are {schema.names}")
    return schema[name].dataType


@dataclass
class Annotation:
    """One unit of a row. ``end`` is inclusive (Spark NLP's convention)."""

    annotator_type: str
    begin: int
    end: int
    result: str
    metadata: Mapping[str, str]
    embedding: np.ndarray | None = None


@dataclass
class AnnotationColumn:
    """Collects the annotations of a batch's rows, then builds their Arrow column at once.

    A row given as None is a null cell (a null input); an empty list is an empty array.
    """

    rows: list[list[Annotation] | None] = field(default_factory=list)

    def append(self, annotations: Sequence[Annotation] | None) -> None:
        self.rows.append(None if annotations is None else list(annotations))

    def to_arrow(self) -> pa.Array:
        """The ``array<struct<annotation>>`` column, one cell per appended row."""
        flat = [annotation for row in self.rows if row for annotation in row]
        row_offsets = np.zeros(len(self.rows) + 1, np.int32)
        np.cumsum([len(row) if row else 0 for row in self.rows], out=row_offsets[1:])
        keys = [key for annotation in flat for key in annotation.metadata]
        values = [value for annotation in flat for value in annotation.metadata.values()]
        map_offsets = np.zeros(len(flat) + 1, np.int32)
        np.cumsum([len(annotation.metadata) for annotation in flat], out=map_offsets[1:])
        vectors = [annotation.embedding for annotation in flat]
        vector_offsets = np.zeros(len(flat) + 1, np.int32)
        np.cumsum([0 if vector is None else len(vector) for vector in vectors], out=vector_offsets[1:])
        present = [vector for vector in vectors if vector is not None]
        buffer = np.concatenate(present).astype(np.float32, copy=False) if present else np.zeros(0, np.float32)
        annotation_type = ARROW_ANNOTATIONS.value_type
        struct = pa.StructArray.from_arrays(
            [
                pa.array([annotation.annotator_type for annotation in flat], pa.string()),
                pa.array(np.fromiter((a.begin for a in flat), np.int32, len(flat))),
                pa.array(np.fromiter((a.end for a in flat), np.int32, len(flat))),
                pa.array([annotation.result for annotation in flat], pa.string()),
                pa.MapArray.from_arrays(
                    pa.array(map_offsets), pa.array(keys, pa.string()), pa.array(values, pa.string())
                ),
                pa.ListArray.from_arrays(
                    pa.array(vector_offsets), pa.array(buffer), type=annotation_type.field("embeddings").type
                ),
            ],
            fields=list(annotation_type),
        )
        nulls = pa.array([row is None for row in self.rows], pa.bool_())
        return pa.ListArray.from_arrays(pa.array(row_offsets), struct, type=ARROW_ANNOTATIONS, mask=nulls)
