"""What every pipeline shares: the task registry, the default model, windows, batching, devices."""

from __future__ import annotations

import pytest
import torch

from albert import AlbertForMaskedLM, AlbertForSequenceClassification, ModelNotFoundError, hub
from albert.pipelines import TASK_ALIASES, TASKS, pipeline, pipeline_class
from albert.pipelines import base as pipeline_base
from albert.pipelines.base import length_sorted_batches, most_central_window, window_ranges


@pytest.mark.parametrize(
    ("alias", "task"),
    [
        ("feature-extraction", "embeddings"),
        ("sentiment-analysis", "text-classification"),
        ("ner", "token-classification"),
        ("question-answering", "question-answering"),
        ("fill-mask", "fill-mask"),
        ("multiple-choice", "multiple-choice"),
    ],
)
def test_aliases_name_the_same_pipelines_as_transformers(alias, task):
    assert pipeline_class(alias) is pipeline_class(task)
    assert pipeline_class(task).task == task


def test_every_alias_points_at_a_task():
    assert set(TASK_ALIASES.values()) <= set(TASKS)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="fill-mask"):
        pipeline("summarization")


def test_without_a_shipped_model_the_default_says_to_pass_one(monkeypatch):
    monkeypatch.setattr(hub, "shipped_models", lambda: {})
    with pytest.raises(ModelNotFoundError, match="model="):
        pipeline("fill-mask")


def test_the_default_model_is_the_first_shipped_one(monkeypatch, make_tiny_model):
    folder = make_tiny_model(AlbertForMaskedLM, seed=1)
    monkeypatch.setattr(hub, "shipped_models", lambda: {"tiny": folder, "zzz": folder.parent})
    assert pipeline_base.default_model() == folder
    assert pipeline("fill-mask")("a [MASK] dog.")


def test_a_missing_model_folder_is_named():
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        pipeline("fill-mask", model="./no-such-model")


def test_a_loaded_model_of_the_wrong_kind_is_refused(make_tiny_model):
    model = AlbertForSequenceClassification.from_pretrained(make_tiny_model(AlbertForSequenceClassification))
    with pytest.raises(TypeError, match="AlbertForMaskedLM"):
        pipeline("fill-mask", model=model)


def test_dtype_and_device_are_applied(make_tiny_model):
    folder = make_tiny_model(AlbertForMaskedLM, seed=2)
    unmasker = pipeline("fill-mask", model=folder, device="cpu", dtype="bf16")
    assert unmasker.model.dtype == torch.bfloat16 and unmasker.device == torch.device("cpu")
    full = pipeline("fill-mask", model=folder)("a [MASK] dog.", top_k=1)[0]
    half = unmasker("a [MASK] dog.", top_k=1)[0]
    assert half["score"] == pytest.approx(full["score"], abs=5e-3)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline("fill-mask", model=folder, batch_size=0)


def test_windows_cover_every_token_and_overlap_by_the_stride():
    assert window_ranges(5, 10, 3) == [(0, 5)]
    ranges = window_ranges(25, 10, 4)
    assert ranges == [(0, 10), (6, 16), (12, 22), (18, 25)]
    covered = sorted({position for start, end in ranges for position in range(start, end)})
    assert covered == list(range(25))
    with pytest.raises(ValueError, match="stride"):
        window_ranges(25, 10, 10)


def test_each_token_comes_from_the_window_where_it_is_most_central():
    ranges = [(0, 10), (6, 16)]
    choice = most_central_window(ranges, 16)
    assert choice[2] == (0, 2) and choice[13] == (1, 7)
    assert choice[7] == (0, 7) or choice[7] == (1, 1)
    assert choice[8] == (1, 2)  # margin 1 in the first window, 2 in the second
    assert all(ranges[window][0] + position == token for token, (window, position) in enumerate(choice))


def test_length_buckets_hold_similar_lengths_and_every_index_once():
    lengths = [3, 50, 7, 49, 4, 51]
    batches = length_sorted_batches(lengths, 2)
    assert sorted(index for batch in batches for index in batch) == list(range(6))
    assert [sorted(lengths[i] for i in batch) for batch in batches] == [[50, 51], [7, 49], [3, 4]]


def test_progress_bar_stays_quiet_when_not_a_terminal(make_tiny_model, capsys):
    folder = make_tiny_model(AlbertForMaskedLM, seed=2)
    unmasker = pipeline("fill-mask", model=folder, batch_size=1)
    unmasker(["a [MASK] dog."] * (pipeline_base.PROGRESS_MIN_BATCHES + 2), top_k=1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert pipeline_base._show_progress(None, 1) is False
    assert pipeline_base._show_progress(True, 1) is True


@pytest.mark.gpu
def test_pipelines_run_on_a_gpu_and_agree_with_the_cpu(make_tiny_model):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    folder = make_tiny_model(AlbertForMaskedLM, seed=2)
    texts = ["a [MASK] dog.", "the committee painted the [MASK] at night."]
    on_cpu = pipeline("fill-mask", model=folder, device="cpu")(texts, top_k=3)
    on_gpu = pipeline("fill-mask", model=folder, device="cuda")(texts, top_k=3)
    for cpu_result, gpu_result in zip(on_cpu, on_gpu):
        assert [r["score"] for r in gpu_result] == pytest.approx([r["score"] for r in cpu_result], abs=1e-4)
    vectors = pipeline("embeddings", model=folder, device="cuda")(texts, level="document", output="numpy")
    assert vectors.shape == (2, 32)
