"""albert.spark on a real local Spark (local[2,2], one session for the module, bound to 127.0.0.1).

Every vector and label must equal the single-process pipeline's for the same text, whatever
the partitioning and batch size; nulls, blanks and wrong columns behave as documented.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

from support.spark import TEXTS, TOLERANCE, assert_pipeline_round_trip, assert_vectors_equal, by_id, frame  # noqa: E402

import albert  # noqa: E402
from albert import AlbertForSequenceClassification, AlbertForTokenClassification  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]







# -- exactness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize("batch_size", [1, 8, 64])
def test_word_vectors_equal_the_pipeline_whatever_the_partitioning(spark, tiny_encoder, partitions, batch_size):
    from albert.spark import AlbertEmbeddings

    embeddings = AlbertEmbeddings(model=str(tiny_encoder), level="token", batchSize=batch_size, device="cpu")
    result = by_id(embeddings.transform(frame(spark, TEXTS, partitions)), "embeddings")
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), level="word", device="cpu")(TEXTS)
    for index, records in enumerate(reference):
        assert_vectors_equal(result[index], records)


@pytest.mark.parametrize(
    "params, options",
    [
        ({"level": "piece"}, {"level": "piece"}),
        ({"level": "token", "wordPooling": "first", "maxSentenceLength": 16},
         {"level": "word", "word_pooling": "first", "max_length": 16}),
        ({"level": "word", "wordPooling": "last", "layer": "2"}, {"level": "word", "word_pooling": "last", "layer": 2}),
        ({"level": "sentence", "layer": -2}, {"level": "sentence", "layer": -2}),
        ({"level": "sentence", "sentencePooling": "max"}, {"level": "sentence", "sentence_pooling": "max"}),
        ({"level": "sentence", "sentencePooling": "cls", "maxSentenceLength": 16},
         {"level": "sentence", "sentence_pooling": "cls", "max_length": 16}),
        ({"level": "document"}, {"level": "document"}),
        ({"level": "sentence", "splitSentences": False}, {"level": "sentence", "split_sentences": False}),
    ],
    ids=["piece", "word-first-window16", "word-last-layer2", "sentence-layer-minus2", "sentence-max", "sentence-cls-window16", "document",
         "unsplit"],
)  # fmt: skip
def test_every_level_and_pooling_equals_the_pipeline(spark, tiny_encoder, params, options):
    from albert.spark import AlbertEmbeddings

    embeddings = AlbertEmbeddings(model=str(tiny_encoder), batchSize=4, device="cpu", **params)
    result = by_id(embeddings.transform(frame(spark, TEXTS, 3)), "embeddings")
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), device="cpu", **options)(TEXTS)
    for index, records in enumerate(reference):
        assert_vectors_equal(result[index], records)


def test_the_shipped_model_gives_every_token_of_a_long_sentence_a_vector(spark):
    """Spark NLP drops the tokens past maxSentenceLength (906 vectors for 916 tokens)."""
    from albert.spark import AlbertEmbeddings

    long_text = " ".join(["the function returns a list of strings"] * 100)  # 700 words, > 512 pieces
    texts = ["I love NLP", long_text]
    result = by_id(AlbertEmbeddings.pretrained().setDevice("cpu").transform(frame(spark, texts)), "embeddings")
    reference = albert.pipeline("embeddings", level="word", device="cpu")(texts)
    assert len(result[1]) == 700
    for index, records in enumerate(reference):
        assert_vectors_equal(result[index], records)
    assert [annotation.result for annotation in result[0]] == ["I", "love", "NLP"]


# -- the annotation schema ------------------------------------------------------------------------


def test_output_is_spark_nlp_annotations(spark, tiny_encoder):
    from albert.spark import ANNOTATIONS, AlbertEmbeddings

    text = "Unbelievably tokenized words. Second one"
    out = AlbertEmbeddings(model=str(tiny_encoder), level="piece").transform(frame(spark, [text]))
    assert out.schema["embeddings"].dataType == ANNOTATIONS
    assert ANNOTATIONS.elementType.names == ["annotatorType", "begin", "end", "result", "metadata", "embeddings"]
    pieces = out.first()["embeddings"]
    assert {piece.annotatorType for piece in pieces} == {"word_embeddings"}
    for piece in pieces:
        assert text[piece.begin : piece.end + 1] == piece.result  # end is inclusive, as in Spark NLP
        assert set(piece.metadata) == {"sentence", "token", "pieceId", "isWordStart", "word"}
        assert len(piece.embeddings) == 32
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), level="piece")(text)
    assert [int(piece.metadata["pieceId"]) for piece in pieces] == [record["token"] for record in reference]
    starts = [piece.metadata["isWordStart"] == "true" for piece in pieces]
    words = [record["word"] for record in reference]
    assert starts == [index == 0 or words[index] != words[index - 1] for index in range(len(words))]
    assert {piece.metadata["sentence"] for piece in pieces} == {"0", "1"}

    sentences = AlbertEmbeddings(model=str(tiny_encoder), level="sentence").transform(frame(spark, [text]))
    first = sentences.first()["embeddings"][0]
    assert first.annotatorType == "sentence_embeddings"
    assert first.metadata == {"sentence": "0", "token": "Unbelievably tokenized words.", "pieceId": "-1",
                              "isWordStart": "true"}  # fmt: skip


def test_nulls_give_null_and_blanks_give_empty_arrays(spark, tiny_encoder):
    from albert.pipelines.embeddings import UnreadableTextError
    from albert.spark import AlbertEmbeddings

    texts = [None, "", "   \n", "\x00\x01", "a real text", None, "\u200b", "another text", "\ufeff"]
    result = by_id(AlbertEmbeddings(model=str(tiny_encoder)).transform(frame(spark, texts, 2)), "embeddings")
    assert result[0] is None and result[5] is None
    assert result[1] == [] and result[2] == []
    reference = albert.pipeline("embeddings", model=str(tiny_encoder))
    assert_vectors_equal(result[4], reference(texts[4]))
    assert_vectors_equal(result[7], reference(texts[7]))
    assert len(result[3]) == len(reference(texts[3]))  # control characters: what the pipeline gives
    for unreadable in (6, 8):  # nothing the vocabulary reads: the pipeline refuses, Spark gives []
        with pytest.raises(UnreadableTextError):
            reference(texts[unreadable])
        assert result[unreadable] == []


def test_a_missing_or_non_string_column_is_one_clear_error(spark, tiny_encoder):
    from albert.spark import AlbertEmbeddings

    data = spark.createDataFrame([(1, "text")], "id int, body string")
    with pytest.raises(ValueError, match=r"inputCol 'text' is not a column .*\['id', 'body'\]"):
        AlbertEmbeddings(model=str(tiny_encoder)).transform(data)
    with pytest.raises(TypeError, match=r"inputCol 'id' is a int column, not a string column"):
        AlbertEmbeddings(model=str(tiny_encoder), inputCol="id").transform(data)
    with pytest.raises(ValueError, match="outputCol 'body' is already a column"):
        AlbertEmbeddings(model=str(tiny_encoder), inputCol="body", outputCol="body").transform(data)


def test_options_are_checked_on_the_driver_before_any_job(spark, tiny_encoder):
    from albert.spark import AlbertEmbeddings

    data = frame(spark, ["a text"])
    with pytest.raises(ValueError, match="level must be one of"):
        AlbertEmbeddings(model=str(tiny_encoder), level="paragraph").transform(data)
    with pytest.raises(ValueError, match="maxSentenceLength must be between 3"):
        AlbertEmbeddings(model=str(tiny_encoder), maxSentenceLength=2).transform(data)
    with pytest.raises(ValueError, match="wordPooling must be one of first, mean, last"):
        AlbertEmbeddings(model=str(tiny_encoder), wordPooling="sum").transform(data)
    with pytest.raises(ValueError, match="unknown dtype 'float64'"):
        AlbertEmbeddings(model=str(tiny_encoder), dtype="float64").transform(data)
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu'"):
        AlbertEmbeddings(model=str(tiny_encoder), device="gpu0").transform(data)
    with pytest.raises(ValueError, match="layer 9 does not exist"):
        AlbertEmbeddings(model=str(tiny_encoder), layer="9").transform(data)
    with pytest.raises(albert.ModelNotFoundError):
        AlbertEmbeddings(model=str(tiny_encoder / "missing")).transform(data)
    with pytest.raises(ValueError, match="has no capital letters"):  # the shipped vocabulary is lowercase
        AlbertEmbeddings(caseSensitive=True).transform(data)


def test_case_sensitivity_where_the_vocabulary_has_capitals(spark, tiny_encoder):
    from albert.spark import AlbertEmbeddings

    data = frame(spark, ["Mixed CASE Text"])
    default = AlbertEmbeddings(model=str(tiny_encoder)).transform(data).first()["embeddings"]
    lowered = AlbertEmbeddings(model=str(tiny_encoder), caseSensitive=False).transform(data).first()["embeddings"]
    cased = AlbertEmbeddings(model=str(tiny_encoder), caseSensitive=True).transform(data).first()["embeddings"]
    assert [a.embeddings for a in default] == [a.embeddings for a in lowered]
    tokenizer = albert.AlbertTokenizer.from_pretrained(tiny_encoder, do_lower_case=False)
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), tokenizer=tokenizer)("Mixed CASE Text")
    assert_vectors_equal(cased, reference)
    assert [a.embeddings for a in cased] != [a.embeddings for a in lowered]


def test_pretrained_takes_shipped_hub_and_spark_nlp_names():
    from albert.spark import AlbertEmbeddings

    assert AlbertEmbeddings().setInputCols("body").getInputCol() == "body"
    with pytest.raises(ValueError, match="reads one raw text column"):
        AlbertEmbeddings.pretrained("albert_base_uncased", "en").setInputCols("sentence", "token")

    assert AlbertEmbeddings.pretrained().getModel() == "albert-small-en"
    assert AlbertEmbeddings.pretrained("albert_base_uncased", "en").getModel() == "albert/albert-base-v2"
    assert AlbertEmbeddings.pretrained("albert/albert-large-v2").getModel() == "albert/albert-large-v2"


# -- faults: a Python worker killed mid-partition ----------------------------------------------


def test_a_python_worker_killed_mid_partition_is_retried_and_every_row_written_once(spark, tiny_encoder, tmp_path):
    from albert.spark import AlbertEmbeddings

    texts = [f"row {number}: {TEXTS[number % len(TEXTS)][:80]}" for number in range(120)]
    marker = tmp_path / "killed-once"

    def die_mid_partition(batches):
        # In the stage's Python worker, before the annotator: after passing partition 1's first
        # Arrow batch on, the worker process dies (as an OOM kill would take it), once.

        from pyspark import TaskContext

        context = TaskContext.get()
        for number, batch in enumerate(batches):
            if number == 1 and context.partitionId() == 1 and context.attemptNumber() == 0 and not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(137)
            yield batch

    def embedded(data):
        return AlbertEmbeddings(model=str(tiny_encoder), level="sentence", batchSize=4).transform(data)

    data = frame(spark, texts, partitions=2)
    undisturbed = by_id(embedded(data), "embeddings")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "8")  # several batches per partition
    try:
        killed = data.mapInArrow(die_mid_partition, data.schema)
        embedded(killed).select("id", "embeddings").write.parquet(str(tmp_path / "out.parquet"))
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert marker.exists(), "the fault was not injected: the test proves nothing"
    written = spark.read.parquet(str(tmp_path / "out.parquet")).collect()
    assert sorted(row["id"] for row in written) == list(range(len(texts))), "every row exactly once"
    for row in written:
        want, got = undisturbed[row["id"]], row["embeddings"]
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert np.abs(np.asarray(a.embeddings) - np.asarray(b.embeddings)).max() <= TOLERANCE


# -- reuse: one model per worker ------------------------------------------------------------------


def test_the_model_loads_once_per_python_worker_across_batches_tasks_and_jobs(spark, make_tiny_model):
    from albert.spark import AlbertEmbeddings

    folder = str(make_tiny_model(seed=11))  # a model no other test uses
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2")  # many Arrow batches per task
    try:
        for partitions in (2, 3, 4):
            embedded = AlbertEmbeddings(model=folder, level="sentence").transform(frame(spark, TEXTS * 2, partitions))
            assert embedded.where("embeddings is not null").count() == len(TEXTS) * 2
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")

    def loads_here(batches):

        import pandas as pd

        from albert.spark import worker

        for _ in batches:
            yield pd.DataFrame({"pid": [os.getpid()], "loads": [worker.loads[folder]]})

    probe = spark.range(0, 8, numPartitions=8).mapInPandas(loads_here, "pid long, loads long").collect()
    per_worker = {row.pid: row.loads for row in probe}
    assert max(per_worker.values()) == 1, f"a worker loaded the model more than once: {per_worker}"


def test_task_device_uses_the_gpu_spark_assigned(monkeypatch):
    from pyspark import TaskContext
    from pyspark.resource import ResourceInformation

    from albert.spark.worker import task_device

    class Context:
        def resources(self):
            return {"gpu": ResourceInformation("gpu", ["1"])}

    assert task_device("cpu") == "cpu"
    monkeypatch.setattr(TaskContext, "get", classmethod(lambda cls: Context()))
    assert task_device("auto") == "cuda:1"
    monkeypatch.setattr(TaskContext, "get", classmethod(lambda cls: None))
    assert task_device("auto") == "auto"


def test_a_resource_profile_goes_to_the_stage_s_map_in_arrow(spark, tiny_encoder, monkeypatch):
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    from albert.spark import AlbertEmbeddings

    profile = ResourceProfileBuilder().require(TaskResourceRequests().cpus(1)).build
    calls = []
    data = frame(spark, ["a text"])
    monkeypatch.setattr(type(data), "mapInArrow", lambda self, function, schema, **kwargs: calls.append(kwargs))
    AlbertEmbeddings(model=str(tiny_encoder)).transform(data)
    AlbertEmbeddings(model=str(tiny_encoder)).setResourceProfile(profile).transform(data)
    assert calls == [{}, {"profile": profile}]


# -- Spark ML: pipelines, finisher, estimators ----------------------------------------------------


def test_pipeline_model_save_and_load_round_trip(spark, tiny_encoder, tmp_path):
    assert_pipeline_round_trip(spark, str(tiny_encoder), tmp_path / "pipeline")

def test_finished_vectors_train_a_logistic_regression(spark):
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.linalg import DenseVector
    from pyspark.sql import functions as F

    from albert.spark import AlbertEmbeddings, EmbeddingsFinisher

    good = ["a wonderful, lovely film", "great acting and a great story", "I loved every minute",
            "beautiful and moving", "the best film this year", "a delight from start to end"]
    bad = ["a dull, boring film", "terrible acting and a weak story", "I hated every minute",
           "ugly and tedious", "the worst film this year", "a bore from start to end"]  # fmt: skip
    rows = [(text, 1.0) for text in good] + [(text, 0.0) for text in bad]
    data = spark.createDataFrame(rows, "text string, label double")
    embedded = AlbertEmbeddings(level="sentence", device="cpu").transform(data)
    finished = EmbeddingsFinisher(inputCols=["embeddings"], outputCols=["vectors"]).transform(embedded)
    features = finished.select(F.explode("vectors").alias("features"), "label").cache()
    first = features.first().features
    assert isinstance(first, DenseVector) and len(first) == 384
    model = LogisticRegression(maxIter=50, regParam=0.0).fit(features)
    predictions = model.transform(features).select("label", "prediction").collect()
    accuracy = np.mean([row.label == row.prediction for row in predictions])
    assert accuracy == 1.0, "12 sentences in 384 dimensions are separable: the vectors must reach the estimator"
    assert len(KMeans(k=2, seed=0).fit(features).clusterCenters()) == 2
    as_arrays = EmbeddingsFinisher(inputCols=["embeddings"], outputAsVector=False).transform(embedded)
    assert as_arrays.schema["finished_embeddings"].dataType.simpleString() == "array<array<float>>"


def test_explode_gives_one_row_per_unit_with_flat_columns(spark, tiny_encoder):
    from albert.spark import AlbertEmbeddings, explode_embeddings

    texts = ["First sentence here. And a second.", None, "", "one more"]
    embedded = AlbertEmbeddings(model=str(tiny_encoder), level="word").transform(frame(spark, texts, 2))
    flat = explode_embeddings(embedded, idCol="id")
    with pytest.raises(ValueError, match=r"idCol 'nope' is not a column of this DataFrame; its columns are \['id'"):
        explode_embeddings(embedded, idCol="nope")
    with pytest.raises(TypeError, match="inputCol 'text' is a string column, not annotations"):
        explode_embeddings(embedded, inputCol="text")
    assert flat.columns == ["id", "sentence", "word", "text", "begin", "end", "embedding"]
    rows = flat.orderBy("id", "word").collect()
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), level="word")([texts[0], texts[3]])
    expected = [(0, r["sentence"], r["word"], r["text"], r["start"], r["end"] - 1) for r in reference[0]]
    expected += [(3, r["sentence"], r["word"], r["text"], r["start"], r["end"] - 1) for r in reference[1]]
    assert [(r.id, r.sentence, r.word, r.text, r.begin, r.end) for r in rows] == expected
    numbered = explode_embeddings(embedded, keepCols=["id"]).collect()
    ids = {}
    for row in numbered:
        ids.setdefault(row.id, set()).add(row.row_id)
    assert all(len(row_ids) == 1 for row_ids in ids.values()), "the units of one row share its row_id"
    assert len({next(iter(row_ids)) for row_ids in ids.values()}) == len(ids)


# -- task annotators ------------------------------------------------------------------------------


def test_classifier_scores_equal_the_pipeline(spark, make_tiny_model):
    from albert.spark import AlbertClassifier

    labels = {0: "negative", 1: "neutral", 2: "positive"}
    folder = str(make_tiny_model(AlbertForSequenceClassification, seed=5, id2label=labels))
    texts = [*TEXTS, None, ""]
    result = by_id(AlbertClassifier(model=folder, batchSize=3).transform(frame(spark, texts, 3)), "class")
    reference = albert.pipeline("text-classification", model=folder)(TEXTS)
    for index, scores in enumerate(reference):
        (annotation,) = result[index]
        assert annotation.annotatorType == "category"
        assert annotation.result == scores[0]["label"]
        assert (annotation.begin, annotation.end) == (0, len(TEXTS[index]) - 1)
        for score in scores:
            assert abs(float(annotation.metadata[score["label"]]) - score["score"]) <= TOLERANCE
    assert result[len(TEXTS)] is None and result[len(TEXTS) + 1] == []

    with pytest.raises(ValueError, match="holds a AlbertForPreTraining, not a fine-tuned AlbertForSequenceClassification"):
        AlbertClassifier(model="albert-small-en").transform(frame(spark, TEXTS))  # a random head: refused
    with pytest.raises(ValueError, match="AlbertClassifier needs a model"):
        AlbertClassifier().transform(frame(spark, TEXTS))

    pairs = spark.createDataFrame([(0, "a question?", "an answer."), (1, "a question?", None)], "id int, a string, b string")
    paired = by_id(AlbertClassifier(model=folder, inputCol="a", pairCol="b").transform(pairs), "class")
    expected = albert.pipeline("text-classification", model=folder)([{"text": "a question?", "text_pair": "an answer."}])
    assert abs(float(paired[0][0].metadata[expected[0][0]["label"]]) - expected[0][0]["score"]) <= TOLERANCE
    assert paired[1] is None


def test_token_classifier_entities_equal_the_pipeline(spark, make_tiny_model):
    from albert.spark import AlbertTokenClassifier

    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    folder = str(make_tiny_model(AlbertForTokenClassification, seed=7, id2label=labels))
    for strategy, kind in (("simple", "chunk"), ("none", "named_entity"), ("first", "chunk")):
        tagger = AlbertTokenClassifier(model=folder, aggregationStrategy=strategy, ignoreLabels=[])
        result = by_id(tagger.transform(frame(spark, TEXTS, 2)), "entities")
        reference = albert.pipeline("token-classification", model=folder)(
            TEXTS, aggregation_strategy=strategy, ignore_labels=[]
        )
        for index, entities in enumerate(reference):
            assert len(result[index]) == len(entities)
            for annotation, entity in zip(result[index], entities):
                assert annotation.annotatorType == kind
                assert (annotation.begin, annotation.end + 1) == (entity["start"], entity["end"])
                if kind == "chunk":
                    assert (annotation.result, annotation.metadata["entity"]) == (entity["word"], entity["entity_group"])
                else:
                    assert (annotation.result, annotation.metadata["word"]) == (entity["entity"], entity["word"])
                assert abs(float(annotation.metadata["confidence"]) - entity["score"]) <= TOLERANCE


# -- the command line and the stage lines ---------------------------------------------------------


def test_stage_lines_report_each_stage_start_and_end(spark):
    from albert.spark import stage_lines

    lines: list[str] = []
    with stage_lines(spark, lines.append, interval=0.05):
        spark.range(0, 1000, numPartitions=3).selectExpr("sum(id)").collect()
    assert any("started" in line for line in lines) and any("finished" in line for line in lines)
    assert any("3/3 tasks" in line for line in lines), lines


def test_albert_embed_on_spark_writes_parquet_with_spark(tmp_path, tiny_encoder):
    import pandas as pd

    source = tmp_path / "in.parquet"
    pd.DataFrame({"id": [10, 11, 12], "text": ["I love NLP", None, "Two sentences. Here."]}).to_parquet(source)
    output = tmp_path / "out.parquet"
    command = [sys.executable, "-m", "albert.cli", "embed", "--spark", "local[1]", "--input", str(source),
               "--text-column", "text", "--output", str(output), "--level", "sentence", "--model", str(tiny_encoder)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "UI at http://127.0.0.1:" in done.stderr
    assert "stage" in done.stderr and "finished" in done.stderr
    assert "wrote 3 rows" in done.stderr
    assert output.is_dir() and (output / "_SUCCESS").exists()  # Spark's writer, its commit protocol
    written = pd.read_parquet(output).sort_values(["id", "sentence"])
    assert list(written.columns) == ["row_id", "id", "sentence", "word", "text", "begin", "end", "embedding"]
    reference = albert.pipeline("embeddings", model=str(tiny_encoder), level="sentence")(
        ["I love NLP", "Two sentences. Here."]
    )
    expected = [record for records in reference for record in records]
    assert written.text.tolist() == [record["text"] for record in expected]
    for vector, record in zip(written.embedding, expected):
        assert np.abs(np.asarray(vector) - record["embedding"]).max() <= TOLERANCE

    again = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_worker_embeds_a_batch_in_slices_of_bounded_text(tiny_encoder, monkeypatch):
    """An Arrow batch goes to the pipeline in slices (memory stays bounded for long documents at
    token level); the rows, their order and every vector are those of one call."""
    import pyarrow as pa

    from albert.spark import worker
    from albert.spark.annotators import AlbertEmbeddings

    spec = AlbertEmbeddings(model=str(tiny_encoder), device="cpu").worker_spec()
    texts = [*TEXTS, None, "", *TEXTS]
    batch = pa.RecordBatch.from_arrays([pa.array(range(len(texts))), pa.array(texts, pa.string())], ["id", "text"])
    whole = list(worker.annotate_batches(iter([batch]), spec))
    monkeypatch.setattr(worker, "MAX_CHARACTERS_PER_CALL", 200)
    sliced = list(worker.annotate_batches(iter([batch]), spec))
    assert len(whole) == 1 and len(sliced) > 3
    assert sum(part.num_rows for part in sliced) == len(texts)
    joined = pa.Table.from_batches(sliced).to_pylist()
    assert [row["id"] for row in joined] == list(range(len(texts)))
    expected = pa.Table.from_batches(whole).to_pylist()
    for row, reference in zip(joined, expected):
        assert (row["id"], row["text"]) == (reference["id"], reference["text"])
        if reference["embeddings"] is None:
            assert row["embeddings"] is None
            continue
        assert len(row["embeddings"]) == len(reference["embeddings"])
        for unit, unit_reference in zip(row["embeddings"], reference["embeddings"]):
            vector, vector_reference = unit.pop("embeddings"), unit_reference.pop("embeddings")
            assert unit == unit_reference
            assert np.abs(np.subtract(vector, vector_reference)).max() <= TOLERANCE  # other batches


def test_a_classifier_names_the_truncated_row_by_partition_and_index(make_tiny_model, monkeypatch):
    """The pipeline counts the inputs of one call (a slice of an Arrow batch, null and blank rows
    left out); the warning must name the row of the partition instead, with its text's start."""
    import warnings

    import pyarrow as pa

    from albert.spark import worker
    from albert.spark.annotators import AlbertClassifier

    folder = make_tiny_model(AlbertForSequenceClassification, seed=5, id2label={0: "neg", 1: "pos"})
    spec = AlbertClassifier(model=str(folder), device="cpu").worker_spec()
    long = " ".join(f"word{number}" for number in range(120))
    batches = [  # rows 0-2, then rows 3-6 in a second batch; long texts get slices of their own
        pa.RecordBatch.from_arrays([pa.array(["short", None, "  "], pa.string())], ["text"]),
        pa.RecordBatch.from_arrays([pa.array([f"first {long}", "fine", "", f"second {long}"], pa.string())], ["text"]),
    ]
    monkeypatch.setattr(worker, "MAX_CHARACTERS_PER_CALL", 200)
    monkeypatch.setattr(worker, "_partition", lambda: 7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = pa.Table.from_batches(list(worker.annotate_batches(iter(batches), spec))).to_pylist()
    assert len(written) == 7 and written[1]["class"] is None and written[2]["class"] == []
    cut = [str(warning.message) for warning in caught if "truncated" in str(warning.message)]
    characters = f"{len(long) + 6:,}"
    assert cut == [
        f"partition 7, rows[3] ('first word0 word1 word2 word3 word4 wor…', {characters} characters) is longer "
        "than the model's window of 64 tokens and was truncated for classification",
        f"partition 7, rows[6] ('second word0 word1 word2 word3 word4 wo…', {len(long) + 7:,} characters) is "
        "longer than the model's window of 64 tokens and was truncated for classification",
    ]
    # several in one slice: one warning naming each, and none outside Spark names a partition
    monkeypatch.setattr(worker, "MAX_CHARACTERS_PER_CALL", 1 << 20)
    monkeypatch.setattr(worker, "_partition", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(worker.annotate_batches(iter(batches[1:]), spec))
    [message] = [str(warning.message) for warning in caught if "truncated" in str(warning.message)]
    assert message.startswith("rows[0] ('first word0") and ", rows[3] ('second word0" in message
    assert "are longer than the model's window of 64 tokens and were truncated" in message
