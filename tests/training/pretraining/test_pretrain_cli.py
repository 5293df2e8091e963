"""The pretraining commands, run as the real `albert` program: tokenizer training, a run killed with
SIGKILL and resumed (same curve as an uninterrupted run), evaluation, and errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.pretrain import (  # noqa: F401
    TINY_CORPUS,
    run_albert,
    tiny_data_dir,
    tiny_set_options,
    tiny_tokenizer,
    tiny_tokenizer_dir,
)

from albert.training.run_log import read_metrics


def test_train_tokenizer_writes_a_folder_with_albert_special_ids(tmp_path: Path) -> None:
    from albert.tokenizer import AlbertTokenizer

    result = run_albert("train-tokenizer", TINY_CORPUS, "--vocab-size", "150", "--out", tmp_path / "tok")
    assert "150-piece tokenizer" in result.stdout
    tokenizer = AlbertTokenizer.from_pretrained(tmp_path / "tok")
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id) == (0, 1, 2)
    assert (tokenizer.sep_token_id, tokenizer.mask_token_id, tokenizer.vocab_size) == (3, 4, 150)
    ids = tokenizer("The Children carried the mountain.")["input_ids"]
    assert ids[0] == 2 and ids[-1] == 3 and 1 not in ids  # lowercased text the vocabulary covers
    assert ids == tokenizer("the children carried the mountain.")["input_ids"]


def test_too_large_a_vocabulary_is_explained(tmp_path: Path) -> None:
    result = run_albert("train-tokenizer", TINY_CORPUS, "--vocab-size", "5000", "--out", tmp_path, check=False)
    assert result.returncode == 1
    assert "smaller --vocab-size" in result.stderr and "Traceback" not in result.stderr


def _pretrain_args(tokenizer_dir: Path, data_dir: Path, out: Path, steps: int) -> list[str]:
    return [
        "pretrain", "--config", "albert-base-v2", *tiny_set_options(hidden_dropout_prob=0.1),
        "--tokenizer", str(tokenizer_dir), "--data", str(data_dir), "--out", str(out), "--steps", str(steps),
        "--batch-size", "8", "--seq-len", "64", "--lr", "0.02", "--checkpoint-every", "10", "--log-every", "1",
        "--eval-batches", "1", "--threads", "1", "--seed", "3",
    ]


def _curve(run: Path) -> list[tuple]:
    keys = ("step", "loss", "mlm_loss", "sop_loss", "mlm_accuracy", "sop_accuracy", "learning_rate", "grad_norm")
    return [tuple(r[k] for k in keys) for r in read_metrics(run / "metrics.jsonl") if r.get("split", "train") == "train"]


def test_a_run_killed_mid_training_resumes_to_the_same_loss_curve(
    tmp_path: Path, tiny_tokenizer_dir: Path, tiny_data_dir: Path  # noqa: F811
) -> None:
    steps = 30
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    run_albert(*_pretrain_args(tiny_tokenizer_dir, tiny_data_dir, straight, steps))

    command = [sys.executable, "-m", "albert.cli", *_pretrain_args(tiny_tokenizer_dir, tiny_data_dir, interrupted, steps)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    first_checkpoint = interrupted / "checkpoints" / "step-00000010.pt"
    deadline = time.monotonic() + 120
    while not first_checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    assert not (interrupted / "final").exists(), "the run finished before it could be killed"

    resumed = run_albert(*_pretrain_args(tiny_tokenizer_dir, tiny_data_dir, interrupted, steps), "--resume")
    assert "final model" in resumed.stdout
    assert _curve(interrupted) == _curve(straight)
    assert len(_curve(straight)) == steps
    weights = [(run / "final" / "model.safetensors").read_bytes() for run in (straight, interrupted)]
    assert weights[0] == weights[1]


def test_evaluate_mlm_reports_accuracies_and_is_reproducible(tmp_path: Path, make_tiny_model) -> None:
    from albert import AlbertForPreTraining
    from albert.training.pretraining.held_out import evaluate_mlm

    model = make_tiny_model(AlbertForPreTraining, seed=1)
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n".join(TINY_CORPUS.read_text().splitlines()[:40]) + "\n")
    result = run_albert("evaluate-mlm", model, heldout, "--seq-len", "64", "--json", "--device", "cpu")
    report = json.loads(result.stdout)
    assert report["masked_tokens"] > 20 and report["pairs"] == report["examples"] > 0
    for key in ("mlm_accuracy", "mlm_top5_accuracy", "sop_accuracy"):
        assert 0.0 <= report[key] <= 1.0
    assert report["mlm_top5_accuracy"] >= report["mlm_accuracy"]
    # a fixed seed: the same pairs and masks, so the same numbers
    again = evaluate_mlm(model, [heldout], max_seq_length=64, device="cpu", progress=False)
    assert again == pytest.approx(report)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", b"", "is empty"),
        ("broken.txt.xz", b"\xfd7zXZ\x00 not really xz", "corrupt or truncated archive"),
    ],
)
def test_bad_corpus_files_stop_pretraining_with_a_clear_error(
    tmp_path: Path, tiny_tokenizer_dir: Path, name: str, content: bytes, message: str  # noqa: F811
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    result = run_albert(*_pretrain_args(tiny_tokenizer_dir, bad, tmp_path / "run", 2), check=False)
    assert result.returncode == 1
    assert message in result.stderr and name in result.stderr
    assert "Traceback" not in result.stderr


def test_prepare_data_writes_train_and_heldout_shards(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:  # noqa: F811
    from albert.training.pretraining.shards import ShardedCorpus

    prepared = run_albert("prepare-data", TINY_CORPUS, "--tokenizer", tiny_tokenizer_dir, "--out", tmp_path / "data",
                          "--heldout-fraction", "0.1", "--max-document-lines", "8")
    assert "train:" in prepared.stdout and "heldout:" in prepared.stdout
    train, heldout = ShardedCorpus(tmp_path / "data", "train"), ShardedCorpus(tmp_path / "data", "heldout")
    assert train.num_documents + heldout.num_documents == 75  # 600 lines in documents of 8


def test_evaluate_mlm_reads_the_heldout_split_of_prepared_data(make_tiny_model, tiny_data_dir) -> None:  # noqa: F811
    """The held-out documents of a prepare-data folder (never trained on) are what is scored."""
    from albert import AlbertForPreTraining
    from albert.training.pretraining.held_out import evaluate_mlm

    model = make_tiny_model(AlbertForPreTraining, seed=1)  # shares the tiny vocabulary
    heldout = evaluate_mlm(model, [tiny_data_dir], max_seq_length=64, device="cpu", progress=False)
    train = evaluate_mlm(model, [tiny_data_dir], max_seq_length=64, device="cpu", progress=False,
                         split="train", max_examples=None)
    assert 0 < heldout["pairs"] < train["pairs"]
    assert heldout["masked_tokens"] > 0
