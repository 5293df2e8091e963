"""Distributed fine-tuning: two CPU processes under torchrun (gloo) train what one process trains.

Each process takes an equal part of every step's batch (the same global batches one process
trains, in the same order), and weighs its loss by its share, so the averaged gradient is one
process's on the whole batch: the weights differ only by float summation order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from support.finetune import assert_runs_agree, classification_records, one_thread, write_jsonl  # noqa: F401

from albert.training.finetuning.trainer import FinetuneSettings, finetune

SETTINGS = dict(task="text-classification", epochs=2, learning_rate=3e-3, batch_size=16, max_length=32, seed=3,
                threads=1, progress=False, eval_every=2, checkpoint_every=2)


def run_torchrun(arguments: list[str], processes: int = 2, timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "albert.cli", *arguments]
    # A session of its own, so that on a timeout the workers are stopped with torchrun.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_two_processes_train_the_weights_one_process_trains(tmp_path: Path, make_tiny_model) -> None:
    model = make_tiny_model(classifier_dropout_prob=0.0)  # dropout draws differ per process; the rest is exact
    # 61 examples in batches of 16: the last batch of each epoch (13) splits 7/6 between the processes.
    train = write_jsonl(tmp_path / "train.jsonl", classification_records(61, seed=1))
    dev = write_jsonl(tmp_path / "dev.jsonl", classification_records(16, seed=2))
    one = finetune(model, train, dev, tmp_path / "one", FinetuneSettings(**SETTINGS))

    result = run_torchrun([
        "finetune", "--task", "text-classification", "--model", str(model), "--train", str(train), "--dev", str(dev),
        "--out", str(tmp_path / "two"), "--epochs", "2", "--lr", "3e-3", "--batch-size", "16", "--max-length", "32",
        "--seed", "3", "--threads", "1", "--no-progress", "--eval-every", "2", "--checkpoint-every", "2",
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    two = tmp_path / "two"
    # the same weights, and one set of run files, written once: every record as one process logs it
    assert_runs_agree(one.run_dir, two, ("loss", "accuracy", "grad_norm"))
    summary = json.loads((two / "metrics.json").read_text())
    assert summary["best_step"] == one.best_step
    assert sorted(path.name for path in (two / "checkpoints").iterdir()) == \
        sorted(path.name for path in (one.run_dir / "checkpoints").iterdir())


def test_a_failing_process_fails_the_run_with_its_error(tmp_path: Path, make_tiny_model) -> None:
    model = make_tiny_model()
    train = write_jsonl(tmp_path / "train.jsonl", [{"sentence": "city", "label": "pos"}, {"text": 3}])
    result = run_torchrun(["finetune", "--task", "text-classification", "--model", str(model), "--train", str(train),
                           "--out", str(tmp_path / "run"), "--threads", "1", "--no-progress"])
    assert result.returncode != 0
    assert "train.jsonl" in result.stderr
