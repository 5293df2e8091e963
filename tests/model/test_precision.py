"""``precision=``: reduced precision only when asked, with its choice said; int8 keeps the packed path."""

from __future__ import annotations

import logging

import pytest
import torch

from albert import AlbertForMaskedLM, AlbertForSequenceClassification, AlbertModel
from albert import precision as precision_module
from albert.errors import OptionError
from albert.precision import check_precision, is_quantized


def _batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    lengths = torch.tensor([9, 4, 7])
    mask = (torch.arange(9)[None, :] < lengths[:, None]).long()
    return torch.randint(5, vocab, (3, 9), generator=generator) * mask, mask


def _cosines(want: torch.Tensor, got: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    real = mask.bool()
    return torch.nn.functional.cosine_similarity(want[real].float(), got[real].float(), dim=-1)


def test_unknown_precision_is_refused_with_the_choices():
    assert check_precision(None) == "exact"
    assert check_precision(" INT8 ") == "int8"
    with pytest.raises(OptionError, match="exact, fast, int8"):
        check_precision("half")


def test_int8_quantises_the_encoder_keeps_heads_and_stays_close(make_tiny_model):
    folder = make_tiny_model(AlbertForSequenceClassification, seed=3)
    exact = AlbertForSequenceClassification.from_pretrained(folder, fast=True)
    int8 = AlbertForSequenceClassification.from_pretrained(folder, fast=True, precision="int8")
    assert is_quantized(int8) and not is_quantized(exact)
    assert isinstance(int8.classifier, torch.nn.Linear)  # heads stay float32
    assert int8.albert.encoder.shared_layers()[0].attention.qkv_projection is not None
    ids, mask = _batch(exact.config.vocab_size)
    with torch.inference_mode():
        want = exact.albert(input_ids=ids, attention_mask=mask).last_hidden_state
        packed = int8.albert(input_ids=ids, attention_mask=mask).last_hidden_state
        assert int8.albert.explain_backend(input_ids=ids, attention_mask=mask)[0] == ("packed", None)
        int8.set_attn_implementation("sdpa")
        padded = int8.albert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert not torch.equal(want, packed)  # really quantised
    assert _cosines(want, packed, mask).min() > 0.98
    # Both run the same int8 layers; activations are quantised per batch, and the padded one holds padding.
    assert _cosines(packed, padded, mask).min() > 0.999


def test_an_int8_model_is_not_saved(make_tiny_model, tmp_path):
    model = AlbertModel.from_pretrained(make_tiny_model(AlbertModel), precision="int8")
    with pytest.raises(OptionError, match="int8"):
        model.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fast_is_bf16_where_the_cpu_has_bf16_dot_products_and_says_so(make_tiny_model, monkeypatch, caplog):
    folder = make_tiny_model(AlbertForMaskedLM)
    monkeypatch.setattr(precision_module, "cpu_has_bf16_dot", lambda: True)
    with caplog.at_level(logging.INFO, logger="albert"):
        model = AlbertForMaskedLM.from_pretrained(folder, precision="fast")
    assert model.dtype == torch.bfloat16
    assert any("bfloat16" in record.getMessage() for record in caplog.records)


def test_fast_without_bf16_hardware_warns_and_stays_float32(make_tiny_model, monkeypatch):
    folder = make_tiny_model(AlbertForMaskedLM)
    monkeypatch.setattr(precision_module, "cpu_has_bf16_dot", lambda: False)
    with pytest.warns(UserWarning, match="no bf16 dot products"):
        model = AlbertForMaskedLM.from_pretrained(folder, precision="fast")
    assert model.dtype == torch.float32


def test_a_dtype_that_contradicts_the_precision_is_refused(make_tiny_model):
    folder = make_tiny_model(AlbertForMaskedLM)
    with pytest.raises(OptionError, match="contradicts"):
        AlbertForMaskedLM.from_pretrained(folder, precision="fast", dtype="float16")
    with pytest.raises(OptionError, match="contradicts"):
        AlbertForMaskedLM.from_pretrained(folder, precision="int8", dtype="bfloat16")


def test_pipelines_take_a_precision(make_tiny_model):
    from albert import pipeline

    folder = make_tiny_model(AlbertForMaskedLM)
    exact = pipeline("fill-mask", model=str(folder), progress=False)
    int8 = pipeline("fill-mask", model=str(folder), precision="int8", progress=False)
    assert is_quantized(int8.model)
    assert len(int8("a [MASK] b")) == len(exact("a [MASK] b"))
    with pytest.raises(OptionError, match="precision"):
        pipeline("fill-mask", model=str(folder), precision="int8", onnx=True)
