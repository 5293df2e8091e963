"""The GPU benchmark scripts, run on a CPU in their check mode: they load the same weights into
albert and transformers, check agreement and write their results. Nothing here asserts a speed
(benchmarks are scripts, not timed tests); this keeps the harness from rotting between GPU runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ALBERT_SHARED_DATA", REPO.parent / "shared" / "data"))

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "albert-vocab" / "spiece.model").exists(),
    reason=f"the benchmarks read real sentences and ALBERT's vocabulary from {SHARED_DATA}",
)


def run_bench(script: str, results: Path, *arguments: str) -> dict:
    environment = {**os.environ, "ALBERT_BENCH_RESULTS": str(results), "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--device", "cpu", "--threads", "1", "--name", "smoke", *arguments],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert (results / "smoke.png").exists()
    return json.loads((results / "smoke.json").read_text())


def test_gpu_inference_script_checks_agreement_and_profiles(tmp_path):
    results = run_bench("gpu_inference.py", tmp_path, "--batch-sizes", "4", "--batches", "1", "--repeats", "1",
                        "--graphs", "--profile")
    (setting,) = results["settings"]
    assert all(check["agree"] for check in setting["agreement"].values())
    assert set(setting["implementations"]) >= {"transformers", "albert fast", "albert fast+graphs"}
    for stats in setting["implementations"].values():
        assert stats["real_tokens_per_s"] > 0
    profile = setting["implementations"]["albert fast"]["profile_2_batches"]
    assert profile["launches"] > 0 and profile["top"] and 0 < profile["busy_ms"]


def test_gpu_pretrain_step_script_checks_the_first_loss_and_profiles(tmp_path):
    results = run_bench("gpu_pretrain_step.py", tmp_path, "--settings", "2x32", "--steps", "1", "--rounds", "1",
                        "--profile")
    (setting,) = results["settings"]
    assert setting["agreement"]["agree"], setting["agreement"]
    assert setting["speedup_vs_transformers"] > 0
    profile = setting["implementations"]["albert fast"]["profile_2_steps"]
    assert profile["launches"] > 0 and any("backward" in row["name"].lower() for row in profile["top"])


@pytest.mark.jax
def test_jax_cpu_script_checks_agreement_of_flax_torch_and_transformers(tmp_path):
    pytest.importorskip("flax")
    results = run_bench("jax_cpu.py", tmp_path, "--shapes", "check", "--latency-sentences", "2", "--batches", "1",
                        "--repeats", "1")
    (setting,) = results["shapes"]
    assert all(check["agree"] for check in setting["agreement_vs_transformers"].values())
    assert set(setting["implementations"]) == {
        "transformers", "albert torch (sdpa)", "albert torch (packed)", "albert flax (jax.jit)",
    }
    assert setting["jax_compiled_shapes"] >= 1 and results["environment"]["xla_flags"]


@pytest.mark.serve
def test_serve_load_script_checks_every_answer_and_bounds_the_targets(tmp_path):
    """bench/serve_load.py --check: three servers, every answer checked, and the same-round
    bounds of what any server reaches (the figures mean nothing at 40 requests)."""
    pytest.importorskip("aiohttp")
    environment = {**os.environ, "ALBERT_BENCH_RESULTS": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, str(REPO / "bench" / "serve_load.py"), "--check", "--requests", "40", "--name", "smoke"],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((tmp_path / "smoke.json").read_text())
    assert results["targets"]["mismatched_or_lost"]["value"] == 0
    assert set(results["runs"]) == {"batching on", "batching off", "batching on, model in the server's process"}
    for cells in results["runs"].values():
        for cell in cells.values():
            assert cell["check_against_single_requests"]["compared"] == 40 and len(cell["rounds"]) == 1
    (ceiling,) = results["pipeline_in_process"]
    assert ceiling["bound_64_over_1"] == pytest.approx(ceiling["merged_sentences_per_s"] / ceiling["alone_sentences_per_s"])
    assert results["ratios"]["bound_64_over_1_for_this_server_here"] > 0
    over_merged = results["targets"]["requests_per_s_64_clients_over_merged_pipeline"]
    assert over_merged["target_min"] == 0.8 and over_merged["value"] > 0
    assert (tmp_path / "smoke.png").exists() and (tmp_path / "smoke-latency.png").exists()


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_spark_finetune_script_times_each_run_and_sizes_the_all_reduce(tmp_path, make_tiny_model):
    """bench/spark_finetune.py on a tiny model and 24 sentences: one-process finetune and the Spark
    Estimator on 1 and 2 processes each train every example and are timed; the all-reduce figures
    are the models' parameters x 4 bytes (the figures mean nothing at this size)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Java 17 is needed for the Spark benchmark (apt-get install openjdk-17-jre-headless)")
    environment = {**os.environ, "ALBERT_BENCH_RESULTS": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, str(REPO / "bench" / "spark_finetune.py"), "--model", str(make_tiny_model()),
         "--examples", "24", "--batch-size", "8", "--max-length", "16", "--log-every", "1", "--skip-one-thread",
         "--name", "smoke"],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((tmp_path / "smoke.json").read_text())
    labels = list(results["runs"])
    assert len(labels) == 3 and labels[0].startswith("finetune") and labels[2].startswith("Spark, 2 processes")
    for run in results["runs"].values():
        (only,) = run["rounds"]
        assert only["train_examples"] == 24 and only["steps"] == 3 and len(only["windows"]) == 3
        assert run["median"]["examples_per_s_steady"] > 0 and run["median"]["wall_s"] >= run["median"]["loop_s"]
    assert results["runs"][labels[2]]["rounds"][0]["processes"] == 2
    models = results["all_reduce"]["models"]
    for figures in models.values():
        assert figures["all_reduce_bytes_per_step"] == 4 * figures["parameters"]
    assert 11e6 < models["albert-base-v2 shape"]["parameters"] < 13e6
    assert 105e6 < models["BERT-base shape"]["parameters"] < 115e6
    assert (tmp_path / "smoke.png").exists() and (tmp_path / "smoke-time.png").exists()


def test_sentence_embeddings_script_scores_tfidf_and_the_model_before_and_after(tmp_path, make_tiny_model):
    """bench/sentence_embeddings.py on a tiny model, 16 MRPC training pairs (and 8 WordNet ones)
    and 16 held out: the three retrieval rows, the per-dimension Matryoshka figures, the audit of
    misses, the search among distractors and the held-out WordNet retrieval are written (they mean
    nothing at this size); the audit embeds ``final/`` as the run scored it (same window, pooling)."""
    if not (SHARED_DATA / "mrpc" / "msr_paraphrase_train.txt").exists():
        pytest.skip(f"the benchmark reads MRPC from {SHARED_DATA / 'mrpc'}")
    model = make_tiny_model()
    results = run_bench("sentence_embeddings.py", tmp_path, "--model", str(model), "--examples", "16",
                        "--held-out", "16", "--batch-size", "8", "--max-length", "24", "--matryoshka", "32,16",
                        "--wordnet", "8", "--wordnet-held-out", "8", "--hard-negatives", "--distractors", "--quiet")
    rows = {"TF-IDF", "untrained (mean pooling)", "trained"}
    assert set(results["retrieval"]) == rows
    for scores in results["retrieval"].values():
        assert set(scores) == {"recall@1", "recall@10", "mrr@10"} and all(0 <= v <= 1 for v in scores.values())
    data = results["data"]
    assert data["held_out_pairs"] == 16 and data["training_pairs"] == 24 and data["generated_wordnet_pairs"] == 8
    assert set(results["matryoshka"]) == {"32", "16"} and results["training"]["steps"] == 3
    misses = results["misses_at_rank_1"]
    assert misses["trained scores"] == pytest.approx(results["retrieval"]["trained"], abs=1e-6)
    for method in ("TF-IDF", "trained"):
        assert misses[method] == round(16 * (1 - results["retrieval"][method]["recall@1"]))
    assert misses["both"] + misses["TF-IDF only"] == misses["TF-IDF"] == len(misses["TF-IDF misses"])
    search, wordnet = results["search_with_distractors"], results["wordnet_retrieval"]
    assert search["documents"] > 1000 and set(search) - {"documents"} == rows
    untrained = results["retrieval"]["untrained (mean pooling)"]["recall@1"]
    assert search["untrained (mean pooling)"]["recall@1"] <= untrained  # the same vectors among more documents
    assert wordnet["documents"] == 8 and set(wordnet) - {"documents"} == rows
    # the bench's own embedding path scores the untrained model as the run's step 0 did (its window, its pooling)
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import sentence_embeddings as bench
    finally:
        sys.path.remove(str(REPO / "bench"))
    held_out = bench.mrpc_pairs(SHARED_DATA / "mrpc" / "msr_paraphrase_train.txt", seed=0)[:16]
    again = bench.retrieval_table(held_out, {"untrained": model}, max_length=24)["untrained"]
    assert again == pytest.approx(results["retrieval"]["untrained (mean pooling)"], abs=1e-6)


@pytest.mark.parametrize("arguments, message", [
    (["--second-round", "-1"], "--second-round must be 0 or more, got -1"),
    (["--wordnet-held-out", "-5"], "--wordnet-held-out must be 0 or more, got -5"),
    (["--held-out", "0"], "--held-out must be 1 or more"),
])
def test_sentence_embeddings_script_refuses_bad_counts_before_training(arguments, message):
    """A negative count or an empty retrieval split ends in one usage error, before any training."""
    finished = subprocess.run([sys.executable, str(REPO / "bench" / "sentence_embeddings.py"), *arguments],
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2 and message in finished.stderr and "Traceback" not in finished.stderr
