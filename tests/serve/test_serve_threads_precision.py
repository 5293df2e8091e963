"""``albert serve --threads/--precision``: checked at start-up, applied in the model's process, and said."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("fastapi")

from albert import AlbertForMaskedLM  # noqa: E402
from albert.errors import OptionError  # noqa: E402
from albert.precision import is_quantized  # noqa: E402
from albert.serve.settings import ServeSettings  # noqa: E402


@pytest.mark.parametrize(("field", "value", "message"), [
    ("precision", "int4", "unknown precision"), ("threads", 0, "--threads"),
])  # fmt: skip
def test_bad_threads_or_precision_are_refused(field, value, message):
    with pytest.raises(OptionError, match=message):
        ServeSettings(**{field: value}).check(64)


def test_the_model_process_uses_the_threads_and_precision_it_was_given(make_tiny_model):
    from albert.serve.backend import Pipelines

    before = torch.get_num_threads()
    try:
        pipelines = Pipelines(str(make_tiny_model(AlbertForMaskedLM)), device="cpu", threads=1, precision="int8")
        facts = pipelines.facts()
    finally:
        torch.set_num_threads(before)
    assert (facts.threads, facts.precision) == (1, "int8")
    assert is_quantized(pipelines.pipelines["fill-mask"].model)


def test_the_service_leaves_one_core_to_the_http_side_by_default(monkeypatch):
    from albert.serve import served_model

    monkeypatch.setattr(served_model, "physical_cores", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert served_model.service_threads(None) == 3
    assert served_model.service_threads(2) == 2
    monkeypatch.setattr(served_model, "physical_cores", lambda: 1)
    assert served_model.service_threads(None) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert served_model.service_threads(None) is None  # the environment decides (use_threads reads it)
