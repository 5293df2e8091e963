"""Helpers of the Spark tests: a DataFrame of texts with ids, and vectors compared with the pipeline's."""

from __future__ import annotations

import numpy as np

#: Spark vectors against the single-process pipeline's.
TOLERANCE = 1e-5

#: Varied texts: several sentences, unicode, punctuation, a glued special-looking token, one far
#: longer than the tiny model's window of 64, and one longer than ``maxSentenceLength=16``.
TEXTS = [
    "I love NLP",
    "ALBERT shares one layer across its depth. It is small. Really small!",
    "Café au lait, naïve résumé — ünïcödé déjà vu.",
    "The function returns a list of strings [MASK].",
    " ".join(f"word{number % 17}" for number in range(150)) + ". And then one more sentence.",
    "short",
    "Numbers like 3.14159 and 2,718 and e-mail@example.com are words too.",
]


def frame(spark, texts, partitions: int = 2):
    """``texts`` as a DataFrame ``id int, text string`` in ``partitions`` partitions."""
    rows = [(index, text) for index, text in enumerate(texts)]
    return spark.createDataFrame(rows, "id int, text string").repartition(partitions)


def by_id(dataframe, column: str) -> dict[int, list]:
    """``column`` of each row by its ``id`` (Spark keeps no row order)."""
    return {row["id"]: row[column] for row in dataframe.select("id", column).collect()}


def assert_vectors_equal(annotations, records) -> None:
    """Spark's annotations equal the pipeline's records: spans, texts and vectors (to TOLERANCE)."""
    assert len(annotations) == len(records), "every unit has exactly one annotation"
    for annotation, record in zip(annotations, records):
        assert (annotation.begin, annotation.end + 1) == (record["start"], record["end"])
        assert annotation.result == record["text"]
        difference = np.abs(np.asarray(annotation.embeddings, np.float32) - record["embedding"]).max()
        assert difference <= TOLERANCE, f"{record['text']!r}: max abs diff {difference}"


def assert_pipeline_round_trip(spark, encoder: str, folder) -> dict[int, list]:
    """A fitted embeddings + finisher Pipeline saved to ``folder`` and loaded gives the same Params and
    vectors; returns the loaded pipeline's vectors by id (for a test to compare with the reference)."""
    from pyspark.ml import Pipeline, PipelineModel

    from albert.spark import AlbertEmbeddings, EmbeddingsFinisher

    stages = [
        AlbertEmbeddings(model=encoder, level="sentence", sentencePooling="max", maxSentenceLength=20),
        EmbeddingsFinisher(inputCols=["embeddings"], outputCols=["vectors"]),
    ]
    data = frame(spark, TEXTS[:3])
    fitted = Pipeline(stages=stages).fit(data)
    fitted.write().overwrite().save(str(folder))
    loaded = PipelineModel.load(str(folder))
    embeddings = loaded.stages[0]
    assert (embeddings.getLevel(), embeddings.getSentencePooling(), embeddings.getMaxSentenceLength()) == (
        "sentence", "max", 20,
    )  # fmt: skip
    before, after = by_id(fitted.transform(data), "vectors"), by_id(loaded.transform(data), "vectors")
    assert before.keys() == after.keys() == {0, 1, 2}
    for key in before:
        assert [v.toArray().tolist() for v in before[key]] == [v.toArray().tolist() for v in after[key]]
    return after
