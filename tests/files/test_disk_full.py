"""Fault injection on every writer (issue 23): a disk that fills up, a file the system refuses to
grow, an I/O error. Each ends in ONE error naming the file the user asked for
(:class:`~albert.errors.DiskFullError` for a full disk, saying how much was needed and how much
is free; :class:`~albert.errors.OutputError` otherwise), leaves no temporary behind, and leaves
what was there before as it was (still loadable).

The faults are real where the system can make them, and injected where it cannot:

- ``enospc``: a 4 MB tmpfs, filled up (the kernel's own ENOSPC, in the middle of whatever the
  writer writes: safetensors' Rust, torch's C++, numpy, matplotlib, pyarrow). Mounting needs
  root; elsewhere these cases skip, saying so.
- ``efbig``: ``RLIMIT_FSIZE`` set to half the size of the file being replaced, in a forked child:
  the kernel refuses the write half way (EFBIG) for every writer, no root needed.
- ``eio``: an I/O error injected where the written file is renamed into place (or, for the
  metrics log, where it is appended to): no file system makes EIO on demand.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from support.finetune import classification_records, one_thread, write_jsonl  # noqa: F401  (autouse fixture)
from support.pretrain import TINY_CORPUS, tiny_data_dir, tiny_set_options, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401

from albert import AlbertConfig, AlbertForSequenceClassification, AlbertTokenizer, atomic_files
from albert.errors import AlbertError, DiskFullError, OutputError
from albert.training.checkpoints import CheckpointManager
from albert.training.loop import write_json
from albert.training.run_log import MetricsLog, plot_curves, read_metrics

FORK = multiprocessing.get_context("fork")


# -- the faults -------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 4 MB tmpfs (root only): a disk that really fills up."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs, and mounting one needs root (the efbig and eio cases still run)")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the efbig and eio cases still run")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all the free space of ``disk`` but ``leave`` bytes (to the page)."""
    status = os.statvfs(disk)
    free = status.f_bfree * status.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(free - leave, 1))
    return filler


@pytest.fixture
def no_space_check(monkeypatch):
    """Writers refuse a write the disk cannot hold before they start; turned off, the disk fills
    in the middle of the write, as when another process takes the space meanwhile."""
    monkeypatch.setattr(atomic_files, "require_space", lambda path, needed: None)


def in_child_with_file_limit(limit: int, action: Callable[[], Any]) -> tuple[str, str]:
    """Run ``action`` in a forked child whose files cannot grow past ``limit`` bytes; returns the
    error it raised (class name, message), or ("", "") when it raised none."""
    results = FORK.Queue()

    def child() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            action()
            results.put(("", ""))
        except BaseException as error:  # reported as it is: that is what the test checks
            results.put((type(error).__name__, str(error)))

    process = FORK.Process(target=child)
    process.start()
    process.join(120)
    assert process.exitcode == 0, process.exitcode
    return results.get(timeout=5)


# -- the writers ------------------------------------------------------------------------------------


@dataclass
class Writer:
    """One thing albert writes: how to write what was there before, the write under test, the
    file its error must name, and what the folder reads as (unchanged by a failed write)."""

    setup: Callable[[Path], None]
    write: Callable[[Path], None]
    target: Callable[[Path], Path]
    contents: Callable[[Path], Any]
    #: Where the efbig case stops the file from growing (default: half the target's old size).
    cut: Callable[[Path], int] | None = None


def _model_contents(folder: Path) -> Any:
    labels = AlbertConfig.from_json_file(folder / "config.json").num_labels
    AlbertForSequenceClassification.from_pretrained(folder)  # it loads
    return labels, sorted((path.name, path.stat().st_size) for path in folder.iterdir())


class CliFailure(Exception):
    """What a command printed when it failed."""


def _embed(model: Path, output: Path) -> None:
    from typer.testing import CliRunner

    from albert.cli import app

    result = CliRunner().invoke(app, ["embed", "a text.", "another text.", "--model", str(model), "--output",
                                      str(output)])
    if result.exit_code != 0:
        raise CliFailure(result.output)


def _state(seed: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    return {"model": {"weight": torch.randn(64, 256, generator=generator)}, "step": seed}


def _checkpoints(folder: Path) -> Any:
    manager = CheckpointManager(folder)
    return [(path.name, manager.load(path)["step"]) for path in manager.checkpoints()]


def _not_data(folder: Path) -> str:
    from albert.training.pretraining.shards import CorpusError, read_manifest

    try:
        read_manifest(folder)
    except CorpusError:
        return "not data"  # an interrupted preparation is never read as data
    return "data"


@pytest.fixture
def writers(make_tiny_model, tiny_spm, tiny_tokenizer) -> dict[str, Writer]:  # noqa: F811
    old, new = (AlbertForSequenceClassification.from_pretrained(
        make_tiny_model(AlbertForSequenceClassification, seed=seed, num_labels=labels))
        for seed, labels in ((0, 2), (1, 3)))
    embedder = make_tiny_model()
    records = [{"step": step, "loss": 1.0 / step} for step in range(1, 9)]

    def curves_setup(folder: Path) -> None:
        for record in records:
            MetricsLog(folder / "metrics.jsonl").append(record)
        plot_curves(folder / "metrics.jsonl", folder / "curves.png", [("loss", "loss")], ("heldout", "held-out"))

    return {
        "save_pretrained": Writer(
            lambda folder: old.save_pretrained(folder / "model"), lambda folder: new.save_pretrained(folder / "model"),
            lambda folder: folder / "model" / "model.safetensors", lambda folder: _model_contents(folder / "model")),
        "save_pretrained .bin": Writer(
            lambda folder: old.save_pretrained(folder / "model", safe_serialization=False),
            lambda folder: new.save_pretrained(folder / "model", safe_serialization=False),
            lambda folder: folder / "model" / "pytorch_model.bin", lambda folder: _model_contents(folder / "model")),
        "tokenizer": Writer(
            lambda folder: AlbertTokenizer(tiny_spm, model_max_length=64).save_pretrained(folder / "tokenizer"),
            lambda folder: AlbertTokenizer(tiny_spm, model_max_length=32).save_pretrained(folder / "tokenizer"),
            lambda folder: folder / "tokenizer" / "spiece.model",
            lambda folder: AlbertTokenizer.from_pretrained(folder / "tokenizer").model_max_length),
        "checkpoint": Writer(
            lambda folder: CheckpointManager(folder).save(1, _state(1)),
            lambda folder: CheckpointManager(folder).save(2, _state(2)),
            lambda folder: folder / "checkpoints" / "step-00000002.pt", _checkpoints,
            cut=lambda folder: (folder / "checkpoints" / "step-00000001.pt").stat().st_size // 2),
        "metrics log": Writer(
            lambda folder: MetricsLog(folder / "metrics.jsonl").append(records[0]),
            lambda folder: MetricsLog(folder / "metrics.jsonl").append({**records[1], "note": "x" * 20000}),
            lambda folder: folder / "metrics.jsonl", lambda folder: read_metrics(folder / "metrics.jsonl"),
            cut=lambda folder: 0),
        "run summary": Writer(
            lambda folder: write_json(folder / "summary.json", {"steps": 1}),
            lambda folder: write_json(folder / "summary.json", {"steps": 2, "history": records * 500}),
            lambda folder: folder / "summary.json",
            lambda folder: json.loads((folder / "summary.json").read_text())),
        "curves": Writer(
            curves_setup,
            lambda folder: plot_curves(folder / "metrics.jsonl", folder / "curves.png",
                                       [("loss", "loss"), ("step", "step")], ("heldout", "held-out")),
            lambda folder: folder / "curves.png", lambda folder: (folder / "curves.png").read_bytes()),
        "prepared data": Writer(
            lambda folder: None,
            lambda folder: atomic_files_prepare(folder / "data", tiny_tokenizer),
            lambda folder: folder / "data" / "train-00000.tokens.npy", lambda folder: _not_data(folder / "data")),
        "embed --output": Writer(
            lambda folder: _embed(embedder, folder / "out.npy"),
            lambda folder: _embed(embedder, folder / "out.npy"),
            lambda folder: folder / "out.npy", lambda folder: np.load(folder / "out.npy").tolist()),
    }


def atomic_files_prepare(folder: Path, tokenizer: Any) -> None:
    from albert.training.pretraining.shards import prepare_shards

    prepare_shards([TINY_CORPUS], tokenizer, folder, progress=False)


WRITERS = ["save_pretrained", "save_pretrained .bin", "tokenizer", "checkpoint", "metrics log", "run summary",
           "curves", "prepared data", "embed --output"]


def leftovers(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob(".*") if path.name.endswith((".tmp", ".old")))


def check_one_error(kind: str, message: str, target: Path, expected: type[BaseException], says: str) -> None:
    """One line, naming the user's file (never our temporary), saying what happened."""
    assert kind in (expected.__name__, CliFailure.__name__), f"{kind}: {message}"
    assert str(target) in message and says in message, message
    assert ".tmp" not in message and "\n" not in message.rstrip("\n"), message


# -- a full disk ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WRITERS)
def test_a_full_disk_is_one_error_naming_the_file_and_the_previous_contents_stay(
    name, writers, small_disk, no_space_check
):
    writer = writers[name]
    writer.setup(small_disk)
    before = writer.contents(small_disk)
    filler = fill(small_disk)
    with pytest.raises((DiskFullError, CliFailure)) as caught:
        writer.write(small_disk)
    check_one_error(type(caught.value).__name__, str(caught.value), writer.target(small_disk), DiskFullError,
                    "disk full")
    if isinstance(caught.value, DiskFullError):
        assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert leftovers(small_disk) == []
    filler.unlink()
    assert writer.contents(small_disk) == before


def test_enospc_in_the_middle_of_the_weights_leaves_the_previous_model(writers, small_disk, no_space_check):
    """Issue 23: the new config.json beside the old weights, and a safetensors error naming no file."""
    writer = writers["save_pretrained"]
    writer.setup(small_disk)
    before = writer.contents(small_disk)
    weights = small_disk / "model" / "model.safetensors"
    filler = fill(small_disk, leave=weights.stat().st_size // 2)
    with pytest.raises(DiskFullError) as caught:
        writer.write(small_disk)
    message = str(caught.value)
    assert message.startswith(f"disk full: could not write {weights} (needed about "), message
    assert f"free on the file system of {weights.parent}); free some space, or write elsewhere" in message
    assert leftovers(small_disk) == []
    assert writer.contents(small_disk) == before
    filler.unlink()
    writer.write(small_disk)  # room again: the save goes through
    assert writer.contents(small_disk)[0] == 3


@pytest.mark.parametrize("name", ["save_pretrained", "checkpoint", "prepared data"])
def test_a_write_the_disk_cannot_hold_is_refused_before_it_starts(name, writers, small_disk, monkeypatch):
    writer = writers[name]
    writer.setup(small_disk)
    before = writer.contents(small_disk)
    filler = fill(small_disk, leave=4096)
    started = []
    real_make = atomic_files._make_temporary
    monkeypatch.setattr(atomic_files, "_make_temporary", lambda target: started.append(target) or real_make(target))
    with pytest.raises(DiskFullError, match=r"\(needed about [\d.]+ kB; [\d.]+ (kB|bytes) free on the file system of "):
        writer.write(small_disk)
    assert not any(path.name == writer.target(small_disk).name for path in started), "the write was started"
    assert leftovers(small_disk) == []
    filler.unlink()
    assert writer.contents(small_disk) == before


# -- a file the system refuses to grow (EFBIG), and an I/O error (EIO) ------------------------------


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_write_cut_half_way_is_one_error_naming_the_file(name, writers, tmp_path):
    writer = writers[name]
    writer.setup(tmp_path)
    before = writer.contents(tmp_path)
    target = writer.target(tmp_path)
    limit = writer.cut(tmp_path) if writer.cut is not None else target.stat().st_size // 2 if target.exists() else 0
    kind, message = in_child_with_file_limit(limit, lambda: writer.write(tmp_path))
    check_one_error(kind, message, target, OutputError, "File too large")
    assert leftovers(tmp_path) == []
    assert writer.contents(tmp_path) == before


@pytest.mark.parametrize("name", WRITERS)
def test_an_io_error_is_one_error_naming_the_file(name, writers, tmp_path, monkeypatch):
    writer = writers[name]
    writer.setup(tmp_path)
    before = writer.contents(tmp_path)
    target = writer.target(tmp_path)
    replace, real_open = os.replace, open

    def failing_replace(source: Any, destination: Any, **options: Any) -> None:
        if Path(destination).name == target.name:
            raise OSError(errno.EIO, "Input/output error")
        replace(source, destination, **options)

    def failing_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "a" in mode and Path(file).name == target.name:
            raise OSError(errno.EIO, "Input/output error", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.setattr(atomic_files, "open", failing_open, raising=False)
    with pytest.raises((OutputError, CliFailure)) as caught:
        writer.write(tmp_path)
    assert not isinstance(caught.value, DiskFullError)
    check_one_error(type(caught.value).__name__, str(caught.value), target, OutputError, "Input/output error")
    monkeypatch.undo()
    assert leftovers(tmp_path) == []
    assert writer.contents(tmp_path) == before


def test_output_errors_are_albert_errors_and_os_errors():
    """``except OSError`` (what callers wrote before) and ``except AlbertError`` both catch them."""
    error = atomic_files.disk_full_error(Path("run/checkpoints/step-00000005.pt"), needed=24_500_000, free=1_200_000)
    assert isinstance(error, (AlbertError)) and isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert str(error) == ("disk full: could not write run/checkpoints/step-00000005.pt (needed about 24.5 MB; "
                          "1.2 MB free on the file system of run/checkpoints); free some space, or write elsewhere")


# -- whole runs on a disk that fills up -------------------------------------------------------------


def _fill_after_first_checkpoint(monkeypatch: pytest.MonkeyPatch, disk: Path) -> None:
    save = CheckpointManager.save

    def then_fill(manager: CheckpointManager, step: int, state: dict[str, Any]) -> Path:
        path = save(manager, step, state)
        if not (disk / "filler").exists():
            fill(disk)
        return path

    monkeypatch.setattr(CheckpointManager, "save", then_fill)


def test_pretraining_on_a_disk_that_fills_up_ends_in_one_line_and_resumes(
    small_disk, monkeypatch, tiny_tokenizer_dir, tiny_data_dir  # noqa: F811
):
    """Issue 23: ``RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos``, 63 lines."""
    from typer.testing import CliRunner

    from albert.cli import app

    run = small_disk / "run"
    arguments = ["pretrain", "--config", "albert-base-v2", *tiny_set_options(),
                 "--tokenizer", str(tiny_tokenizer_dir), "--data", str(tiny_data_dir), "--out", str(run),
                 "--steps", "4", "--batch-size", "8", "--seq-len", "64", "--checkpoint-every", "2", "--log-every", "2",
                 "--eval-batches", "1", "--threads", "1"]
    _fill_after_first_checkpoint(monkeypatch, small_disk)
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: disk full: could not write "), result.output
    assert str(run) in lines[0] and "free on the file system of" in lines[0]
    assert [path.name for path in CheckpointManager(run).checkpoints()] == ["step-00000002.pt"]
    assert CheckpointManager(run).load(CheckpointManager(run).latest())["step"] == 2  # the earlier one is whole
    assert leftovers(run) == []
    (small_disk / "filler").unlink()
    monkeypatch.undo()
    resumed = CliRunner().invoke(app, [*arguments, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (run / "final" / "model.safetensors").is_file()


def test_finetuning_on_a_disk_that_fills_up_keeps_its_last_best_model(small_disk, monkeypatch, make_tiny_model):
    from albert.training.finetuning.trainer import FinetuneSettings, finetune

    data = write_jsonl(small_disk / "train.jsonl", classification_records(24, seed=1))
    out = small_disk / "run"
    _fill_after_first_checkpoint(monkeypatch, small_disk)
    with pytest.raises(DiskFullError, match=f"disk full: could not write {out}/"):
        finetune(make_tiny_model(), data, data, out, FinetuneSettings(
            task="text-classification", epochs=2, batch_size=8, max_length=32, eval_every=2, checkpoint_every=2,
            threads=1, progress=False))
    assert [path.name for path in CheckpointManager(out).checkpoints()] == ["step-00000002.pt"]
    assert leftovers(out) == []
    AlbertForSequenceClassification.from_pretrained(out / "best")  # saved before the checkpoint: whole
    assert load_file(out / "best" / "model.safetensors")


# -- exports (seconds each: -m slow) ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("what", ["export", "cache"])
def test_an_onnx_export_on_a_full_disk_is_one_error(what, small_disk, make_tiny_model, no_space_check):
    pytest.importorskip("onnxruntime")
    from albert import AlbertModel

    model = AlbertModel.from_pretrained(make_tiny_model())
    fill(small_disk)
    if what == "export":
        from albert.fast.onnx_export import export_onnx

        target = small_disk / "model.onnx"
        with pytest.raises(DiskFullError, match=f"disk full: could not write {target}"):
            with atomic_files.atomic_path(target) as partial:
                export_onnx(model, partial)
    else:
        from albert.fast.onnx_encoder import cached_export

        with pytest.raises(DiskFullError, match=f"disk full: could not write {small_disk / 'cache'}/albert-"):
            cached_export(model, small_disk / "cache")
    assert leftovers(small_disk) == []


@pytest.mark.slow
def test_a_flax_save_on_a_full_disk_is_one_error(small_disk, make_tiny_model, no_space_check):
    pytest.importorskip("flax")
    from albert.flax import FlaxAlbertForMaskedLM

    model = FlaxAlbertForMaskedLM.from_pretrained(make_tiny_model())
    folder = small_disk / "flax"
    model.save_pretrained(folder)
    before = sorted((path.name, path.read_bytes()) for path in folder.iterdir())
    filler = fill(small_disk)
    with pytest.raises(DiskFullError, match=f"disk full: could not write {folder / 'model.safetensors'}"):
        model.save_pretrained(folder)
    filler.unlink()
    assert sorted((path.name, path.read_bytes()) for path in folder.iterdir()) == before
    assert leftovers(small_disk) == []
