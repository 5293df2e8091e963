"""The Spark stages and Estimators (``albert.spark``, marker ``spark``: Java 17 and the ``spark`` extra).

Each module gets a local Spark of its own (``spark``, bound to 127.0.0.1, no UI), stopped at its
end; the Spark Connect and standalone-cluster modules override ``spark`` with a session on the
servers they start (``tests/support/spark_servers.py``). The tests share one xdist group.

Run alone: ``pytest tests/spark``; the cluster test with ``pytest -m slow tests/spark``."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.spark_servers import require_java


@pytest.fixture(scope="module")
def spark():
    """A local Spark for the module: 2 threads, 2 attempts a task (a failed task is retried)."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")
    require_java()
    from albert.spark import spark_session

    session = spark_session(
        "local[2,2]", app_name="albert-tests", ui=False,
        config={"spark.sql.shuffle.partitions": "2", "spark.python.worker.reuse": "true"},
    )  # fmt: skip
    yield session
    session.stop()


@pytest.fixture(scope="module")
def tiny_encoder(make_tiny_model) -> Path:
    """A tiny random ``AlbertForMaskedLM`` folder (an encoder for the embeddings)."""
    return make_tiny_model(seed=3)
