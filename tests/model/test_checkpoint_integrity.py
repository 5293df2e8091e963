"""A damaged or mismatched checkpoint is refused, never loaded with re-initialised layers.

Three lines of defence, each tested on its own and then together on randomly damaged folders:
the encoder must be complete (only a whole task head may be missing), the safetensors files albert
writes carry a sha256 of their tensors that loading verifies, and a pickled checkpoint is refused
without passing on torch's advice to turn the safety off.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from support.tiny import tiny_config

import albert
from albert import CheckpointError
from albert.checkpoint_files import CHECKSUM_KEY, VERIFY_CHECKSUMS_ENV, tensors_sha256, verify_checksum
from albert.hub import shipped_models

VOCAB = 120
FFN_OUTPUT_BIAS = "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.bias"
HEADS = [albert.AlbertModel, albert.AlbertForPreTraining, albert.AlbertForMaskedLM,
         albert.AlbertForSequenceClassification, albert.AlbertForTokenClassification,
         albert.AlbertForQuestionAnswering, albert.AlbertForMultipleChoice]  # fmt: skip


# -- helpers: damage a file as a flipped bit on a disk or in a download would --------------------

def header_of(path: Path) -> tuple[dict, int]:
    """A safetensors file's header (its JSON) and where its data section starts."""
    with open(path, "rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        return json.loads(file.read(size)), 8 + size


def flip_name_bit(path: Path, rng: random.Random, name: str | None = None) -> str:
    """Flip one bit of one character of a tensor's name in the header (random unless ``name``)."""
    header, _ = header_of(path)
    name = name or rng.choice(sorted(key for key in header if key != "__metadata__"))
    data = bytearray(path.read_bytes())
    start = data.index(json.dumps(name).encode() + b":") + 1  # the name's first character
    data[start + rng.randrange(len(name))] ^= 1 << rng.randrange(7)  # stays ASCII
    path.write_bytes(bytes(data))
    return name


def flip_data_bit(path: Path, rng: random.Random) -> int:
    """Flip one random bit of the tensor data; returns the byte's offset."""
    _, start = header_of(path)
    data = bytearray(path.read_bytes())
    offset = rng.randrange(start, len(data))
    data[offset] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return offset


def without_checksum(path: Path, drop: str | None = None) -> None:
    """Rewrite ``path`` as a tool other than albert would (no ``albert.sha256``), optionally without a tensor."""
    tensors = {name: tensor for name, tensor in load_file(path).items() if name != drop}
    save_file(tensors, str(path), metadata={"format": "pt"})


def weight_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def fill_mask_cli(folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``albert fill-mask --model FOLDER`` in this process (typer's runner)."""
    from typer.testing import CliRunner

    from albert.cli import app

    result = CliRunner().invoke(app, ["fill-mask", "--model", str(folder), "a [MASK] here."], env=env)
    return subprocess.CompletedProcess([], result.exit_code, result.stdout, result.stderr)


def assert_one_error_line(process: subprocess.CompletedProcess, *needles: str) -> None:
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert process.returncode == 1, (process.returncode, process.stdout, process.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), process.stderr
    assert "Traceback" not in process.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def tiny_mlm(tmp_path: Path, make_tiny_model) -> Path:
    """A copy of a tiny MLM folder with the tiny tokenizer (each test damages its own)."""
    folder = tmp_path / "mlm"
    shutil.copytree(make_tiny_model(albert.AlbertForMaskedLM, seed=3), folder)
    return folder


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "shipped"
    shutil.copytree(shipped_models()["albert-small-en"], folder)
    return folder


# -- 1. an incomplete encoder is refused -----------------------------------------------------------

def test_a_flipped_bit_in_a_tensor_name_is_refused_naming_both_tensors(tiny_mlm, monkeypatch):
    """The issue's case: ffn_output.bias -> ffn_outptt.bias loaded with two warnings and exit 0."""
    path = tiny_mlm / "model.safetensors"
    data = path.read_bytes().replace(FFN_OUTPUT_BIAS.encode(), FFN_OUTPUT_BIAS.replace("output", "outptt").encode())
    assert data != path.read_bytes()  # 'u' ^ 0x01 = 't': one bit
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="is damaged: its tensor data does not match the sha256"):
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)
    monkeypatch.setenv(VERIFY_CHECKSUMS_ENV, "0")  # the completeness check alone
    with pytest.raises(CheckpointError) as error:
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)
    message = str(error.value)
    damaged = FFN_OUTPUT_BIAS.replace("ffn_output", "ffn_outptt")
    assert f"lacks 1 weight of AlbertForMaskedLM's encoder: '{FFN_OUTPUT_BIAS}'" in message
    assert f"does not have: '{damaged}'" in message
    assert f"'{damaged}' looks like '{FFN_OUTPUT_BIAS}' with a damaged name" in message
    assert_one_error_line(fill_mask_cli(tiny_mlm), "ffn_outptt.bias", "damaged name")


@pytest.mark.parametrize("head", HEADS, ids=lambda cls: cls.__name__)
def test_every_head_refuses_a_checkpoint_without_an_encoder_weight(tmp_path, head):
    torch.manual_seed(0)
    albert.AlbertForPreTraining(tiny_config(vocab_size=VOCAB)).save_pretrained(tmp_path)
    without_checksum(tmp_path / "model.safetensors", drop="albert.encoder.embedding_hidden_mapping_in.weight")
    with pytest.raises(CheckpointError, match=r"lacks 1 weight of \w+'s encoder: '(albert\.)?encoder"
                                              r"\.embedding_hidden_mapping_in\.weight'.*config\.json"):
        head.from_pretrained(tmp_path)


def test_a_config_with_more_layer_groups_than_the_weights_is_refused(tiny_mlm):
    config = json.loads((tiny_mlm / "config.json").read_text())
    config["num_hidden_groups"] = 4  # the weights hold 2
    (tiny_mlm / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"lacks \d+ weights .*albert_layer_groups\.2\..*num_hidden_groups"):
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)


def test_a_head_that_is_only_partly_there_is_refused(tiny_mlm):
    without_checksum(tiny_mlm / "model.safetensors", drop="predictions.dense.weight")
    with pytest.raises(CheckpointError, match=r"holds only part of the 'predictions\.' head .*'predictions\.dense\.weight'"):
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)
    albert.AlbertModel.from_pretrained(tiny_mlm)  # the encoder is whole: a model without that head loads


def test_ignore_mismatched_sizes_reinitialises_heads_only(tiny_mlm):
    config = json.loads((tiny_mlm / "config.json").read_text())
    config["intermediate_size"] += 3
    (tiny_mlm / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"ffn\.weight' has shape .* re-initialises task heads only"):
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm, ignore_mismatched_sizes=True)


def test_checkpoints_that_lack_only_heads_still_load(tmp_path):
    """A masked-LM checkpoint (ours or transformers': the same names, no pooler) with the buffers
    old transformers versions saved loads into every head: only its pooler and heads are new."""
    torch.manual_seed(0)
    config = tiny_config(vocab_size=VOCAB)
    albert.AlbertForMaskedLM(config).save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    tensors = load_file(path)
    assert not any(name.startswith("albert.pooler.") for name in tensors)
    tensors["albert.embeddings.position_ids"] = torch.arange(config.max_position_embeddings)[None]
    save_file(tensors, str(path), metadata={"format": "pt"})
    for head in HEADS:
        model, info = head.from_pretrained(tmp_path, output_loading_info=True)
        assert all(name.startswith(("albert.pooler.", "pooler.", "classifier.", "qa_outputs.", "sop_classifier."))
                   for name in info.missing_keys), (head.__name__, info.missing_keys)  # fmt: skip


# -- 2. checksums ------------------------------------------------------------------------------------

def test_albert_writes_a_checksum_into_every_file_and_each_shard(tmp_path):
    torch.manual_seed(0)
    model = albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).eval()
    model.save_pretrained(tmp_path / "one")
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shards = weight_files(tmp_path / "sharded")
    assert len(shards) > 2
    for path in [tmp_path / "one" / "model.safetensors", *shards]:
        metadata = safe_open(path, "pt").metadata()
        assert metadata["format"] == "pt" and len(metadata[CHECKSUM_KEY]) == 64
        assert verify_checksum(path, True)
    digests = {safe_open(path, "pt").metadata()[CHECKSUM_KEY] for path in shards}
    assert len(digests) == len(shards)  # each over its own tensors


def test_the_same_weights_always_give_the_same_bytes(tmp_path):
    """safetensors writes its metadata in a random order (a Rust HashMap): with the checksum beside
    "format", the header is put in order, so a resumed run writes the bytes of an uninterrupted one."""
    torch.manual_seed(0)
    model = albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB))
    files = set()
    for attempt in range(12):  # unordered, all twelve would agree by chance once in 2,048 runs
        model.save_pretrained(tmp_path / str(attempt))
        files.add((tmp_path / str(attempt) / "model.safetensors").read_bytes())
    assert len(files) == 1
    assert safe_open(tmp_path / "0" / "model.safetensors", "pt").metadata()["format"] == "pt"


def test_the_digest_covers_names_dtypes_shapes_and_bytes_in_any_order():
    data = bytes(range(8))
    base = tensors_sha256([("a", "F32", [2], data), ("b", "U8", [8], data)])
    assert base == tensors_sha256([("b", "U8", [8], data), ("a", "F32", [2], data)])
    for changed in ([("A", "F32", [2], data)], [("a", "F16", [2], data)], [("a", "F32", [1, 2], data)],
                    [("a", "F32", [2], bytes([1, *data[1:]]))]):  # fmt: skip
        assert tensors_sha256([*changed, ("b", "U8", [8], data)]) != base


def test_a_changed_data_byte_is_refused_in_a_file_and_in_a_shard(tmp_path):
    torch.manual_seed(0)
    model = albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).eval()
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    damaged = weight_files(tmp_path)[1]
    flip_data_bit(damaged, random.Random(0))
    with pytest.raises(CheckpointError) as error:
        albert.AlbertForMaskedLM.from_pretrained(tmp_path)
    assert str(error.value) == (
        f"{damaged} is damaged: its tensor data does not match the sha256 albert recorded when it wrote the "
        "file; download or save it again"
    )


def test_verification_can_be_skipped_by_argument_or_environment(tiny_mlm, monkeypatch):
    flip_data_bit(tiny_mlm / "model.safetensors", random.Random(1))
    with pytest.raises(CheckpointError, match="is damaged"):
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)
    albert.AlbertForMaskedLM.from_pretrained(tiny_mlm, verify_checksums=False)
    monkeypatch.setenv(VERIFY_CHECKSUMS_ENV, "0")
    albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)
    with pytest.raises(CheckpointError, match="is damaged"):
        albert.AlbertForMaskedLM.from_pretrained(tiny_mlm, verify_checksums=True)  # the argument wins


def test_files_from_elsewhere_have_no_checksum_and_load_as_before(tiny_mlm):
    path = tiny_mlm / "model.safetensors"
    without_checksum(path)
    assert CHECKSUM_KEY not in safe_open(path, "pt").metadata()
    assert not verify_checksum(path, True)
    flip_data_bit(path, random.Random(2))  # undetectable without a checksum: loads as it always did
    albert.AlbertForMaskedLM.from_pretrained(tiny_mlm)


def test_bfloat16_and_float16_files_verify(tmp_path):
    torch.manual_seed(0)
    for dtype in (torch.bfloat16, torch.float16):
        folder = tmp_path / str(dtype)
        albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).to(dtype).save_pretrained(folder)
        assert verify_checksum(folder / "model.safetensors", True)
        assert albert.AlbertForMaskedLM.from_pretrained(folder, dtype="auto").dtype == dtype


def test_the_shipped_model_carries_a_checksum_and_a_damaged_copy_is_refused(shipped_copy):
    shipped = shipped_models()["albert-small-en"] / "model.safetensors"
    assert verify_checksum(shipped, True)
    flip_data_bit(shipped_copy / "model.safetensors", random.Random(3))
    with pytest.raises(CheckpointError, match="model.safetensors is damaged"):
        albert.AlbertForMaskedLM.from_pretrained(shipped_copy)
    assert_one_error_line(fill_mask_cli(shipped_copy), "model.safetensors is damaged")


def test_torch_and_flax_write_the_same_digest_and_read_each_other(tmp_path):
    pytest.importorskip("flax")
    from albert.flax import FlaxAlbertForMaskedLM

    torch.manual_seed(0)
    albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).save_pretrained(tmp_path / "torch")
    FlaxAlbertForMaskedLM.from_pretrained(tmp_path / "torch").save_pretrained(tmp_path / "flax")
    digests = [safe_open(tmp_path / name / "model.safetensors", "np").metadata()[CHECKSUM_KEY] for name in ("torch", "flax")]
    assert digests[0] == digests[1]
    flip_data_bit(tmp_path / "flax" / "model.safetensors", random.Random(4))
    with pytest.raises(CheckpointError, match="is damaged"):
        FlaxAlbertForMaskedLM.from_pretrained(tmp_path / "flax")
    with pytest.raises(CheckpointError, match="is damaged"):
        albert.AlbertForMaskedLM.from_pretrained(tmp_path / "flax")


# -- 3. pickles: refused without torch's advice to turn the safety off -----------------------------

class Unlisted:
    """Any class torch's weights_only unpickler does not allow (here: one of this module)."""


def pickled_folder(folder: Path, kind: str, source: Path) -> Path:
    folder.mkdir()
    for name in ("config.json", "spiece.model", "tokenizer_config.json"):
        shutil.copy(source / name, folder)
    state = {"albert.embeddings.word_embeddings.weight": Unlisted()}
    if kind == "torch-zip":
        torch.save(state, folder / "pytorch_model.bin")
    else:
        (folder / "pytorch_model.bin").write_bytes(pickle.dumps(state, protocol=2))
    return folder


@pytest.mark.parametrize("kind", ["torch-zip", "protocol-2"])
def test_a_refused_pickle_never_advises_weights_only_false(tmp_path, kind, tiny_mlm):
    folder = pickled_folder(tmp_path / kind, kind, tiny_mlm)
    with pytest.raises(CheckpointError) as error:
        albert.AlbertForMaskedLM.from_pretrained(folder)
    message = str(error.value)
    assert "refusing to load" in message and "Unlisted" in message
    assert "weights_only" not in message and "safe_globals" not in message
    process = fill_mask_cli(folder)
    assert_one_error_line(process, "refusing to load")
    assert "weights_only" not in process.stderr and "weights_only" not in process.stdout

    from albert.training.checkpoints import CheckpointManager, CheckpointReadError

    with pytest.raises(CheckpointReadError) as error:
        CheckpointManager(tmp_path / "run").load(folder / "pytorch_model.bin")
    assert "Unlisted" in str(error.value) and "weights_only" not in str(error.value)


def test_a_refused_pickle_in_a_real_process_prints_no_weights_only(tmp_path, tiny_mlm):
    folder = pickled_folder(tmp_path / "zip", "torch-zip", tiny_mlm)
    process = subprocess.run(
        [sys.executable, "-m", "albert.cli", "fill-mask", "--model", str(folder), "a [MASK] here."],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_one_error_line(process, "refusing to load")
    assert "weights_only" not in process.stderr + process.stdout


# -- 4. systematic: random damage to real folders ----------------------------------------------------

def damaged_folders(tmp_path: Path, make_tiny_model, source: str, damage: str, seed: int) -> tuple[Path, str]:
    """A folder of ``source`` with one random bit flipped in a tensor name or in the data of one of its
    weight files; returns it and the class it was saved from."""
    rng = random.Random(f"{source}-{damage}-{seed}")
    folder = tmp_path / f"{source}-{damage}-{seed}"
    if source == "shipped":
        shutil.copytree(shipped_models()["albert-small-en"], folder)
    elif source == "tiny":
        shutil.copytree(make_tiny_model(albert.AlbertForMaskedLM, seed=5), folder)
    elif source == "sharded":
        shutil.copytree(make_tiny_model(albert.AlbertForMaskedLM, seed=5), folder)
        albert.AlbertForMaskedLM.from_pretrained(folder).save_pretrained(folder, max_shard_size="20KB")
    else:  # flax
        pytest.importorskip("flax")
        from albert.flax import FlaxAlbertForMaskedLM

        FlaxAlbertForMaskedLM.from_pretrained(make_tiny_model(albert.AlbertForMaskedLM, seed=5)).save_pretrained(folder)
    path = rng.choice(weight_files(folder))
    (flip_name_bit if damage == "name" else flip_data_bit)(path, rng)
    architecture = json.loads((folder / "config.json").read_text())["architectures"][0]
    return folder, architecture


SOURCES = ["shipped", "tiny", "sharded", "flax"]


def check_refused(folder: Path, architecture: str, damage: str) -> None:
    """Refused from Python (checksums on; for names also off, through the completeness check alone)
    and from the CLI (one error line, exit 1)."""
    with pytest.raises(CheckpointError):
        albert.AlbertForMaskedLM.from_pretrained(folder)
    assert_one_error_line(fill_mask_cli(folder))
    if damage == "name":
        with pytest.raises(CheckpointError):
            getattr(albert, architecture).from_pretrained(folder, verify_checksums=False)
        if architecture == "AlbertForMaskedLM":  # every tensor is fill-mask's: refused without a checksum too
            assert_one_error_line(fill_mask_cli(folder, env={VERIFY_CHECKSUMS_ENV: "0"}))
    if folder.name.startswith("flax"):
        from albert.flax import FlaxAlbertForMaskedLM

        with pytest.raises(CheckpointError):
            FlaxAlbertForMaskedLM.from_pretrained(folder)


@pytest.mark.parametrize("damage", ["name", "data"])
@pytest.mark.parametrize("source", SOURCES)
def test_random_damage_is_refused(tmp_path, make_tiny_model, source, damage):
    for seed in range(2):
        check_refused(*damaged_folders(tmp_path, make_tiny_model, source, damage, seed), damage)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["name", "data"])
@pytest.mark.parametrize("source", SOURCES)
def test_random_damage_is_refused_many_seeds(tmp_path, make_tiny_model, source, damage):
    for seed in range(2, 27):
        check_refused(*damaged_folders(tmp_path, make_tiny_model, source, damage, seed), damage)


@pytest.mark.slow
def test_random_damage_is_refused_by_the_real_command(tmp_path, make_tiny_model):
    for source, damage in [("shipped", "name"), ("shipped", "data"), ("sharded", "data")]:
        folder, _ = damaged_folders(tmp_path, make_tiny_model, source, damage, 0)
        process = subprocess.run(
            [sys.executable, "-m", "albert.cli", "fill-mask", "--model", str(folder), "a [MASK] here."],
            capture_output=True, text=True, timeout=120, env={**os.environ},
        )  # fmt: skip
        assert_one_error_line(process)
