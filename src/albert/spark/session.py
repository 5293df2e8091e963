"""A SparkSession for albert's jobs, and a line per stage while a job runs.

``spark_session`` is what the CLI, the tests and the benchmark start: Python workers on this very
interpreter (so they import the same albert and torch), Arrow on, and for a local master
everything bound to 127.0.0.1. On a real cluster, start your session as usual
(``spark-submit``): the annotators need nothing from this module.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession


def spark_session(
    master: str = "local[*]", app_name: str = "albert", ui: bool = True, config: dict[str, str] | None = None
) -> SparkSession:
    """Get or start a SparkSession on ``master`` (``local[2]``, ``spark://host:7077``, ...).

    A local master binds the driver, the block manager and the UI to 127.0.0.1; ``ui=False``
    starts no UI at all (tests). ``config`` adds or overrides Spark settings.
    """
    local = master.startswith("local")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "true" if ui else "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if local:
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def stage_lines(
    spark: SparkSession, echo: Callable[[str], Any], label: str | None = None, interval: float = 0.5
) -> Iterator[None]:
    """While the block runs, ``echo`` a line when each of its stages starts and when it ends, with
    its tasks done out of all. The block's jobs run in a job group of their own, whose stages are
    read from Spark's status tracker: nothing is added to the jobs themselves. ``label`` names
    the block's stages (in these lines and in the Spark UI) instead of Spark's call sites."""
    context = spark.sparkContext
    tracker = context.statusTracker()
    group = f"albert-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    said: dict[int, str] = {}

    def report() -> None:
        stage_ids: set[int] = set()
        for job_id in tracker.getJobIdsForGroup(group):
            job = tracker.getJobInfo(job_id)
            stage_ids.update(job.stageIds if job is not None else ())
        for stage_id in sorted(stage_ids):
            info = tracker.getStageInfo(stage_id)
            if info is None or info.numActiveTasks + info.numCompletedTasks + info.numFailedTasks == 0:
                continue  # not started (or skipped: its output was already there)
            done = info.numCompletedTasks >= info.numTasks
            for state in ("started", "finished") if done else ("started",):
                if said.get(stage_id) in (state, "finished"):
                    continue
                said[stage_id] = state
                failed = f", {info.numFailedTasks} failed" if info.numFailedTasks else ""
                echo(f"stage {stage_id} {state}: {info.name.split(' at ')[0]}, "
                     f"{info.numCompletedTasks}/{info.numTasks} tasks{failed}")  # fmt: skip

    def watch() -> None:
        while not stop.wait(interval):
            report()

    context.setJobGroup(group, label or "albert")
    if label is not None:
        context.setLocalProperty("callSite.short", label)
    watcher = threading.Thread(target=watch, name="albert-spark-stages", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        report()
        # None removes the property (SparkContext.setLocalProperty in Scala); pyspark's hint says str only.
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        context.setLocalProperty("callSite.short", None)  # type: ignore[arg-type]
