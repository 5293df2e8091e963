"""albert.atomic_files: every file albert writes appears whole or not at all, with the mode an
ordinary open() gives, and the temporaries of writers that died are cleaned up."""

from __future__ import annotations

import os
import stat

import pytest
from support.pretrain import tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401  (fixtures)

from albert.atomic_files import atomic_path, write_bytes_atomic, write_text_atomic
from albert.tokenizer import AlbertTokenizer
from albert.wordpiece import AlbertWordPieceTokenizer


def test_a_failed_write_leaves_the_target_untouched_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as temporary:
            temporary.write_text("half of the new", encoding="utf-8")
            raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.json"]
    assert write_text_atomic(target, "new") == target and target.read_text(encoding="utf-8") == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.json"]


@pytest.mark.parametrize("durable", [False, True])
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_finished_files_get_the_mode_of_an_ordinary_open(tmp_path, umask, durable):
    previous = os.umask(umask)
    try:
        written = write_bytes_atomic(tmp_path / "weights.bin", b"\x00\x01", durable=durable)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask
    assert written.read_bytes() == b"\x00\x01"


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = tmp_path / ".out.json.999999999.abc.tmp"  # no such process id
    alive = tmp_path / f".out.json.{os.getpid()}.xyz.tmp"
    other_target = tmp_path / ".other.json.999999999.abc.tmp"
    for path in (dead, alive, other_target):
        path.write_text("partial", encoding="utf-8")
    write_text_atomic(tmp_path / "out.json", "{}\n")
    assert not dead.exists()
    assert alive.exists() and other_target.exists()
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == "{}\n"


def test_tokenizer_files_are_written_whole_or_not_at_all(tmp_path, tiny_spm, monkeypatch):
    """A save that fails at the rename leaves the files of the previous save as they were."""
    wordpiece = tmp_path / "vocab.txt"
    wordpiece.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n", encoding="utf-8")
    for tokenizer in (AlbertTokenizer(tiny_spm, model_max_length=64), AlbertWordPieceTokenizer(wordpiece)):
        folder = tmp_path / type(tokenizer).__name__
        saved = tokenizer.save_pretrained(folder)
        before = {path: open(path, "rb").read() for path in saved}
        tokenizer.model_max_length = 32

        def refuse(source, destination):
            raise OSError("rename refused")

        with monkeypatch.context() as patch:
            patch.setattr(os, "replace", refuse)
            with pytest.raises(OSError, match="rename refused"):
                tokenizer.save_pretrained(folder)
        assert {path: open(path, "rb").read() for path in saved} == before
        assert sorted(path.name for path in folder.iterdir()) == sorted(os.path.basename(path) for path in saved)


# -- end to end: what the commands and the training loops write (issue 16, items 2 to 4) ---------

UMASK = 0o027  # not the usual 0o022: a mode that only comes from the umask


@pytest.fixture
def umask():
    previous = os.umask(UMASK)
    yield 0o666 & ~UMASK
    os.umask(previous)


def _modes(folder) -> dict[str, int]:
    return {str(path.relative_to(folder)): stat.S_IMODE(path.stat().st_mode) for path in folder.rglob("*")
            if path.is_file()}


def _embed(model, output, *extra):
    from typer.testing import CliRunner

    from albert.cli import app

    return CliRunner().invoke(app, ["embed", "a first text.", "and a second one.", "--model", str(model),
                                    "--output", str(output), *extra])


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".npy"])
def test_embed_outputs_respect_the_umask_and_clean_stale_temporaries(tmp_path, make_tiny_model, umask, suffix):
    output = tmp_path / f"out{suffix}"
    stale = tmp_path / f".{output.name}.999999999.b6kwkfja.tmp"  # left by a killed run: 0 bytes, writer gone
    stale.write_bytes(b"")
    result = _embed(make_tiny_model(), output)
    assert result.exit_code == 0, result.output
    assert _modes(tmp_path) == {output.name: umask}  # the stale temporary is gone too


def test_save_pretrained_respects_the_umask_and_cleans_stale_temporaries(tmp_path, make_tiny_model, umask):
    from albert import AlbertForMaskedLM

    model = AlbertForMaskedLM.from_pretrained(make_tiny_model())
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / ".model.safetensors.999999999.x1y2z3.tmp").write_bytes(b"")
    model.save_pretrained(folder)
    modes = _modes(folder)
    assert "model.safetensors" in modes and set(modes.values()) == {umask}, modes
    assert not list(folder.glob(".*.tmp"))


def test_training_outputs_respect_the_umask(tmp_path, make_tiny_model, umask, tiny_data_dir, tiny_tokenizer):  # noqa: F811
    from support.finetune import classification_records, write_jsonl
    from support.tiny import TINY_SHAPE

    from albert.training.finetuning.trainer import FinetuneSettings, finetune
    from albert.training.pretraining.trainer import PretrainSettings, pretrain

    pretrained = tmp_path / "pretrain"
    pretrain("albert-base-v2", tiny_tokenizer, [tiny_data_dir], pretrained, config_overrides=TINY_SHAPE,
             settings=PretrainSettings(steps=2, batch_size=8, max_seq_length=64, log_every=1, checkpoint_every=2,
                                       eval_batches=1, progress=False, num_threads=1))
    train = write_jsonl(tmp_path / "train.jsonl", classification_records(16, seed=1))
    finetuned = tmp_path / "finetune"
    finetune(make_tiny_model(), train, train, finetuned,
             FinetuneSettings(task="text-classification", epochs=1, batch_size=8, max_length=32, threads=1,
                              progress=False))
    for folder, expected in ((pretrained, {"final/model.safetensors", "checkpoints/step-00000002.pt", "metrics.jsonl",
                                           "summary.json", "run.json", "curves.png"}),
                             (finetuned, {"best/model.safetensors", "metrics.json", "metrics.jsonl", "run.json"})):
        modes = _modes(folder)
        assert expected <= set(modes), sorted(modes)
        assert {name: mode for name, mode in modes.items() if mode != umask} == {}


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder that refuses new files, really: mode 0555, and as root (whom modes do not stop)
    the immutable attribute; skips where neither works (a root without chattr)."""
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        (folder / "probe").touch()
    except OSError:
        pass
    else:
        (folder / "probe").unlink()
        pytest.skip("cannot make a folder read-only here (root without chattr)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".npy"])
def test_an_unwritable_output_is_refused_before_the_model_runs(read_only_folder, make_tiny_model, monkeypatch, suffix):
    from albert.cli import pipeline_commands

    def no_model_work(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(pipeline_commands, "_pipeline", no_model_work)
    output = read_only_folder / f"out{suffix}"
    result = _embed(make_tiny_model(), output)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot write {output}: ") and result.output.count("\n") == 1
    assert ".tmp" not in result.output


def test_a_write_that_fails_midway_names_the_users_file(tmp_path, make_tiny_model, monkeypatch):
    """A full disk found while writing: the message names --output, not the hidden temporary."""
    import errno

    def disk_full(source, target):
        raise OSError(errno.ENOSPC, "No space left on device", str(source), None, str(target))

    output, model = tmp_path / "out.parquet", make_tiny_model()
    monkeypatch.setattr(os, "replace", disk_full)
    result = _embed(model, output)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert f"disk full: could not write {output} (" in result.output and ".tmp" not in result.output
    assert not list(tmp_path.iterdir())
