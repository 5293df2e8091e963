"""Fine-tuning as Spark ML Estimators on TorchDistributor (local Spark, processes on the driver).

Two processes must train the weights one process trains (same global batch and seed), the
fitted stage must be the existing Transformer on the trained folder, and a failed process must
fail ``fit`` with its own error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from support.finetune import CLASS_KEYWORDS, ENTITY_WORDS, classification_records, tagging_records  # noqa: E402

import albert  # noqa: E402
from albert.errors import OptionError  # noqa: E402
from albert.training.finetuning.readers import DataFormatError  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

FAST = dict(epochs=2, batchSize=16, learningRate=3e-3, maxLength=32, seed=3, evalEvery=2)



@pytest.fixture(scope="module")
def base_model(make_tiny_model) -> Path:
    return make_tiny_model(classifier_dropout_prob=0.0)  # dropout draws differ per process; the rest is exact


def sentences(spark, count: int, seed: int, dev: bool | None = None):
    rows = [(record["sentence"], record["label"]) for record in classification_records(count, seed)]
    frame = spark.createDataFrame(rows, "sentence string, label string").repartition(2)
    if dev is not None:
        from pyspark.sql import functions as F

        frame = frame.withColumn("is_dev", F.lit(dev))
    return frame


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_two_processes_train_what_one_trains_and_fit_returns_the_classifier(spark, base_model, tmp_path):
    from albert.spark import AlbertClassifier, AlbertClassifierEstimator

    # 61 training rows in batches of 16: each epoch's last batch (13 rows) splits 7/6 between the processes
    data = sentences(spark, 61, seed=1, dev=False).unionByName(sentences(spark, 16, seed=2, dev=True))
    fitted = {}
    for processes in (1, 2):
        estimator = AlbertClassifierEstimator(
            inputCol="sentence", labelCol="label", model=str(base_model), numProcesses=processes,
            validationIndicatorCol="is_dev", outputModelPath=str(tmp_path / f"run{processes}"), **FAST,
        )
        fitted[processes] = estimator.fit(data)
    one, two = fitted[1], fitted[2]
    assert isinstance(two, AlbertClassifier) and two.getModel() == str(tmp_path / "run2" / "best")
    expected, trained = weights(Path(one.getModel())), weights(Path(two.getModel()))
    assert expected.keys() == trained.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(trained[name], tensor, atol=1e-5, rtol=1e-4, msg=name)

    # labels mapped to ids and back, dev metrics logged beside the model and on the fitted stage
    config = json.loads((Path(two.getModel()) / "config.json").read_text())
    assert sorted(config["id2label"].values()) == sorted(CLASS_KEYWORDS)
    summary = json.loads((tmp_path / "run2" / "metrics.json").read_text())
    assert summary["dev_examples"] == 16 and summary["train_examples"] == 61
    assert two.trainingSummary["best"] == summary["best"] and "accuracy" in summary["best"]

    test = sentences(spark, 12, seed=9).withColumnRenamed("label", "gold")
    predicted = {row.sentence: row["class"][0].result for row in two.transform(test).collect()}
    reference = {row.sentence: row["class"][0].result for row in one.transform(test).collect()}
    assert predicted == reference
    pipe = albert.pipeline("text-classification", model=two.getModel())
    assert predicted == {text: pipe(text)[0]["label"] for text in predicted}


def test_a_pipeline_with_the_estimator_fits_saves_and_loads(spark, base_model, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel

    from albert.spark import AlbertClassifierEstimator, AlbertEmbeddings

    estimator = AlbertClassifierEstimator(inputCol="sentence", model=str(base_model),
                                          outputModelPath=str(tmp_path / "run"), **{**FAST, "epochs": 1})
    embeddings = AlbertEmbeddings(inputCol="sentence", outputCol="vectors", level="sentence", model=str(base_model))
    pipeline = Pipeline(stages=[embeddings, estimator])
    pipeline.write().overwrite().save(str(tmp_path / "unfitted"))
    reloaded_estimator = Pipeline.load(str(tmp_path / "unfitted")).getStages()[1]
    assert reloaded_estimator.getBatchSize() == 16 and reloaded_estimator.getModel() == str(base_model)

    model = pipeline.fit(sentences(spark, 32, seed=4))
    test = sentences(spark, 8, seed=5)
    before = [row["class"][0].result for row in model.transform(test).orderBy("sentence").collect()]
    model.write().overwrite().save(str(tmp_path / "fitted"))
    after = [row["class"][0].result for row in PipelineModel.load(str(tmp_path / "fitted")).transform(test)
             .orderBy("sentence").collect()]
    assert before == after and len(after) == 8


def test_token_classifier_learns_from_spark_nlp_annotation_columns(spark, make_tiny_model, tmp_path):
    from pyspark.sql import functions as F

    from albert.spark import AlbertTokenClassifier, AlbertTokenClassifierEstimator

    records = tagging_records(24, seed=1)
    rows = [(" ".join(r["words"]), r["words"], r["tags"]) for r in records]
    frame = spark.createDataFrame(rows, "text string, words array<string>, tags array<string>")
    # as Spark NLP's CoNLL reader writes them: token and label annotation columns, the word in `result`
    annotation = "struct<annotatorType:string,begin:int,end:int,result:string,metadata:map<string,string>,embeddings:array<float>>"
    as_annotations = frame.select(
        "text",
        F.transform("words", lambda w: F.struct(F.lit("token").alias("annotatorType"), F.lit(0).alias("begin"),
                                                F.lit(0).alias("end"), w.alias("result"),
                                                F.create_map().cast("map<string,string>").alias("metadata"),
                                                F.array().cast("array<float>").alias("embeddings")))
        .cast(f"array<{annotation}>").alias("token"),
        F.transform("tags", lambda t: F.struct(F.lit("named_entity").alias("annotatorType"), F.lit(0).alias("begin"),
                                               F.lit(0).alias("end"), t.alias("result"),
                                               F.create_map().cast("map<string,string>").alias("metadata"),
                                               F.array().cast("array<float>").alias("embeddings")))
        .cast(f"array<{annotation}>").alias("label"),
    )
    estimator = AlbertTokenClassifierEstimator(model=str(make_tiny_model()), outputModelPath=str(tmp_path / "run"),
                                               **{**FAST, "epochs": 1})
    tagger = estimator.fit(as_annotations)
    assert isinstance(tagger, AlbertTokenClassifier) and tagger.getInputCol() == "text"
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert set(config["id2label"].values()) == {"O", *ENTITY_WORDS.values()}

    plain = AlbertTokenClassifierEstimator(inputCol="words", labelCol="tags", model=str(make_tiny_model()),
                                           outputModelPath=str(tmp_path / "plain"), **{**FAST, "epochs": 1})
    assert plain.fit(frame).transform(frame).count() == 24


def test_a_failing_process_fails_fit_with_its_own_error(spark, base_model, tmp_path):
    from albert.spark import AlbertClassifierEstimator

    single_label = spark.createDataFrame([("a city", "pos"), ("a river", "pos")], "sentence string, label string")
    estimator = AlbertClassifierEstimator(inputCol="sentence", model=str(base_model), numProcesses=2,
                                          outputModelPath=str(tmp_path / "run"), **FAST)
    with pytest.raises(DataFormatError, match="single label"):
        estimator.fit(single_label)


def test_params_are_checked_on_the_driver_before_any_job(spark, base_model, tmp_path):
    from albert.spark import AlbertClassifierEstimator

    data = sentences(spark, 8, seed=1)
    with pytest.raises(OptionError, match="has no Param 'batch_size'.*batchSize"):
        AlbertClassifierEstimator(batch_size=8)
    with pytest.raises(OptionError, match="outputModelPath"):
        AlbertClassifierEstimator(inputCol="sentence").fit(data)
    with pytest.raises(OptionError, match="batchSize 6 must be divisible by accumulationSteps 4"):
        AlbertClassifierEstimator(inputCol="sentence", batchSize=6, accumulationSteps=4,
                                  outputModelPath=str(tmp_path / "x")).fit(data)
    with pytest.raises(ValueError, match="inputCol 'text' is not a column"):
        AlbertClassifierEstimator(outputModelPath=str(tmp_path / "y")).fit(data)
    with pytest.raises(TypeError, match="a regressor learns numbers"):
        AlbertClassifierEstimator(inputCol="sentence", regression=True, outputModelPath=str(tmp_path / "z")).fit(data)
    assert not (tmp_path / "x").exists() and not (tmp_path / "z" / "checkpoints").exists()


def test_the_cli_fine_tunes_files_on_spark(base_model, tmp_path):
    if shutil.which("java") is None:
        pytest.skip("Java 17 is needed")
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{r['sentence']}\t{r['label']}\n" for r in classification_records(32, 1)))
    command = [sys.executable, "-m", "albert.cli", "finetune", "--task", "text-classification", "--model",
               str(base_model), "--train", str(train), "--out", str(tmp_path / "run"), "--epochs", "1",
               "--batch-size", "16", "--max-length", "32", "--threads", "1", "--no-progress",
               "--spark", "local[2]", "--processes", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["train_file"] == str(train) and run["processes"] == 2
    assert (tmp_path / "run" / "best" / "model.safetensors").exists()
