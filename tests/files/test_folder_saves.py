"""Folder saves are all-or-nothing (issue 23): ``save_pretrained`` (torch, Flax), a tokenizer's
save, fine-tuning's ``best/`` and pretraining's ``final/`` build the new folder aside and swap it
in whole, so a save that fails or is killed at any point leaves the previous model loadable, with
its config and weights belonging together; the user's own files in the folder survive.

A save is SIGKILLed (in a forked copy of this process: no clean-up of any kind) at each point
where a crash can land: halfway through each file, with each file complete but not renamed, just
after each rename, before the swap and just after it. The previous model (two labels) and the
new one (three labels) cannot be mixed unnoticed: a config of one beside the weights of the other
does not load.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from albert import AlbertConfig, AlbertForSequenceClassification, AlbertTokenizer, atomic_files
from albert.atomic_files import atomic_folder, exchange_supported, remove_dead_temporaries
from albert.errors import OutputError

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def two_models(make_tiny_model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The previous model (two labels) and the new one (three labels)."""
    return tuple(  # type: ignore[return-value]
        AlbertForSequenceClassification.from_pretrained(make_tiny_model(AlbertForSequenceClassification, seed=seed,
                                                                        num_labels=labels))
        for seed, labels in ((0, 2), (1, 3))
    )


def signature(folder: Path) -> tuple[int, float]:
    """(labels, sum of the weights): which model the folder holds. Fails on a mixed folder."""
    labels = AlbertConfig.from_json_file(folder / "config.json").num_labels
    weights = load_file(folder / "model.safetensors")
    assert weights["classifier.weight"].shape[0] == labels, "the config of one model beside the weights of another"
    AlbertForSequenceClassification.from_pretrained(folder)  # and it loads
    return labels, round(float(sum(tensor.double().sum() for tensor in weights.values())), 6)


def leftovers(parent: Path) -> list[str]:
    """Temporaries anywhere under ``parent`` (files or folders)."""
    return sorted(str(path.relative_to(parent)) for path in parent.rglob(".*") if path.name.endswith((".tmp", ".old")))


# -- what a save keeps and drops ------------------------------------------------------------------


def test_a_save_keeps_the_users_files_and_drops_what_it_makes_stale(tmp_path, two_models, tiny_spm):
    old, new = two_models
    folder = tmp_path / "model"
    old.save_pretrained(folder, safe_serialization=False)  # pytorch_model.bin: another layout
    (folder / "README.md").write_text("my notes", encoding="utf-8")
    (folder / "extra").mkdir()
    (folder / "extra" / "results.txt").write_text("0.9", encoding="utf-8")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")  # another tokenizer's vocabulary
    mode = 0o750
    folder.chmod(mode)

    new.save_pretrained(folder, tokenizer=AlbertTokenizer(tiny_spm, model_max_length=64))

    names = sorted(path.name for path in folder.iterdir())
    assert names == ["README.md", "config.json", "extra", "model.safetensors", "special_tokens_map.json",
                     "spiece.model", "tokenizer_config.json"]
    assert (folder / "README.md").read_text(encoding="utf-8") == "my notes"
    assert (folder / "extra" / "results.txt").read_text(encoding="utf-8") == "0.9"
    assert signature(folder)[0] == 3
    assert (folder.stat().st_mode & 0o777) == mode, "the folder keeps its mode"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".model.lock", "model"]


def test_a_tokenizer_saved_alone_keeps_the_model_beside_it(tmp_path, two_models, tiny_spm):
    old, _ = two_models
    folder = tmp_path / "model"
    old.save_pretrained(folder)
    before = signature(folder)
    saved = AlbertTokenizer(tiny_spm, model_max_length=32).save_pretrained(folder)
    assert [Path(path).parent for path in saved] == [folder] * 3
    assert signature(folder) == before
    assert AlbertTokenizer.from_pretrained(folder).model_max_length == 32


def test_a_save_that_fails_leaves_the_previous_folder_as_it_was(tmp_path, two_models, monkeypatch):
    old, new = two_models
    folder = tmp_path / "model"
    old.save_pretrained(folder)
    (folder / "README.md").write_text("mine", encoding="utf-8")
    before = {path.name: path.read_bytes() for path in folder.iterdir()}

    from safetensors import torch as safetensors_torch

    def fails_half_way(tensors: Any, filename: Any, metadata: Any = None) -> None:
        Path(filename).write_bytes(b"\0" * 1000)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(safetensors_torch, "save_file", fails_half_way)
    with pytest.raises(OutputError, match=f"could not write {folder / 'model.safetensors'}: Input/output error"):
        new.save_pretrained(folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_the_swap_is_one_atomic_exchange_here(tmp_path):
    """On Linux the old and new folders trade places in one ``renameat2(RENAME_EXCHANGE)``."""
    if not os.uname().sysname == "Linux":
        pytest.skip("renameat2 is Linux's")
    assert exchange_supported(tmp_path)


def test_dead_writers_temporaries_are_cleaned_and_a_folder_moved_aside_is_put_back(tmp_path, two_models):
    old, new = two_models
    folder = tmp_path / "model"
    old.save_pretrained(folder)
    os.rename(folder, tmp_path / ".model.999999999.abcd.old")  # killed between its two renames
    (tmp_path / ".model.999999999.efgh.tmp").mkdir()  # and its half-built new folder
    (tmp_path / ".model.999999999.efgh.tmp" / "config.json").write_text("{}")
    live = tmp_path / f".model.{os.getpid()}.live.tmp"
    live.mkdir()  # a live writer's: never touched
    remove_dead_temporaries(tmp_path, "model")
    assert signature(folder)[0] == 2
    assert leftovers(tmp_path) == [live.name]
    live.rmdir()
    new.save_pretrained(folder)
    assert signature(folder)[0] == 3 and leftovers(tmp_path) == []


def test_nested_saves_join_the_outer_one(tmp_path, two_models):
    """best/ is the model, its tokenizer and the training record, swapped in together."""
    _, new = two_models
    folder = tmp_path / "best"
    with atomic_folder(folder) as building:
        new.save_pretrained(building)
        (building / "finetune.json").write_text("{}")
        assert not folder.exists()
    assert {"config.json", "model.safetensors", "finetune.json", "spiece.model"} <= {p.name for p in folder.iterdir()}


# -- killed at every point ------------------------------------------------------------------------


class Kills:
    """Numbers the points of a save where a crash can land; in a child, SIGKILLs it at one."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.kill_at, self.points = kill_at, []

    def point(self, where: str, before: Callable[[], Any] | None = None) -> None:
        self.points.append(where)
        if len(self.points) == self.kill_at:
            if before is not None:
                before()
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self, setattr: Callable[[Any, str, Any], None]) -> None:
        real_replace, real_rename, real_exchange = os.replace, os.rename, atomic_files._exchange

        def replace(source: Any, target: Any, **options: Any) -> None:
            name = Path(target).name
            self.point(f"half way through {name}", lambda: os.truncate(source, os.path.getsize(source) // 2))
            self.point(f"before renaming {name}")
            real_replace(source, target, **options)
            self.point(f"after renaming {name}")

        def rename(source: Any, target: Any, **options: Any) -> None:
            self.point(f"before moving {Path(source).name} to {Path(target).name}")
            real_rename(source, target, **options)
            self.point(f"after moving {Path(source).name} to {Path(target).name}")

        def exchange(first: Path, second: Path) -> bool:
            self.point("before the swap")
            swapped = real_exchange(first, second)
            self.point("after the swap, the old folder not yet removed")
            return swapped

        setattr(os, "replace", replace)
        setattr(os, "rename", rename)
        setattr(atomic_files, "_exchange", exchange)


Variant = Callable[[Callable[[Any, str, Any], None]], None]


def _killed_at(save: Callable[[], Any], point: int, variant: Variant | None = None) -> None:
    def child() -> None:
        if variant is not None:
            variant(setattr)
        Kills(point).install(setattr)
        save()

    process = FORK.Process(target=child)
    process.start()
    process.join(120)
    assert process.exitcode == -signal.SIGKILL, f"not killed at point {point} (exit {process.exitcode})"


def _kill_everywhere(tmp_path: Path, two_models: tuple, monkeypatch: pytest.MonkeyPatch, every: bool,
                     variant: Variant | None = None) -> int:
    old, new = two_models
    folder = tmp_path / "model"
    old.save_pretrained(folder)
    (folder / "README.md").write_text("mine", encoding="utf-8")
    previous, expected = signature(folder), None

    kills = Kills()
    with monkeypatch.context() as patch:
        if variant is not None:
            variant(patch.setattr)
        kills.install(patch.setattr)
        new.save_pretrained(folder)
    expected = signature(folder)
    points = kills.points
    assert expected != previous

    chosen = range(1, len(points) + 1)
    if not every:
        named = [label for label in ("half way through model.safetensors", "before the swap",
                                     "after the swap, the old folder not yet removed") if label in points]
        others = sorted(set(chosen) - {points.index(label) + 1 for label in named})
        chosen = sorted({points.index(label) + 1 for label in named} | set(random.Random(23).sample(others, 2)))
    for point in chosen:
        old.save_pretrained(folder)
        _killed_at(lambda: new.save_pretrained(folder), point, variant)
        if not folder.exists():  # killed between the two renames of a system without an exchange
            assert "moving" in points[point - 1], points[point - 1]
            remove_dead_temporaries(tmp_path, "model")  # what the next save does first
        assert signature(folder) in (previous, expected), f"killed {points[point - 1]}"
        assert (folder / "README.md").read_text(encoding="utf-8") == "mine"
        new.save_pretrained(folder)  # the next save cleans up after the killed one
        assert signature(folder) == expected and leftovers(tmp_path) == [], points[point - 1]
    print(f"\nkill points: {len(points)}, killed at {len(chosen)}")  # for docs/reliability.md (-s -n 0)
    return len(chosen)


def test_a_save_killed_anywhere_leaves_a_whole_model(tmp_path, two_models, monkeypatch):
    assert _kill_everywhere(tmp_path, two_models, monkeypatch, every=False) == 5


@pytest.mark.slow
def test_a_save_killed_at_every_point_leaves_a_whole_model(tmp_path, two_models, monkeypatch):
    _kill_everywhere(tmp_path, two_models, monkeypatch, every=True)


@pytest.mark.slow
def test_without_an_atomic_exchange_a_killed_save_is_undone_by_the_next(tmp_path, two_models, monkeypatch):
    """Where renameat2 is missing the old folder is renamed aside, the new one renamed in: a kill
    between the two leaves no folder until the next save (or any clean-up) puts the old one back."""
    _kill_everywhere(tmp_path, two_models, monkeypatch, every=True,
                     variant=lambda setattr: setattr(atomic_files, "_exchange", lambda first, second: False))


# -- where no sibling folder can be made: file by file, config.json last --------------------------


@pytest.fixture
def closed_parent(tmp_path):
    """A parent folder that takes no new entry (mode 0555, and for root ``chattr +i``), holding a
    writable ``model`` folder."""
    parent = tmp_path / "parent"
    (parent / "model").mkdir(parents=True)
    parent.chmod(0o555)
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode == 0
    try:
        (parent / "probe").mkdir()
    except OSError:
        pass
    else:
        (parent / "probe").rmdir()
        parent.chmod(0o755)
        pytest.skip("cannot close a folder to new entries here (root without chattr)")
    yield parent / "model"
    if immutable:
        subprocess.run(["chattr", "-i", str(parent)], check=True)
    parent.chmod(0o755)


def test_a_folder_whose_parent_is_closed_is_saved_file_by_file_config_last(closed_parent, two_models, monkeypatch):
    old, new = two_models
    folder = closed_parent
    old.save_pretrained(folder, safe_serialization=False)
    (folder / "README.md").write_text("mine", encoding="utf-8")
    renamed: list[str] = []
    replace = os.replace

    def recording(source: Any, target: Any, **options: Any) -> None:
        if Path(target).parent == folder:
            renamed.append(Path(target).name)
        replace(source, target, **options)

    monkeypatch.setattr(os, "replace", recording)
    new.save_pretrained(folder)
    assert renamed[-1] == "config.json" and "model.safetensors" in renamed
    assert signature(folder)[0] == 3
    assert sorted(path.name for path in folder.iterdir()) == [
        ".model.lock", "README.md", "config.json", "model.safetensors", "spiece.model", "tokenizer_config.json"]


@pytest.mark.slow
def test_a_file_by_file_save_killed_anywhere_never_shows_a_new_config_beside_old_weights(
    closed_parent, two_models, monkeypatch
):
    """The weaker promise: a folder whose config.json is the new one is the whole new model."""
    old, new = two_models
    folder = closed_parent
    kills = Kills()
    old.save_pretrained(folder)
    with monkeypatch.context() as patch:
        kills.install(patch.setattr)
        new.save_pretrained(folder)
    for point in range(1, len(kills.points) + 1):
        old.save_pretrained(folder)
        _killed_at(lambda: new.save_pretrained(folder), point)
        labels = AlbertConfig.from_json_file(folder / "config.json").num_labels
        if labels == 3:
            assert signature(folder)[0] == 3, kills.points[point - 1]


# -- Flax -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_flax_save_is_all_or_nothing(tmp_path, make_tiny_model, monkeypatch):
    pytest.importorskip("flax")
    from albert.flax import FlaxAlbertForMaskedLM

    model = FlaxAlbertForMaskedLM.from_pretrained(make_tiny_model())
    folder = tmp_path / "flax"
    model.save_pretrained(folder)
    (folder / "README.md").write_text("mine", encoding="utf-8")
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    from safetensors import numpy as safetensors_numpy

    def disk_full(tensors: Any, filename: Any, metadata: Any = None) -> None:
        Path(filename).write_bytes(b"\0" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors_numpy, "save_file", disk_full)
    with pytest.raises(OSError, match=f"disk full: could not write {folder / 'model.safetensors'}"):
        model.save_pretrained(folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert leftovers(tmp_path) == []
