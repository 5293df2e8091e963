"""The default back-end choice on the CPU: a few rows in ONNX Runtime, larger batches in torch,
within the ONNX tests' tolerance; re-exported when the weights change; off where it cannot pay."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from support.tiny import random_batch  # noqa: E402

from albert import AlbertForMaskedLM, AlbertModel  # noqa: E402
from albert.fast.onnx_encoder import SmallBatchOnnx, use_onnx_for_small_batches  # noqa: E402
from albert.pipelines import base as pipelines_base  # noqa: E402
from albert.pipelines import pipeline  # noqa: E402


def test_small_batches_run_the_graph_and_large_ones_torch_with_the_same_outputs(make_tiny_model, tmp_path):
    folder = make_tiny_model(AlbertModel, seed=4)
    reference = AlbertModel.from_pretrained(folder)
    model = use_onnx_for_small_batches(AlbertModel.from_pretrained(folder, fast=True), max_rows=2, cache_dir=tmp_path)
    with torch.inference_mode():
        for lengths, answers in (([6], "onnx-small-batches"), ([6, 3], "onnx-small-batches"), ([6, 3, 5], "packed")):
            ids, mask = random_batch(lengths, reference.config.vocab_size, seed=7)
            chosen = model.explain_backend(input_ids=ids, attention_mask=mask)
            assert next(name for name, reason in chosen if reason is None) == answers, chosen
            want = reference(input_ids=ids, attention_mask=mask).last_hidden_state
            got = model(input_ids=ids, attention_mask=mask).last_hidden_state
            real = mask.bool()
            assert (want[real] - got[real]).abs().max() < 1e-4  # the ONNX tests' tolerance
    assert "3 rows" in dict(chosen)["onnx-small-batches"]
    assert list(tmp_path.glob("*.onnx"))  # exported at the first small call


@pytest.mark.slow  # two exports
def test_a_weight_changed_after_the_export_is_exported_again(make_tiny_model, tmp_path):
    model = use_onnx_for_small_batches(AlbertModel.from_pretrained(make_tiny_model(AlbertModel, seed=6)), cache_dir=tmp_path)
    ids, mask = random_batch([5], model.config.vocab_size, seed=7)
    with torch.inference_mode():
        before = model(input_ids=ids, attention_mask=mask).last_hidden_state
        with torch.no_grad():
            model.encoder.embedding_hidden_mapping_in.weight.mul_(1.5)
        after = model(input_ids=ids, attention_mask=mask).last_hidden_state
        model.remove_backend(SmallBatchOnnx.name)
        torch_after = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert not torch.allclose(before, after)
    assert (after - torch_after).abs().max() < 1e-4
    assert len(list(tmp_path.glob("*.onnx"))) == 2


def test_pipelines_choose_it_by_default_only_where_it_is_exact_and_pays(make_tiny_model, monkeypatch):
    folder = str(make_tiny_model(AlbertForMaskedLM, seed=8))

    def backends(**options) -> list[str]:
        return [backend.name for backend in pipeline("fill-mask", model=folder, **options).model.albert.backends]

    assert SmallBatchOnnx.name not in backends()  # a tiny model: the export would not pay back
    monkeypatch.setattr(pipelines_base, "ONNX_MIN_HIDDEN_SIZE", 0)
    assert backends()[0] == SmallBatchOnnx.name
    assert SmallBatchOnnx.name not in backends(onnx=False)
    assert SmallBatchOnnx.name not in backends(precision="int8")
    assert SmallBatchOnnx.name not in backends(dtype="bfloat16")
    fill = pipeline("fill-mask", model=folder)
    torch_only = pipeline("fill-mask", model=folder, onnx=False)
    assert [r["token"] for r in fill("a [MASK] b")] == [r["token"] for r in torch_only("a [MASK] b")]
