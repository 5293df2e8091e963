"""One writer per output folder (issue 23): a second process writing the same folder is refused at
once with FolderInUseError naming the first one's pid, a lock of a killed process is taken over,
and a process never waits on its own lock.

The other processes are real (forked from this one, so they start in milliseconds); where two
writers must overlap, each stalls for a moment just before it would replace the folder, as a slow
disk would make it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from support.finetune import classification_records, one_thread, write_jsonl  # noqa: F401  (autouse fixture)
from support.pretrain import tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401  (fixtures)
from support.tiny import TINY_SHAPE

from albert import AlbertConfig, AlbertForSequenceClassification
from albert.errors import FolderInUseError
from albert.output_lock import folder_lock, holder_of, lock_file_for
from albert.training.checkpoints import CheckpointManager
from albert.training.finetuning.trainer import FinetuneSettings, finetune
from albert.training.pretraining.trainer import PretrainSettings, pretrain

FORK = multiprocessing.get_context("fork")


class Holder:
    """A forked process that holds the lock of ``folder`` until told to leave (or killed)."""

    def __init__(self, folder: Path) -> None:
        self.ready, self.leave = FORK.Event(), FORK.Event()
        self.process = FORK.Process(target=self._hold, args=(folder,))
        self.process.start()
        assert self.ready.wait(30), "the holder never took the lock"

    def _hold(self, folder: Path) -> None:
        with folder_lock(folder):
            self.ready.set()
            self.leave.wait(60)

    def stop(self) -> None:
        self.leave.set()
        self.process.join(30)

    def kill(self) -> None:
        self.process.kill()
        self.process.join(30)


def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path):
    folder = tmp_path / "model"
    holder = Holder(folder)
    try:
        started = time.monotonic()
        with pytest.raises(FolderInUseError) as caught:
            with folder_lock(folder):
                pass
        assert time.monotonic() - started < 1.0, "the second writer waited"
        message = str(caught.value)
        assert f"{folder} is being written by another process (pid {holder.process.pid}" in message
        assert "\n" not in message and caught.value.pid == holder.process.pid
        assert holder_of(lock_file_for(folder))[0] == holder.process.pid
    finally:
        holder.stop()
    with folder_lock(folder):  # released by a holder that ended normally
        pass


def test_the_lock_of_a_killed_writer_is_taken_over(tmp_path):
    """SIGKILL leaves no chance to clean up: the kernel releases the lock with the process."""
    folder = tmp_path / "run"
    holder = Holder(folder)
    holder.kill()
    assert (tmp_path / ".run.lock").exists()  # the file stays; the lock does not
    with folder_lock(folder):
        assert holder_of(lock_file_for(folder))[0] == os.getpid()
    assert holder_of(lock_file_for(folder)) == (None, None)


def test_the_lock_is_reentrant_in_one_thread_and_refused_to_another(tmp_path):
    folder = tmp_path / "run"
    outcome: list[BaseException | None] = []

    def other_thread() -> None:
        try:
            with folder_lock(folder):
                outcome.append(None)
        except FolderInUseError as error:
            outcome.append(error)

    with folder_lock(folder), folder_lock(folder / "."):  # the same folder, named otherwise: no deadlock
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(10)
    assert isinstance(outcome[0], FolderInUseError) and "another thread of this process" in str(outcome[0])
    with folder_lock(folder):  # every hold was released
        pass


def test_the_lock_of_a_folder_whose_parent_takes_no_file_is_inside_it(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    monkeypatch.setattr("albert.output_lock._can_create_in", lambda parent: False)
    assert lock_file_for(folder) == folder / ".model.lock"


# -- save_pretrained from two processes -----------------------------------------------------------


def _signature(folder: Path) -> tuple[int, float]:
    """What tells the two models apart in each file: the config's label count and the weights' sum."""
    labels = AlbertConfig.from_json_file(folder / "config.json").num_labels
    weights = load_file(folder / "model.safetensors")
    assert weights["classifier.weight"].shape[0] == labels, "the config and the weights of two models"
    return labels, float(sum(tensor.double().sum() for tensor in weights.values()))


def _stall_before_replacing(seconds: float) -> None:
    """Make this process's folder saves wait before the swap (a slow disk), so two of them overlap."""
    from albert import atomic_files

    swap = atomic_files._swap

    def slow_swap(*args: Any) -> None:
        time.sleep(seconds)
        swap(*args)

    atomic_files._swap = slow_swap


def _save_in_child(model: torch.nn.Module, folder: Path, start: Any, results: Any) -> None:
    _stall_before_replacing(0.3)
    start.wait(30)
    try:
        model.save_pretrained(folder)
        results.put((os.getpid(), "saved"))
    except FolderInUseError as error:
        results.put((os.getpid(), f"refused: {error}"))


def _two_savers(trials: int, tmp_path: Path, make_tiny_model: Callable[..., Path]) -> None:
    models = [AlbertForSequenceClassification.from_pretrained(make_tiny_model(AlbertForSequenceClassification,
                                                                              seed=seed, num_labels=labels))
              for seed, labels in ((0, 2), (1, 3))]
    expected = {}
    for model in models:
        reference = tmp_path / f"reference-{model.config.num_labels}"
        model.save_pretrained(reference)
        expected[model.config.num_labels] = _signature(reference)
    folder = tmp_path / "shared"
    for trial in range(trials):
        start, results = FORK.Barrier(2), FORK.Queue()
        processes = [FORK.Process(target=_save_in_child, args=(model, folder, start, results)) for model in models]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
            assert process.exitcode == 0
        outcome = dict(results.get(timeout=5) for _ in processes)
        saved = [pid for pid, what in outcome.items() if what == "saved"]
        refused = [what for what in outcome.values() if what.startswith("refused")]
        # Both started together and each held the folder for 0.3 s: one saved, the other was refused.
        assert len(saved) == 1 and len(refused) == 1, (trial, outcome)
        assert f"pid {saved[0]}" in refused[0]
        winner = models[[process.pid for process in processes].index(saved[0])]
        assert _signature(folder) == expected[winner.config.num_labels], trial
        assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".shared")) == [".shared.lock"]


def test_two_processes_saving_one_folder_one_is_refused_and_the_folder_is_whole(tmp_path, make_tiny_model):
    _two_savers(3, tmp_path, make_tiny_model)


@pytest.mark.slow
def test_two_processes_saving_one_folder_many_times(tmp_path, make_tiny_model):
    _two_savers(40, tmp_path, make_tiny_model)


# -- training runs and prepared data --------------------------------------------------------------


def _pretrain(run_dir: Path, tokenizer: Any, data: Path, steps: int = 2) -> None:
    settings = PretrainSettings(steps=steps, batch_size=8, max_seq_length=64, log_every=1, checkpoint_every=2,
                                eval_batches=1, progress=False, num_threads=1)
    pretrain("albert-base-v2", tokenizer, [data], run_dir, settings, config_overrides=TINY_SHAPE)


def _pretrain_slowly(run_dir: Path, tokenizer: Any, data: Path, running: Any, proceed: Any) -> None:
    """Pretrain, signalling at the first checkpoint (the run holds its folder) and stalling there
    until told to go on."""
    save = CheckpointManager.save

    def slow_save(manager: CheckpointManager, *args: Any, **kwargs: Any) -> Path:
        running.set()
        proceed.wait(60)
        return save(manager, *args, **kwargs)

    CheckpointManager.save = slow_save  # type: ignore[method-assign]
    _pretrain(run_dir, tokenizer, data)


def test_a_second_pretraining_run_into_the_same_folder_is_refused(
    tmp_path, tiny_tokenizer, tiny_tokenizer_dir, tiny_data_dir  # noqa: F811
):
    """Issue 23: two ``albert pretrain --out same/`` both proceeded and logged every step twice."""
    from typer.testing import CliRunner

    from albert.cli import app

    run_dir = tmp_path / "run"
    running, proceed = FORK.Event(), FORK.Event()
    first = FORK.Process(target=_pretrain_slowly, args=(run_dir, tiny_tokenizer, tiny_data_dir, running, proceed))
    first.start()
    try:
        assert running.wait(120)
        started = time.monotonic()
        with pytest.raises(FolderInUseError, match=f"pid {first.pid}"):
            _pretrain(run_dir, tiny_tokenizer, tiny_data_dir)
        assert time.monotonic() - started < 2.0
        result = CliRunner().invoke(app, [
            "pretrain", "--config", "albert-base-v2", "--tokenizer", str(tiny_tokenizer_dir),
            "--data", str(tiny_data_dir), "--out", str(run_dir), "--steps", "2", "--batch-size", "8",
            "--seq-len", "64", "--threads", "1",
        ])
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and result.output.startswith("error: ")
        assert f"{run_dir} is being written by another process (pid {first.pid}" in result.output
    finally:
        proceed.set()
        first.join(120)
    assert first.exitcode == 0
    steps = [record["step"] for record in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if record.get("split", "train") == "train"]
    assert steps == [1, 2], "every step logged once"


def _finetune(model: Path, data: Path, out: Path) -> None:
    finetune(model, data, data, out, FinetuneSettings(task="text-classification", epochs=1, batch_size=8,
                                                      max_length=32, threads=1, progress=False))


def test_a_second_finetuning_run_into_the_same_folder_is_refused(tmp_path, make_tiny_model):
    data = write_jsonl(tmp_path / "train.jsonl", classification_records(16, seed=1))
    out = tmp_path / "run"
    holder = Holder(out)  # a run in progress, as far as the lock can tell
    try:
        with pytest.raises(FolderInUseError, match=f"pid {holder.process.pid}"):
            _finetune(make_tiny_model(), data, out)
        assert not (out / "checkpoints").exists()
    finally:
        holder.stop()


def test_preparing_data_into_a_folder_being_prepared_is_refused(tmp_path, tiny_tokenizer):  # noqa: F811
    from support.pretrain import TINY_CORPUS

    from albert.training.pretraining.shards import prepare_shards

    out = tmp_path / "data"
    holder = Holder(out)
    try:
        with pytest.raises(FolderInUseError, match=f"pid {holder.process.pid}"):
            prepare_shards([TINY_CORPUS], tiny_tokenizer, out, progress=False)
    finally:
        holder.stop()
    assert prepare_shards([TINY_CORPUS], tiny_tokenizer, out, progress=False)["splits"]["train"]


def test_convert_refuses_an_out_folder_being_written(tmp_path, monkeypatch):
    """``albert convert tf --out`` takes the folder's lock before it reads the checkpoint."""
    from albert.convert import tf_checkpoint

    def no_reading(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the checkpoint was read while another process writes --out")

    monkeypatch.setattr(tf_checkpoint, "_convert_into", no_reading)
    monkeypatch.setattr(tf_checkpoint, "read_original_config", lambda path: None)
    release = tf_checkpoint._Release(tmp_path / "model.ckpt", tmp_path / "albert_config.json",
                                     tmp_path / "30k-clean.model", "a release")
    release.vocab.write_bytes(b"")
    out = tmp_path / "converted"
    holder = Holder(out)
    try:
        with pytest.raises(FolderInUseError, match=f"pid {holder.process.pid}"):
            tf_checkpoint._convert(release, out, None, None)
    finally:
        holder.stop()


def test_a_forked_child_does_not_inherit_the_hold(tmp_path):
    """A child forked while the parent holds a folder is not its writer: it is refused, and its
    exit does not release the parent's lock."""
    folder = tmp_path / "model"
    results = FORK.Queue()

    def child() -> None:
        try:
            with folder_lock(folder):
                results.put("held")
        except FolderInUseError:
            results.put("refused")

    with folder_lock(folder):
        process = FORK.Process(target=child)
        process.start()
        process.join(30)
        assert results.get(timeout=5) == "refused"
        assert holder_of(lock_file_for(folder))[0] == os.getpid()


@pytest.fixture(autouse=True)
def _no_stray_children():
    yield
    for child in multiprocessing.active_children():
        os.kill(child.pid, signal.SIGKILL)
