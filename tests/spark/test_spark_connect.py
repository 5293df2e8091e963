"""albert.spark over Spark Connect: a real Connect server (pyspark's ``sbin/start-connect-server.sh``,
``local[2]``, on 127.0.0.1) and a client session in this process.

The client holds no JVM: the annotators' ``mapInArrow`` runs in the server's Python workers, which
import albert from this checkout. Every vector, label and saved pipeline must be what the
in-process pipeline and the classic session give.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

from support.spark import TEXTS, TOLERANCE, assert_pipeline_round_trip, assert_vectors_equal, by_id, frame  # noqa: E402
from support.spark_servers import SRC, free_port, require_java, server_env, spark_home, spark_server  # noqa: E402

import albert  # noqa: E402
from albert import AlbertForSequenceClassification  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]



def require_connect() -> None:
    """Skip unless the server's jar and the client's packages (pyspark[connect]) are here."""
    from pyspark.errors import PySparkImportError

    if not list((spark_home() / "jars").glob("spark-connect_*.jar")):
        pytest.skip(f"no spark-connect_*.jar in {spark_home() / 'jars'}: this pyspark has no Connect server")
    try:  # the client's own check, which importing pyspark.sql.connect modules runs as well
        from pyspark.sql.connect.utils import check_dependencies

        check_dependencies()
    except PySparkImportError as error:
        pytest.skip(f"the Spark Connect client needs {error} (pip install -e '.[spark]')")


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory) -> str:
    require_java()
    require_connect()
    folder = tmp_path_factory.mktemp("connect-server")
    port = free_port()
    command = [str(spark_home() / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]"]
    for key, value in {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.pyspark.python": sys.executable,
        "spark.sql.shuffle.partitions": "2",
        "spark.python.worker.reuse": "true",
    }.items():
        command += ["--conf", f"{key}={value}"]
    with spark_server(command, port, folder / "connect-server.log", server_env(folder)):
        yield f"sc://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def spark(connect_url):
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    mode_before = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    session = SparkSession.builder.remote(connect_url).getOrCreate()
    try:
        assert isinstance(session, ConnectSession), "a classic SparkContext is still active in this process"
        yield session
    finally:
        session.stop()
        # getOrCreate switched pyspark to Connect for the whole process (pyspark.sql.utils.is_remote);
        # the classic sessions of the next modules must not see it.
        if mode_before is None:
            os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)





def test_the_session_is_a_connect_client_and_the_server_workers_import_this_albert(spark):
    def albert_here(batches):
        import pandas as pd

        import albert

        for _ in batches:
            yield pd.DataFrame({"path": [albert.__file__]})

    paths = {
        row.path
        for row in spark.range(0, 2, numPartitions=2).mapInPandas(albert_here, "path string").collect()
    }
    assert paths == {str(SRC / "albert" / "__init__.py")}


@pytest.mark.parametrize(
    "level, options", [("token", {"level": "word"}), ("sentence", {"level": "sentence"})]
)
def test_vectors_equal_the_pipeline(spark, tiny_encoder, level, options):
    from albert.spark import AlbertEmbeddings, explode_embeddings

    embeddings = AlbertEmbeddings(model=str(tiny_encoder), level=level, batchSize=2, device="cpu")
    embedded = embeddings.transform(frame(spark, TEXTS, 3))
    result = by_id(embedded, "embeddings")
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), device="cpu", **options)(TEXTS)
    for index, records in enumerate(reference):
        assert_vectors_equal(result[index], records)
    flat = explode_embeddings(embedded, idCol="id").orderBy("id", "begin").collect()
    assert [(row.id, row.text) for row in flat] == [
        (index, record["text"]) for index, records in enumerate(reference) for record in records
    ]


def test_classifier_scores_equal_the_pipeline(spark, make_tiny_model):
    from albert.spark import AlbertClassifier

    labels = {0: "negative", 1: "neutral", 2: "positive"}
    folder = str(make_tiny_model(AlbertForSequenceClassification, seed=5, id2label=labels))
    result = by_id(
        AlbertClassifier(model=folder, batchSize=3).transform(frame(spark, [*TEXTS, None])), "class"
    )
    reference = albert.pipeline("text-classification", model=folder)(TEXTS)
    for index, scores in enumerate(reference):
        (annotation,) = result[index]
        assert annotation.result == scores[0]["label"]
        for score in scores:
            assert abs(float(annotation.metadata[score["label"]]) - score["score"]) <= TOLERANCE
    assert result[len(TEXTS)] is None


def test_pipeline_model_save_and_load_round_trip(spark, tiny_encoder, tmp_path):
    after = assert_pipeline_round_trip(spark, str(tiny_encoder), tmp_path / "pipeline")  # the server shares this disk
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), level="sentence", sentence_pooling="max",
                                max_length=20)(TEXTS[:3])  # fmt: skip
    for key, records in enumerate(reference):
        got = np.asarray([v.toArray() for v in after[key]])
        assert np.abs(got - np.asarray([record["embedding"] for record in records])).max() <= TOLERANCE


def test_the_classifier_estimator_fine_tunes_over_connect(spark, make_tiny_model, tmp_path):
    """TorchDistributor runs the processes beside the client; the server stages the data and applies the model."""
    from support.finetune import classification_records

    from albert.spark import AlbertClassifier, AlbertClassifierEstimator

    rows = [(record["sentence"], record["label"]) for record in classification_records(24, seed=1)]
    data = spark.createDataFrame(rows, "sentence string, label string")
    estimator = AlbertClassifierEstimator(inputCol="sentence", model=str(make_tiny_model()), epochs=1, batchSize=8,
                                          maxLength=32, outputModelPath=str(tmp_path / "run"))
    classifier = estimator.fit(data)
    assert isinstance(classifier, AlbertClassifier)
    labels = {row["class"][0].result for row in classifier.transform(data).collect()}
    assert labels <= {"pos", "neg"}
    pipe = albert.pipeline("text-classification", model=classifier.getModel())
    first = data.first()
    assert classifier.transform(data.limit(1)).first()["class"][0].result == pipe(first.sentence)[0]["label"]
