"""albert.spark's AlbertEmbeddings on a sentence-embedding folder: the Params not set take the
folder's saved level (text), pooling, normalisation, dimension and max length, as the pipeline
does; Params set still win. One local Spark for the module."""

from __future__ import annotations

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

from support.spark import TEXTS, assert_vectors_equal, by_id, frame  # noqa: E402

import albert  # noqa: E402
from albert import save_sentence_transformer  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


@pytest.fixture(scope="module")
def sentence_folder(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("spark_sentence") / "model"
    return save_sentence_transformer(tiny_encoder, out, pooling="max", max_length=16, dimension=16,
                                     matryoshka_dimensions=[32, 16])  # fmt: skip


@pytest.mark.parametrize(
    "params, options",
    [
        ({}, {}),
        ({"level": "sentence"}, {"level": "sentence"}),
        ({"sentencePooling": "mean", "normalize": False, "dimension": 32}, {"sentence_pooling": "mean", "normalize": False, "dimension": 32}),
        ({"level": "token"}, {"level": "word"}),
    ],
    ids=["saved", "sentence-level", "given-win", "words"],
)
def test_the_folders_settings_are_the_defaults(spark, sentence_folder, params, options):
    from albert.spark import AlbertEmbeddings

    stage = AlbertEmbeddings(model=str(sentence_folder), batchSize=4, device="cpu", **params)
    result = by_id(stage.transform(frame(spark, TEXTS, 2)), "embeddings")
    reference = albert.pipeline("embeddings", model=str(sentence_folder), device="cpu", **options)(TEXTS)
    for index, records in enumerate(reference):
        assert_vectors_equal(result[index], records)
    if not params:
        vectors = np.array([annotations[0].embeddings for annotations in result.values()])
        assert vectors.shape == (len(TEXTS), 16)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert {annotations[0].annotatorType for annotations in result.values()} == {"sentence_embeddings"}
