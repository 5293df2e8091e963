"""Distributed pretraining: two CPU processes under torchrun (gloo) train one model in step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.pretrain import TINY_CORPUS, tiny_set_options, tiny_tokenizer_dir  # noqa: F401

from albert import AlbertForMaskedLM


@pytest.mark.slow
def test_two_processes_with_gloo_finish_and_agree_on_the_weights(tmp_path: Path, tiny_tokenizer_dir: Path) -> None:  # noqa: F811
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "albert.cli", "pretrain", "--config", "albert-base-v2", *tiny_set_options(),
        "--tokenizer", str(tiny_tokenizer_dir), "--data", str(TINY_CORPUS), "--out", str(out),
        "--steps", "6", "--batch-size", "8", "--seq-len", "64", "--lr", "0.02", "--checkpoint-every", "3",
        "--log-every", "3", "--eval-batches", "1", "--threads", "1",
    ]
    # A session of its own, so that on a timeout the workers are stopped with torchrun.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    digests = summary["weights_digest_per_rank"]
    assert len(digests) == 2 and digests[0] == digests[1] and summary["ranks_agree"]
    run = json.loads((out / "run.json").read_text())
    assert run["world_size"] == 2
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r.get("split", "train") == "train"] == [3, 6]  # one log, not one per rank
    AlbertForMaskedLM.from_pretrained(out / "final")
