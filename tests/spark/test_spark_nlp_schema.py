"""Every annotation column albert.spark writes is one Spark NLP's stages accept: its type equals
Spark NLP's ``Annotation.arrayType`` exactly (nullability included, as ``==`` compares it on both
sides) and it carries the column metadata ``annotatorType`` that Spark NLP finds its inputs by.
"""

from __future__ import annotations

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

from pyspark.sql import types as T  # noqa: E402

from albert import AlbertForSequenceClassification, AlbertForTokenClassification  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

#: Spark NLP's ``Annotation.dataType`` and ``Annotation.arrayType``, written out from
#: src/main/scala/com/johnsnowlabs/nlp/Annotation.scala (JohnSnowLabs/spark-nlp), not from albert's.
SPARK_NLP_ANNOTATION = T.StructType([
    T.StructField("annotatorType", T.StringType(), True),
    T.StructField("begin", T.IntegerType(), False),
    T.StructField("end", T.IntegerType(), False),
    T.StructField("result", T.StringType(), True),
    T.StructField("metadata", T.MapType(T.StringType(), T.StringType(), True), True),
    T.StructField("embeddings", T.ArrayType(T.FloatType(), False), True),
])  # fmt: skip
SPARK_NLP_ANNOTATIONS = T.ArrayType(SPARK_NLP_ANNOTATION, True)

TEXTS = ["ALBERT shares one layer across its depth. It is small.", "Paris is in France", None, ""]




@pytest.fixture(scope="module")
def tiny_classifier(make_tiny_model):
    return make_tiny_model(AlbertForSequenceClassification, seed=5, id2label={0: "negative", 1: "positive"})


@pytest.fixture(scope="module")
def tiny_tagger(make_tiny_model):
    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    return make_tiny_model(AlbertForTokenClassification, seed=7, id2label=labels)


def test_the_declared_column_type_is_spark_nlp_s():
    from albert.spark import ANNOTATION, ANNOTATIONS

    assert ANNOTATION == SPARK_NLP_ANNOTATION
    assert ANNOTATIONS == SPARK_NLP_ANNOTATIONS


def test_the_executors_arrow_column_has_spark_nlp_s_nullability():
    """What the workers hand back: begin and end never null, no null float in a vector, and a
    missing vector an empty array (Spark NLP's ``Array.emptyFloatArray``), not null."""
    from pyspark.sql.pandas.types import to_arrow_type

    from albert.spark.annotations import Annotation, AnnotationColumn

    column = AnnotationColumn()
    column.append([Annotation("category", 0, 3, "good", {"good": "0.9"})])
    column.append(None)
    column.append([])
    column.append([Annotation("word_embeddings", 0, 1, "hi", {}, np.ones(4, np.float32))])
    arrow = column.to_arrow()
    arrow.validate(full=True)
    assert arrow.type == to_arrow_type(SPARK_NLP_ANNOTATIONS)
    annotation = arrow.type.value_type
    assert not annotation.field("begin").nullable and not annotation.field("end").nullable
    assert not annotation.field("embeddings").type.value_field.nullable
    assert [row and row[0]["embeddings"] for row in arrow.to_pylist()] == [[], None, [], [1.0] * 4]


def _stage(kind: str, params: dict, encoder, classifier, tagger):
    from albert.spark import AlbertClassifier, AlbertEmbeddings, AlbertTokenClassifier

    if kind == "embeddings":
        return AlbertEmbeddings(model=str(encoder), **params)
    if kind == "classifier":
        return AlbertClassifier(model=str(classifier), **params)
    return AlbertTokenClassifier(model=str(tagger), ignoreLabels=[], **params)


@pytest.mark.parametrize(
    ("kind", "params", "annotator_type"),
    [
        ("embeddings", {"level": "token"}, "word_embeddings"),
        ("embeddings", {"level": "word"}, "word_embeddings"),
        ("embeddings", {"level": "piece"}, "word_embeddings"),
        ("embeddings", {"level": "sentence"}, "sentence_embeddings"),
        ("embeddings", {"level": "document"}, "sentence_embeddings"),
        ("classifier", {}, "category"),
        ("tagger", {"aggregationStrategy": "simple"}, "chunk"),
        ("tagger", {"aggregationStrategy": "first"}, "chunk"),
        ("tagger", {"aggregationStrategy": "none"}, "named_entity"),
    ],
)
def test_each_stage_writes_spark_nlp_s_type_and_annotator_type(
    spark, tiny_encoder, tiny_classifier, tiny_tagger, kind, params, annotator_type
):
    stage = _stage(kind, params, tiny_encoder, tiny_classifier, tiny_tagger)
    data = spark.createDataFrame(list(enumerate(TEXTS)), "id int, text string").coalesce(1)
    out = stage.transform(data)
    column = out.schema[stage.getOutputCol()]
    assert column.dataType == SPARK_NLP_ANNOTATIONS, column.dataType.json()
    assert column.metadata == {"annotatorType": annotator_type}
    rows = {row["id"]: row[column.name] for row in out.select("id", column.name).collect()}
    assert rows[2] is None and rows[3] == []
    written = [annotation.annotatorType for index in (0, 1) for annotation in rows[index]]
    assert written and set(written) == {annotator_type}, "the column's type is its annotations' type"
    # a later plain projection keeps both, as a later Spark NLP stage would see them
    kept = out.select("id", column.name).where("id >= 0").schema[column.name]
    assert (kept.dataType, kept.metadata) == (SPARK_NLP_ANNOTATIONS, {"annotatorType": annotator_type})


def test_the_finishers_read_the_columns(spark, tiny_encoder):
    from albert.spark import AlbertEmbeddings, EmbeddingsFinisher, explode_embeddings

    data = spark.createDataFrame(list(enumerate(TEXTS)), "id int, text string").coalesce(1)
    embedded = AlbertEmbeddings(model=str(tiny_encoder), level="sentence").transform(data)
    finished = EmbeddingsFinisher(inputCols=["embeddings"], outputCols=["vectors"]).transform(embedded)
    vectors = {row.id: row.vectors for row in finished.select("id", "vectors").collect()}
    assert [len(vectors[index]) for index in (0, 1)] == [2, 1] and vectors[3] == []
    units = explode_embeddings(embedded, idCol="id")
    assert sorted(row.id for row in units.collect()) == [0, 0, 1]
