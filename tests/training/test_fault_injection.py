"""Fault injection: runs SIGKILLed (no clean-up of any kind) at chosen points of pretraining,
fine-tuning and ``albert embed --output``, then resumed or run again.

The points are where a crash can land between two things a run writes: halfway through an
atomic write (its temporary half written), with the temporary complete but not yet renamed,
just after the rename (the next file not written yet), and halfway through a line of the
metrics log. A run is first made once without faults, counting its points; then a forked copy
is SIGKILLed at one point and the run is resumed in this process. It must end exactly as the
uninterrupted run: the same weights (byte for byte), the same metrics log and summary (wall-clock
fields aside), and no temporary left behind. An output file is whole or absent, never partial.

The default run kills at the points the issue names and a few seeded random ones; ``-m slow``
kills at every point, and twice in a row.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.finetune import classification_records, one_thread, write_jsonl  # noqa: F401  (autouse fixture)
from support.pretrain import TINY_CORPUS, tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401
from support.tiny import TINY_SHAPE
from typer.testing import CliRunner

from albert.cli import app
from albert.training.finetuning.trainer import FinetuneSettings, finetune
from albert.training.pretraining.trainer import PretrainSettings, pretrain
from albert.training.run_log import MetricsLog, read_metrics

#: What a record or summary holds that depends on the clock or the process, not on the run.
WALL_CLOCK = frozenset({"tokens_per_second", "seconds_per_step", "peak_memory_mb", "examples_per_second", "seconds"})
#: How many seeded random points the default run kills at, per loop (``-m slow``: all of them).
RANDOM_KILLS = 2


class Faults:
    """Numbers the points where a crash can land and, in a child process, SIGKILLs it at one."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.kill_at = kill_at
        self.points: list[str] = []

    def point(self, where: str, before_kill: Callable[[], Any] | None = None) -> None:
        self.points.append(where)
        if len(self.points) == self.kill_at:
            if before_kill is not None:
                before_kill()
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self, setattr: Callable[[Any, str, Any], None]) -> None:
        """Wrap the one rename every atomic write ends with, and the metrics log's append."""
        real_replace, real_append = os.replace, MetricsLog.append

        def replace(source, target, **options):
            name = Path(target).name
            self.point(f"half way through writing {name}", lambda: _truncate_to_half(Path(source)))
            self.point(f"before renaming {name}")
            real_replace(source, target, **options)
            self.point(f"after renaming {name}")

        def append(log: MetricsLog, record: dict[str, Any]) -> None:
            line = json.dumps(record) + "\n"

            def half_a_line() -> None:
                with open(log.path, "a", encoding="utf-8") as handle:
                    handle.write(line[: len(line) // 2])

            self.point(f"half way through a line of {log.path.name} (step {record.get('step')})", half_a_line)
            real_append(log, record)

        setattr(os, "replace", replace)
        setattr(MetricsLog, "append", append)


def _truncate_to_half(path: Path) -> None:
    if path.is_file():
        os.truncate(path, path.stat().st_size // 2)


def count_points(run: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run once, uninterrupted, and return the points where a crash could have landed."""
    faults = Faults()
    with monkeypatch.context() as patch:
        faults.install(patch.setattr)
        run()
    return faults.points


def killed_at(run: Callable[[], Any], point: int, may_finish: bool = False) -> bool:
    """Run in a forked child that SIGKILLs itself at ``point``; fail unless it died so (or, with
    ``may_finish``, ended normally: a resumed run may have fewer points). Returns whether it died."""
    def child() -> None:
        Faults(kill_at=point).install(setattr)
        run()

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=300)
    allowed = (-signal.SIGKILL, 0) if may_finish else (-signal.SIGKILL,)
    assert process.exitcode in allowed, f"the child was to be killed at point {point}, exit {process.exitcode}"
    return process.exitcode == -signal.SIGKILL


def chosen_points(points: list[str], named: list[str], seed: int) -> list[int]:
    """The 1-based points to kill at: ``named`` ones (by their label) and a few seeded random
    ones in the default run; every point under ``-m slow``."""
    if os.environ.get("ALBERT_ALL_FAULTS"):
        return list(range(1, len(points) + 1))
    wanted = {points.index(label) + 1 for label in named}
    others = sorted(set(range(1, len(points) + 1)) - wanted)
    return sorted(wanted | set(random.Random(seed).sample(others, min(RANDOM_KILLS, len(others)))))


def without_wall_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_wall_clock(item) for key, item in value.items() if key not in WALL_CLOCK}
    if isinstance(value, list):
        return [without_wall_clock(item) for item in value]
    return value


def temporaries(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob(".*.tmp"))


def assert_same_run(run: Path, reference: Path, weights: str, summary: str, also: tuple[str, ...] = ()) -> None:
    assert (run / weights).read_bytes() == (reference / weights).read_bytes(), weights
    assert without_wall_clock(read_metrics(run / "metrics.jsonl")) == without_wall_clock(
        read_metrics(reference / "metrics.jsonl")
    )
    for name in (summary, *also):  # paths in them name the run folder
        ours = (run / name).read_text(encoding="utf-8").replace(str(run), str(reference))
        assert without_wall_clock(json.loads(ours)) == without_wall_clock(
            json.loads((reference / name).read_text(encoding="utf-8"))
        ), name
    assert temporaries(run) == [], "a temporary was left behind"


def kill_and_resume(tmp_path: Path, run: Callable[[Path, bool], None], named: list[str], kills_in_a_row: int,
                    monkeypatch: pytest.MonkeyPatch, compare: Callable[[Path, Path], None]) -> tuple[int, int]:
    """Run once uninterrupted, then for each chosen point: a run SIGKILLed there (``kills_in_a_row``
    times, each kill resuming the last), resumed to the end and ``compare``d with the first.
    Returns (points a crash could land on, kills injected)."""
    reference = tmp_path / "uninterrupted"
    points = count_points(lambda: run(reference, False), monkeypatch)
    injected = 0
    for point in chosen_points(points, named, seed=16):
        folder = tmp_path / f"killed-at-{point}"
        for attempt in range(kills_in_a_row):
            injected += killed_at(lambda folder=folder, attempt=attempt: run(folder, attempt > 0), point,
                                  may_finish=attempt > 0)
        run(folder, True)
        compare(folder, reference)
    print(f"\n{tmp_path.name}: {len(points)} points, {injected} kills")  # for docs/reliability.md (-s -n 0)
    return len(points), injected


# -- pretraining ----------------------------------------------------------------------------------


def _pretrain(run_dir: Path, tokenizer: Any, data: Path, resume: bool = False) -> None:
    settings = PretrainSettings(steps=8, batch_size=8, max_seq_length=64, learning_rate=0.03, log_every=2,
                                checkpoint_every=4, eval_batches=2, progress=False, num_threads=1)
    pretrain("albert-base-v2", tokenizer, [data], run_dir, settings, config_overrides=TINY_SHAPE, resume=resume)


def _pretraining_kills(tmp_path: Path, tokenizer: Any, data: Path, monkeypatch: pytest.MonkeyPatch,
                       kills_in_a_row: int) -> int:
    named = ["after renaming step-00000004.pt",  # before the held-out evaluation of step 4 is logged
             "after renaming step-00000008.pt"]  # the last checkpoint: a resume has no step left to run
    _, injected = kill_and_resume(
        tmp_path, lambda folder, resume: _pretrain(folder, tokenizer, data, resume), named, kills_in_a_row, monkeypatch,
        lambda run, reference: assert_same_run(run, reference, "final/model.safetensors", "summary.json",
                                               ("final/eval_results.json",)),
    )
    summary = json.loads((tmp_path / "uninterrupted" / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["last_metrics"]["step"] == 8
    return injected


def test_pretraining_killed_anywhere_resumes_to_the_same_run(tmp_path, tiny_tokenizer, tiny_data_dir, monkeypatch):  # noqa: F811
    assert _pretraining_kills(tmp_path, tiny_tokenizer, tiny_data_dir, monkeypatch, kills_in_a_row=1) >= 3


@pytest.mark.slow
def test_pretraining_killed_at_every_point_twice_resumes_to_the_same_run(
    tmp_path, tiny_tokenizer, tiny_data_dir, monkeypatch  # noqa: F811
):
    monkeypatch.setenv("ALBERT_ALL_FAULTS", "1")
    _pretraining_kills(tmp_path, tiny_tokenizer, tiny_data_dir, monkeypatch, kills_in_a_row=2)


def test_a_resume_from_the_last_checkpoint_writes_the_summary_of_the_run(
    tmp_path, tiny_tokenizer, tiny_data_dir, monkeypatch  # noqa: F811
):
    """Issue 16, item 5: killed after its last checkpoint, a resumed run has no step left to run;
    its summary still reports the steps and the last metrics, and the held-out record of the
    checkpoint's step, never logged, is logged."""
    reference, run = tmp_path / "uninterrupted", tmp_path / "resumed"
    points = count_points(lambda: _pretrain(reference, tiny_tokenizer, tiny_data_dir), monkeypatch)
    killed_at(lambda: _pretrain(run, tiny_tokenizer, tiny_data_dir), points.index("after renaming step-00000008.pt") + 1)
    assert not any(r.get("split") == "heldout" and r["step"] == 8 for r in read_metrics(run / "metrics.jsonl"))
    _pretrain(run, tiny_tokenizer, tiny_data_dir, resume=True)
    assert_same_run(run, reference, "final/model.safetensors", "summary.json")


# -- fine-tuning ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finetune_data(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("finetune_data")
    return (write_jsonl(folder / "train.jsonl", classification_records(48, seed=1)),
            write_jsonl(folder / "dev.jsonl", classification_records(12, seed=2)))


def _finetune(model: Path, data: tuple[Path, Path], out: Path, resume: bool = False) -> None:
    settings = FinetuneSettings(task="text-classification", epochs=2, learning_rate=3e-3, batch_size=8, max_length=32,
                                seed=0, log_every=2, eval_every=3, checkpoint_every=3, threads=1, progress=False)
    finetune(model, *data, out, settings, resume=resume)


def _finetuning_kills(tmp_path: Path, model: Path, data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                      kills_in_a_row: int) -> int:
    named = ["after renaming step-00000003.pt", "before renaming model.safetensors"]  # best/ half replaced
    _, injected = kill_and_resume(
        tmp_path, lambda folder, resume: _finetune(model, data, folder, resume), named, kills_in_a_row, monkeypatch,
        lambda run, reference: assert_same_run(run, reference, "best/model.safetensors", "metrics.json",
                                               ("best/eval_results.json", "best/finetune.json")),
    )
    return injected


def test_finetuning_killed_anywhere_resumes_to_the_same_run(tmp_path, make_tiny_model, finetune_data, monkeypatch):
    assert _finetuning_kills(tmp_path, make_tiny_model(), finetune_data, monkeypatch, kills_in_a_row=1) >= 3


@pytest.mark.slow
def test_finetuning_killed_at_every_point_twice_resumes_to_the_same_run(
    tmp_path, make_tiny_model, finetune_data, monkeypatch
):
    monkeypatch.setenv("ALBERT_ALL_FAULTS", "1")
    _finetuning_kills(tmp_path, make_tiny_model(), finetune_data, monkeypatch, kills_in_a_row=2)


# -- albert embed --output ------------------------------------------------------------------------

TEXTS = ["the river ran by the city at night.", "a storm came in the winter.", "dinner was at the station."]


def _embed(model: Path, output: Path) -> None:
    result = CliRunner().invoke(app, ["embed", *TEXTS, "--model", str(model), "--output", str(output)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _output(path: Path) -> Any:
    if path.suffix == ".npy":
        return np.load(path).tolist()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".npy"])
def test_embed_killed_while_writing_leaves_no_partial_output(tmp_path, make_tiny_model, suffix, monkeypatch):
    model = make_tiny_model()
    reference = tmp_path / f"reference{suffix}"
    points = count_points(lambda: _embed(model, reference), monkeypatch)
    assert points == [f"half way through writing {reference.name}", f"before renaming {reference.name}",
                      f"after renaming {reference.name}"]
    expected = _output(reference)
    output = tmp_path / f"out{suffix}"
    for point in (1, 2):  # the temporary half written, then whole but not renamed
        killed_at(lambda: _embed(model, output), point)
        assert not output.exists(), "a killed run left a partial output"
        assert len(temporaries(tmp_path)) == 1  # what a SIGKILL can leave: the dead writer's temporary
    # An older output survives a killed run whole; the next run replaces it and removes the temporary.
    output.write_bytes(reference.read_bytes())
    killed_at(lambda: _embed(model, output), 1)
    assert _output(output) == expected
    _embed(model, output)
    assert _output(output) == expected
    assert temporaries(tmp_path) == []


@pytest.mark.slow
def test_embed_killed_at_random_times_never_leaves_a_partial_output(tmp_path, make_tiny_model):
    """The real command, SIGKILLed from outside after a random delay, 20 times."""
    model = make_tiny_model()
    inputs = tmp_path / "texts.txt"
    inputs.write_text("".join(f"{TEXTS[index % 3]} number {index}\n" for index in range(3000)), encoding="utf-8")
    output = tmp_path / "out.parquet"
    command = [sys.executable, "-m", "albert.cli", "embed", "--input", str(inputs), "--model", str(model),
               "--output", str(output)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    expected = output.read_bytes()
    output.unlink()
    started = time.monotonic()
    subprocess.run(command, env=environment, capture_output=True, timeout=600)
    duration = time.monotonic() - started
    output.unlink()
    rng = random.Random(16)
    for _ in range(20):
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, duration))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not output.exists() or output.read_bytes() == expected
        output.unlink(missing_ok=True)
    subprocess.run(command, env=environment, capture_output=True, timeout=600, check=True)
    assert output.read_bytes() == expected and temporaries(tmp_path) == []


def test_the_resumed_log_of_a_run_cut_mid_line_is_whole(tmp_path):
    """A SIGKILL halfway through a metrics line leaves half a line; reading skips it, and a resume
    rewrites the log whole."""
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"step": 2, "loss": 1.0})
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write('{"step": 4, "lo')
    assert read_metrics(log.path) == [{"step": 2, "loss": 1.0}]
    log.truncate_after(2)
    assert log.path.read_text(encoding="utf-8") == '{"step": 2, "loss": 1.0}\n'
