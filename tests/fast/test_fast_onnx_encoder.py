"""``use_onnx``: a model's encoder in ONNX Runtime behind the usual API. Every head and pipeline
gives what torch gives; calls the graph cannot answer run in torch; graphs are cached by weights."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from support.tiny import random_batch  # noqa: E402

from albert import AlbertForMaskedLM, AlbertForSequenceClassification  # noqa: E402
from albert.fast.onnx_encoder import use_onnx, uses_onnx  # noqa: E402
from albert.pipelines import pipeline  # noqa: E402


@pytest.fixture(scope="module")
def mlm_folder(make_tiny_model):
    return make_tiny_model(AlbertForMaskedLM, seed=11)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_mlm(mlm_folder, cache):
    return use_onnx(AlbertForMaskedLM.from_pretrained(mlm_folder), cache_dir=cache)


def test_heads_read_the_graphs_states_and_match_torch(mlm_folder, onnx_mlm, cache):
    reference = AlbertForMaskedLM.from_pretrained(mlm_folder).eval()
    assert uses_onnx(onnx_mlm) and not uses_onnx(reference)
    ids, mask = random_batch([9, 3, 14], reference.config.vocab_size, seed=3)
    with torch.inference_mode():
        want, got = reference(ids, mask).logits, onnx_mlm(ids, mask).logits
    real = mask.bool()
    torch.testing.assert_close(got[real], want[real], atol=1e-4, rtol=0)
    assert len(list(cache.glob("albert-*.onnx"))) == 1


def test_the_cached_graph_is_reused_and_new_weights_get_a_new_one(mlm_folder, onnx_mlm, cache):
    before = {path: path.stat().st_mtime_ns for path in cache.glob("albert-*.onnx")}
    again = use_onnx(AlbertForMaskedLM.from_pretrained(mlm_folder), cache_dir=cache)
    assert {path: path.stat().st_mtime_ns for path in cache.glob("albert-*.onnx")} == before
    with torch.no_grad():
        again.albert.embeddings.word_embeddings.weight[7] += 1.0
    use_onnx(again, cache_dir=cache)
    assert len(list(cache.glob("albert-*.onnx"))) == 2


def test_calls_the_graph_cannot_answer_run_in_torch(mlm_folder, onnx_mlm):
    reference = AlbertForMaskedLM.from_pretrained(mlm_folder).eval()
    ids, mask = random_batch([6, 2], reference.config.vocab_size, seed=3)
    with torch.inference_mode():
        hidden = onnx_mlm(ids, mask, output_hidden_states=True).hidden_states
        want = reference(ids, mask, output_hidden_states=True).hidden_states
        assert len(hidden) == len(want)
        torch.testing.assert_close(hidden[-1], want[-1])
        left = mask.flip(1)  # padding on the left
        torch.testing.assert_close(onnx_mlm(ids.flip(1), left).logits, reference(ids.flip(1), left).logits)
    trained = use_onnx(AlbertForMaskedLM.from_pretrained(mlm_folder).train(), onnx_mlm.albert.onnx_encoder.path)
    loss = trained(ids, mask, labels=ids.masked_fill(mask == 0, -100)).loss
    loss.backward()  # gradients: torch computes them
    assert trained.albert.embeddings.word_embeddings.weight.grad is not None


def test_pipelines_on_onnx_give_the_torch_pipelines_answers(mlm_folder, make_tiny_model, cache, monkeypatch):
    monkeypatch.setenv("ALBERT_CACHE", str(cache))
    texts = ["the river [MASK] a letter near the city.", "a [MASK] of strings"]
    torch_answers = pipeline("fill-mask", model=mlm_folder, device="cpu")(texts)
    onnx_answers = pipeline("fill-mask", model=mlm_folder, device="cpu", onnx=True)(texts)
    for ours, theirs in zip(onnx_answers, torch_answers):
        assert [p["token"] for p in ours] == [p["token"] for p in theirs]
        assert [p["score"] for p in ours] == pytest.approx([p["score"] for p in theirs], abs=1e-4)

    classifier_folder = make_tiny_model(AlbertForSequenceClassification, seed=4, num_labels=3)
    sentences = ["what a lovely day", "the letter moved"]
    want = pipeline("text-classification", model=classifier_folder, device="cpu")(sentences)
    got = pipeline("text-classification", model=classifier_folder, device="cpu", onnx=True)(sentences)
    for ours, theirs in zip(got, want):  # every label, best first
        assert [r["label"] for r in ours] == [r["label"] for r in theirs]
        assert [r["score"] for r in ours] == pytest.approx([r["score"] for r in theirs], abs=1e-4)


def test_onnx_models_copy_and_pickle(onnx_mlm):
    import copy
    import pickle

    ids, mask = random_batch([5, 2], onnx_mlm.config.vocab_size, seed=3)
    for clone in (copy.deepcopy(onnx_mlm), pickle.loads(pickle.dumps(onnx_mlm))):
        assert uses_onnx(clone)
        with torch.inference_mode():
            torch.testing.assert_close(clone(ids, mask).logits, onnx_mlm(ids, mask).logits)


def test_int8_graph_runs_close_to_float32(mlm_folder, onnx_mlm, cache):
    quantized = use_onnx(AlbertForMaskedLM.from_pretrained(mlm_folder), cache_dir=cache, int8=True)
    assert quantized.albert.onnx_encoder.path.endswith(".int8.onnx")
    ids, mask = random_batch([9, 3, 14], quantized.config.vocab_size, seed=3)
    with torch.inference_mode():
        exact, approximate = onnx_mlm.albert(ids, mask), quantized.albert(ids, mask)
    real = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(
        exact.last_hidden_state[real], approximate.last_hidden_state[real], dim=-1
    )
    assert float(cosine.mean()) > 0.98


def test_onnx_needs_a_cpu_model(mlm_folder):
    model = AlbertForMaskedLM.from_pretrained(mlm_folder).to("meta")
    with pytest.raises(ValueError, match="runs on the CPU"):
        use_onnx(model)
