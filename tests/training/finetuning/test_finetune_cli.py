"""``albert finetune`` and ``albert evaluate`` from the shell: a run killed after a checkpoint and
resumed ends exactly as an uninterrupted one; user errors are one line, not a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from support.finetune import classification_records, one_thread, write_jsonl  # noqa: F401  (autouse fixture)
from typer.testing import CliRunner

from albert.cli import app


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("data")
    return (write_jsonl(folder / "train.jsonl", classification_records(160, seed=1)),
            write_jsonl(folder / "dev.jsonl", classification_records(24, seed=2)))


def finetune_arguments(model: Path, train: Path, dev: Path, out: Path) -> list[str]:
    return ["finetune", "--task", "text-classification", "--model", str(model), "--train", str(train), "--dev", str(dev),
            "--out", str(out), "--epochs", "3", "--batch-size", "8", "--max-length", "32", "--lr", "2e-3",
            "--eval-every", "20", "--checkpoint-every", "5", "--keep-checkpoints", "1", "--log-every", "5",
            "--threads", "1"]


def albert_command(*arguments: str) -> list[str]:
    return [sys.executable, "-c", "from albert.cli import main; main()", *arguments]


def test_a_killed_run_resumed_equals_an_uninterrupted_one(tmp_path, data, make_tiny_model):
    from safetensors.torch import load_file

    model = make_tiny_model()
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    process = subprocess.Popen(albert_command(*finetune_arguments(model, *data, killed)), env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_checkpoint = killed / "checkpoints" / "step-00000025.pt"  # after the first evaluation (step 20)
    deadline = time.monotonic() + 120
    while not first_checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed: make it longer"
    assert not (killed / "metrics.json").exists()  # it really stopped mid-run (60 steps in all)

    resumed = subprocess.run(albert_command(*finetune_arguments(model, *data, killed), "--resume"), env=environment,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step-" in resumed.stderr
    whole = tmp_path / "whole"
    uninterrupted = CliRunner().invoke(app, finetune_arguments(model, *data, whole))  # the same command, in-process
    assert uninterrupted.exit_code == 0, uninterrupted.output

    ours, theirs = (load_file(run / "best" / "model.safetensors") for run in (killed, whole))
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    summaries = [json.loads((run / "metrics.json").read_text()) for run in (killed, whole)]
    assert summaries[0]["history"] == summaries[1]["history"] and summaries[0]["best_step"] == summaries[1]["best_step"]
    curves = [[(r["step"], r.get("loss"), r.get("learning_rate")) for r in map(json.loads, (run / "metrics.jsonl").open())]
              for run in (killed, whole)]
    assert curves[0] == curves[1]  # the log was cut back to the checkpoint and continued


def test_an_unknown_dev_label_is_one_line_on_stderr(tmp_path, data, make_tiny_model):
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"sentence": "city paint", "label": "maybe"}])
    result = CliRunner().invoke(app, finetune_arguments(make_tiny_model(), data[0], dev, tmp_path / "run"))
    assert result.exit_code == 1
    assert "error:" in result.output and "'maybe' (first in examples[0])" in result.output and "Traceback" not in result.output


def test_evaluate_prints_the_metrics_and_writes_them(tmp_path, data, make_tiny_model):
    runner = CliRunner()
    arguments = finetune_arguments(make_tiny_model(), *data, tmp_path / "run")
    arguments[arguments.index("--epochs") + 1] = "1"
    trained = runner.invoke(app, arguments)
    assert trained.exit_code == 0, trained.output
    assert "model: " in trained.output and "best dev accuracy" in trained.output
    output = tmp_path / "scores.json"
    predictions = tmp_path / "predictions.jsonl"
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "run" / "best"), str(data[1]), "--output", str(output),
                                    "--predictions", str(predictions), "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(output.read_text())
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]
    assert scores["accuracy"] == pytest.approx(best["accuracy"]) and scores["examples"] == 24
    assert "accuracy" in evaluated.output
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(lines) == 24 and {line["prediction"] for line in lines} <= {"neg", "pos"}
