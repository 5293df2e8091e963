"""Spark's Python workers: torch threads from the task's cores (spark.task.cpus), and the
``precision`` Param checked on the driver and carried to the workers."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")

from albert import threads as threads_module  # noqa: E402
from albert.errors import OptionError  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def test_a_task_runs_torch_on_the_cores_spark_gave_it(monkeypatch):
    from pyspark import TaskContext

    from albert.spark import worker

    class Context:
        def cpus(self) -> int:
            return 1

    before = torch.get_num_threads()
    monkeypatch.setattr(TaskContext, "get", classmethod(lambda cls: Context()))
    monkeypatch.setattr(threads_module, "physical_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        torch.set_num_threads(2)
        assert worker._task_cores() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_precision_is_a_param_checked_on_the_driver(make_tiny_model):
    from albert import AlbertModel
    from albert.spark import AlbertEmbeddings

    folder = str(make_tiny_model(AlbertModel))
    assert AlbertEmbeddings(model=folder).worker_spec().precision == "exact"
    spec = AlbertEmbeddings(model=folder, precision="int8").worker_spec()
    assert (spec.precision, spec.dtype) == ("int8", "auto")  # the precision picks the dtype
    with pytest.raises(OptionError, match="unknown precision"):
        AlbertEmbeddings(model=folder).setPrecision("int4").worker_spec()
    with pytest.raises(OptionError, match="contradicts"):
        AlbertEmbeddings(model=folder, precision="fast", dtype="float16").worker_spec()
