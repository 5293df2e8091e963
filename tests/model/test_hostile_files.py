"""Hostile model folders: each gives one clear error, from Python and from the command line, and
nothing in them runs.

Every case starts from a good tiny model folder and breaks one thing: the weights (truncated,
random, empty, a header claiming exabytes, a header that is not JSON), config.json (not JSON, a
list, fields of the wrong kind, sizes that do not fit the weights), the tokenizer (missing,
random, empty, larger than the model's vocabulary), pickles that would run code (raw, in a torch
zip, behind a shard index, in a training checkpoint) and shard indexes that point outside the
folder. From Python the error is one of ours, raised without a chained traceback; from the CLI it
is one ``error:`` line, exit status 1, no traceback and no warning first. A pickle that would
create a marker file never creates it.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from albert.cli import app
from albert.pipelines import pipeline

SHIPPED_VOCAB = Path(__file__).resolve().parents[2] / "src" / "albert" / "models" / "albert-small-en" / "spiece.model"


class RunsCode:
    """Unpickling this calls ``open(marker, "w")``: the marker file says the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _write_json(path: Path, value: object) -> None:
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")


def _edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    _write_json(folder / "config.json", {**config, **changes})


def _weights(folder: Path) -> Path:
    return folder / "model.safetensors"


def _replace_weights_with_pickle(folder: Path, marker: Path, *, raw: bool = False, name: str = "pytorch_model.bin"):
    _weights(folder).unlink()
    payload = {"albert.embeddings.word_embeddings.weight": RunsCode(marker)}
    if raw:  # the legacy format: a bare pickle stream
        (folder / name).write_bytes(pickle.dumps(payload, protocol=4))
    else:  # torch.save's zip archive
        torch.save(payload, folder / name)


def _shard_index(folder: Path, shard: str, index: str = "model.safetensors.index.json") -> None:
    _write_json(folder / index, {"metadata": {}, "weight_map": {"albert.embeddings.word_embeddings.weight": shard}})


def _safetensors_header(header: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header


#: name -> (how to break the folder, a fragment the error must hold). Each takes (folder, marker).
CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "truncated safetensors": (
        lambda f, m: _weights(f).write_bytes(_weights(f).read_bytes()[:1000]), "not a readable safetensors file"),
    "random safetensors": (lambda f, m: _weights(f).write_bytes(os.urandom(5000)), "not a readable safetensors file"),
    "empty safetensors": (lambda f, m: _weights(f).write_bytes(b""), "not a readable safetensors file"),
    "huge header": (lambda f, m: _weights(f).write_bytes(_safetensors_header(b"{}", 2**62)),
                    "not a readable safetensors file"),
    "header that is not JSON": (lambda f, m: _weights(f).write_bytes(_safetensors_header(b"{not json}   ")),
                                "not a readable safetensors file"),
    "tensor past the end": (lambda f, m: _weights(f).write_bytes(_safetensors_header(json.dumps(
        {"albert.embeddings.word_embeddings.weight": {"dtype": "F32", "shape": [1000, 16],
                                                      "data_offsets": [0, 64000]}}).encode())),
        "not a readable safetensors file"),
    "config.json not JSON": (lambda f, m: _write_json(f / "config.json", "{bad"), "config.json is not valid JSON"),
    "config.json a list": (lambda f, m: _write_json(f / "config.json", [1, 2]), "must hold a JSON object"),
    "config.json empty": (lambda f, m: _write_json(f / "config.json", ""), "config.json is not valid JSON"),
    "vocab_size a string": (lambda f, m: _edit_config(f, vocab_size="400"), "vocab_size must be an integer"),
    "hidden_size a boolean": (lambda f, m: _edit_config(f, hidden_size=True), "hidden_size must be an integer"),
    "id2label a list": (lambda f, m: _edit_config(f, id2label=["a", "b"]), "id2label must be a JSON object"),
    "layer_norm_eps a string": (lambda f, m: _edit_config(f, layer_norm_eps="small"), "layer_norm_eps must be a number"),
    "no config.json": (lambda f, m: (f / "config.json").unlink(), "has no config.json"),
    "hidden size of other weights": (lambda f, m: _edit_config(f, hidden_size=64), "weights do not fit the model"),
    "vocab_size of other weights": (lambda f, m: _edit_config(f, vocab_size=300), "weights do not fit the model"),
    "tokenizer larger than the model": (lambda f, m: shutil.copy(SHIPPED_VOCAB, f / "spiece.model"),
                                        "the tokenizer has 30,000 pieces but the model"),
    "no spiece.model": (lambda f, m: (f / "spiece.model").unlink(), "has no tokenizer vocabulary"),
    "random spiece.model": (lambda f, m: (f / "spiece.model").write_bytes(os.urandom(3000)),
                            "as a SentencePiece model"),
    "empty spiece.model": (lambda f, m: (f / "spiece.model").write_bytes(b""), "as a SentencePiece model"),
    "tokenizer_config.json a list": (lambda f, m: _write_json(f / "tokenizer_config.json", [1]),
                                     "must hold a JSON object"),
    "tokenizer_config.json num_threads a string": (
        lambda f, m: _write_json(f / "tokenizer_config.json", {"num_threads": "x"}), "num_threads='x' must be"),
    "tokenizer_config.json do_lower_case a string": (
        lambda f, m: _write_json(f / "tokenizer_config.json", {"do_lower_case": "no"}), "must be True or False"),
    "special_tokens_map.json mask_token not in the vocabulary": (
        lambda f, m: _write_json(f / "special_tokens_map.json", {"mask_token": "[NOPE]"}), "is not in the vocabulary"),
    "pickle that runs code (raw)": (lambda f, m: _replace_weights_with_pickle(f, m, raw=True), "refusing to load"),
    "pickle that runs code (torch zip)": (lambda f, m: _replace_weights_with_pickle(f, m), "refusing to load"),
    "pickle that runs code (sharded)": (lambda f, m: (
        _replace_weights_with_pickle(f, m, name="pytorch_model-00001-of-00001.bin"),
        _shard_index(f, "pytorch_model-00001-of-00001.bin", "pytorch_model.bin.index.json")), "refusing to load"),
    "shard index pointing outside": (lambda f, m: (
        shutil.move(_weights(f), f.parent / "outside.safetensors"), _shard_index(f, "../outside.safetensors")),
        "refusing"),
    "shard index with an absolute path": (lambda f, m: (
        shutil.move(_weights(f), f.parent / "outside.safetensors"),
        _shard_index(f, str(f.parent / "outside.safetensors"))), "refusing"),
    "shard index not JSON": (lambda f, m: (_weights(f).unlink(), _write_json(f / "model.safetensors.index.json",
                                                                             "{bad")), "is not a shard index"),
}


@pytest.fixture
def hostile(request, tmp_path, make_tiny_model) -> tuple[Path, Path, str]:
    """(the broken folder, the marker a pickle would create, the fragment its error holds)."""
    folder = tmp_path / "model"
    shutil.copytree(make_tiny_model(), folder)
    marker = tmp_path / "the-pickle-ran"
    break_folder, expected = CASES[request.param]
    break_folder(folder, marker)
    return folder, marker, expected


@pytest.mark.parametrize("hostile", sorted(CASES), indirect=True)
def test_a_hostile_folder_is_one_clear_error_from_python(hostile):
    folder, marker, expected = hostile
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises((ValueError, FileNotFoundError)) as raised:
            pipeline("fill-mask", model=folder, device="cpu")
    error = raised.value
    assert expected in str(error)
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), (
        "a chained traceback: the user sees two errors"
    )
    assert [str(warning.message) for warning in shown] == []
    assert not marker.exists(), "the pickle ran"


@pytest.mark.parametrize("hostile", sorted(CASES), indirect=True)
def test_a_hostile_folder_is_one_line_from_the_cli(hostile):
    folder, marker, expected = hostile
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # a warning already shown in this process must show again
        result = CliRunner().invoke(app, ["fill-mask", "a [MASK].", "--model", str(folder)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in lines[0] and "Traceback" not in result.output
    assert not marker.exists(), "the pickle ran"


def test_a_refused_pickle_prints_only_our_line_from_the_real_command(tmp_path, make_tiny_model):
    """Issue 16, item 7: torch's "Detected pickle protocol" warning used to come first."""
    folder = tmp_path / "model"
    shutil.copytree(make_tiny_model(), folder)
    marker = tmp_path / "the-pickle-ran"
    _replace_weights_with_pickle(folder, marker, raw=True)
    result = subprocess.run([sys.executable, "-m", "albert.cli", "embed", "hello", "--model", str(folder)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: refusing to load"), result.stderr
    assert "weights_only" not in result.stderr  # torch's advice to turn the safety off is not passed on
    assert not marker.exists()


def test_a_training_checkpoint_that_runs_code_is_refused(tmp_path):
    from albert.training.checkpoints import CheckpointManager, CheckpointReadError

    manager = CheckpointManager(tmp_path)
    manager.folder.mkdir()
    marker = tmp_path / "the-pickle-ran"
    torch.save({"step": 4, "model": RunsCode(marker)}, manager.path_for(4))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointReadError, match="step-00000004.pt cannot be read.*nothing in it was run"):
            manager.load(manager.latest())
    assert not shown and not marker.exists()
