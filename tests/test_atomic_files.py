"""albert.atomic_files: every file albert writes appears whole or not at all, with the mode an
ordinary open() gives, and the temporaries of writers that died are cleaned up."""

from __future__ import annotations

import os
import stat

import pytest

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
