"""albert.spark on a real standalone cluster: a master and two workers (pyspark's ``bin/spark-class``,
one core each, on 127.0.0.1), and a driver in this process on ``spark://``.

The executors are JVMs the workers launch, each with its own Python workers: the stage's function
and the model folder travel as they would between machines (pickled, and by path). Slow: three
JVMs and two executors start; run with ``pytest -m slow``.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

from support.spark import TEXTS, TOLERANCE  # noqa: E402
from support.spark_servers import (  # noqa: E402
    free_port,
    require_java,
    server_env,
    spark_home,
    spark_server,
    stop_driver_jvm,
)

import albert  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]

WORKERS = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The master's URL and the workers' folders, once the master and every worker listen."""
    require_java()
    folder = tmp_path_factory.mktemp("standalone")
    env = server_env(folder)
    spark_class = str(spark_home() / "bin" / "spark-class")
    master_port = free_port()
    url = f"spark://127.0.0.1:{master_port}"
    with ExitStack() as servers:  # closed in reverse: the workers, then the master
        master = [spark_class, "org.apache.spark.deploy.master.Master",
                  "--host", "127.0.0.1", "--port", str(master_port), "--webui-port", str(free_port())]  # fmt: skip
        servers.enter_context(spark_server(master, master_port, folder / "master.log", env))
        work_dirs = []
        for number in range(1, WORKERS + 1):
            port, work_dir = free_port(), folder / f"worker-{number}"
            work_dir.mkdir()
            worker = [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                      "--port", str(port), "--webui-port", str(free_port()), "--cores", "1", "--memory", "1g",
                      "--work-dir", str(work_dir)]  # fmt: skip
            servers.enter_context(spark_server(worker, port, folder / f"worker-{number}.log", env))
            work_dirs.append(work_dir)
        yield url, work_dirs


@pytest.fixture(scope="module")
def spark(cluster):
    from albert.spark import spark_session

    url, _ = cluster
    session = spark_session(url, app_name="albert-cluster-tests", ui=False, config={
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.pyspark.python": sys.executable,
        "spark.executor.cores": "1",
        "spark.executor.memory": "512m",
        "spark.cores.max": str(WORKERS),
        # the first job waits until both executors are there, so both take its tasks
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
    })  # fmt: skip
    try:
        assert session.sparkContext.master == url, (
            f"a session on {session.sparkContext.master} was still active"
        )
        yield session
    finally:
        session.stop()
        driver = stop_driver_jvm()
        assert driver is None or not Path(f"/proc/{driver}").exists(), f"the driver's JVM {driver} still runs"


def test_the_tasks_run_in_executors_on_both_workers(spark, cluster):
    def working_folder(batches):
        import os

        import pandas as pd

        for _ in batches:
            yield pd.DataFrame({"cwd": [os.getcwd()]})  # an executor's: work-dir/app-id/executor-id

    _, work_dirs = cluster
    folders = {
        row.cwd
        for row in spark.range(0, 8, numPartitions=8).mapInPandas(working_folder, "cwd string").collect()
    }
    assert {Path(folder).parents[1] for folder in folders} == set(work_dirs)


def test_vectors_equal_the_pipeline_across_partitions_and_executors(spark, make_tiny_model):
    from albert.spark import AlbertEmbeddings

    folder = str(make_tiny_model(seed=3))
    data = spark.createDataFrame(list(enumerate(TEXTS)), "id int, text string").repartition(5)
    embedded = AlbertEmbeddings(model=folder, level="token", batchSize=2, device="cpu").transform(data)
    result = {row.id: row.embeddings for row in embedded.select("id", "embeddings").collect()}
    reference = albert.pipeline("embeddings", model=folder, level="word", device="cpu")(TEXTS)
    assert sorted(result) == list(range(len(TEXTS)))
    for index, records in enumerate(reference):
        assert len(result[index]) == len(records)
        for annotation, record in zip(result[index], records):
            assert (annotation.begin, annotation.end + 1) == (record["start"], record["end"])
            assert annotation.result == record["text"]
            difference = np.abs(np.asarray(annotation.embeddings, np.float32) - record["embedding"]).max()
            assert difference <= TOLERANCE, f"{record['text']!r}: max abs diff {difference}"
