"""``albert convert``: original TF checkpoints, release tarballs and TF-Hub modules -> albert folders.

The TF tests write small checkpoints and a SavedModel with TensorFlow (random weights under the
original names, in the original layouts), convert them, and compare the weights exactly and the
outputs of the original network (written here in TensorFlow ops, after google-research/albert
modeling.py and run_pretraining.py) with ours on the converted folder (<= 1e-5). They are marked
``tf`` and skip without TensorFlow; the rest (names, config mapping, hostile archives, the
missing-TensorFlow message) runs everywhere.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from support.tiny import tiny_config

import albert
from albert.convert import (
    INSTALL_HINT,
    ConversionError,
    config_from_original,
    convert_tf_checkpoint,
    convert_tf_hub,
    convert_tf_variables,
    read_original_config,
    tf_to_torch_name,
    torch_to_tf_name,
)
from albert.convert.tf_names import BOOKKEEPING, OPTIMIZER_NAMED_SLOTS, OPTIMIZER_SLOTS, is_skipped, skip_kind
from albert.errors import ConfigError, ModelNotFoundError

MAX_DIFF = 1e-5


def tf_test(function):
    """Marked ``tf`` (run alone with -m tf), kept on one xdist worker so that one process pays
    TensorFlow's import; the ``tensorflow`` fixture skips it where TensorFlow is not installed."""
    return pytest.mark.tf(pytest.mark.xdist_group("tf")(function))


@pytest.fixture
def tensorflow():
    return pytest.importorskip("tensorflow")


# -- the original network's variables, config and forward pass ----------------------------------

def original_config(vocab_size: int, **shape) -> dict:
    """An albert_config.json as the releases have them (keys and all), tiny."""
    values = {
        "attention_probs_dropout_prob": 0, "hidden_act": "gelu", "hidden_dropout_prob": 0, "embedding_size": 16,
        "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 37, "max_position_embeddings": 64,
        "num_attention_heads": 4, "num_hidden_layers": 4, "num_hidden_groups": 1, "net_structure_type": 0,
        "gap_size": 0, "num_memory_blocks": 0, "inner_group_num": 1, "down_scale_factor": 1, "type_vocab_size": 2,
        "vocab_size": vocab_size,
    }  # fmt: skip
    values.update(shape)
    return values


def original_variables(config: dict, seed: int = 0, heads: tuple[str, ...] = ("mlm", "sop"),
                       slots: tuple[str, str] | None = None) -> dict[str, np.ndarray]:
    """Random weights under the original names and shapes (kernels (in, out), SOP (2, H)), with no
    embedding_hidden_mapping_in when E == H, as modeling.py builds them; with ``slots``, two
    optimizer slots per weight under those names (``("adam_m", "adam_v")`` as
    google-research/albert's optimizers write them) and the step counter."""
    rng = np.random.default_rng(seed)
    vocab, embed, hidden = config["vocab_size"], config["embedding_size"], config["hidden_size"]
    inner = config["intermediate_size"]
    variables: dict[str, np.ndarray] = {}

    def dense(scope: str, fan_in: int, fan_out: int) -> None:
        variables[f"{scope}/kernel"] = rng.normal(0, 1 / math.sqrt(fan_in), (fan_in, fan_out))
        variables[f"{scope}/bias"] = rng.normal(0, 0.1, fan_out)

    def norm(scope: str, width: int) -> None:
        variables[f"{scope}/gamma"] = 1 + rng.normal(0, 0.1, width)
        variables[f"{scope}/beta"] = rng.normal(0, 0.1, width)

    variables["bert/embeddings/word_embeddings"] = rng.normal(0, 0.2, (vocab, embed))
    variables["bert/embeddings/token_type_embeddings"] = rng.normal(0, 0.5, (config["type_vocab_size"], embed))
    variables["bert/embeddings/position_embeddings"] = rng.normal(0, 0.5, (config["max_position_embeddings"], embed))
    norm("bert/embeddings/LayerNorm", embed)
    if embed != hidden:
        dense("bert/encoder/embedding_hidden_mapping_in", embed, hidden)
    for group in range(config["num_hidden_groups"]):
        for inner_group in range(config["inner_group_num"]):
            scope = f"bert/encoder/transformer/group_{group}/inner_group_{inner_group}"
            for part in ("query", "key", "value"):
                dense(f"{scope}/attention_1/self/{part}", hidden, hidden)
            dense(f"{scope}/attention_1/output/dense", hidden, hidden)
            norm(f"{scope}/LayerNorm", hidden)
            dense(f"{scope}/ffn_1/intermediate/dense", hidden, inner)
            dense(f"{scope}/ffn_1/intermediate/output/dense", inner, hidden)
            norm(f"{scope}/LayerNorm_1", hidden)
    dense("bert/pooler/dense", hidden, hidden)
    if "mlm" in heads:
        dense("cls/predictions/transform/dense", hidden, embed)
        norm("cls/predictions/transform/LayerNorm", embed)
        variables["cls/predictions/output_bias"] = rng.normal(0, 0.1, vocab)
    if "sop" in heads:
        variables["cls/seq_relationship/output_weights"] = rng.normal(0, 0.2, (2, hidden))
        variables["cls/seq_relationship/output_bias"] = rng.normal(0, 0.1, 2)
    variables = {name: value.astype(np.float32) for name, value in variables.items()}
    if slots is not None:
        first, second = slots
        for name in list(variables):
            variables[f"{name}/{first}"] = variables[name] * 0.5
            variables[f"{name}/{second}"] = np.abs(variables[name])
        variables["global_step"] = np.int64(125000)
    return variables


def original_forward(variables: dict[str, np.ndarray], config: dict, ids, mask, types) -> dict[str, np.ndarray]:
    """The original ALBERT forward pass in TensorFlow ops, float32, from the variables alone.

    modeling.py: embeddings -> layer norm -> (projection when E != H) -> layer i runs group
    int(i / L * G), each group its inner groups in order; attention through 3D kernels with the
    -10000 mask adder; tanh GELU; pooler tanh on [CLS]. run_pretraining.py: the MLM transform,
    layer norm and the decoder tied to the word embeddings plus output_bias; SOP (2, H) weights.
    """
    import tensorflow as tf

    v = {name: tf.constant(value) for name, value in variables.items()}
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_size = hidden // heads

    def gelu(x):
        return x * 0.5 * (1.0 + tf.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))

    activation = {"gelu": gelu, "relu": tf.nn.relu}[config["hidden_act"]]  # modeling.get_activation

    def layer_norm(x, scope):  # tf.contrib.layers.layer_norm: moments of the last axis, epsilon 1e-12
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, v[f"{scope}/beta"], v[f"{scope}/gamma"], 1e-12)

    def dense(x, scope, activation=None):
        y = tf.einsum("BFH,HO->BFO", x, v[f"{scope}/kernel"]) + v[f"{scope}/bias"]
        return activation(y) if activation else y

    def attention_ffn_block(x, scope, adder):
        def project(part):  # dense_layer_3d: [B, F, N, D]
            kernel = tf.reshape(v[f"{scope}/attention_1/self/{part}/kernel"], [hidden, heads, head_size])
            bias = tf.reshape(v[f"{scope}/attention_1/self/{part}/bias"], [heads, head_size])
            return tf.transpose(tf.einsum("BFH,HND->BFND", x, kernel) + bias, [0, 2, 1, 3])

        q, k, value = project("query"), project("key"), project("value")
        logits = tf.matmul(q, k, transpose_b=True) / math.sqrt(head_size) + adder
        context = tf.transpose(tf.matmul(tf.nn.softmax(logits), value), [0, 2, 1, 3])
        kernel = tf.reshape(v[f"{scope}/attention_1/output/dense/kernel"], [heads, head_size, hidden])
        attended = tf.einsum("BFND,NDH->BFH", context, kernel) + v[f"{scope}/attention_1/output/dense/bias"]
        attended = layer_norm(attended + x, f"{scope}/LayerNorm")
        inner = dense(attended, f"{scope}/ffn_1/intermediate/dense", activation)
        output = dense(inner, f"{scope}/ffn_1/intermediate/output/dense")
        return layer_norm(output + attended, f"{scope}/LayerNorm_1")

    ids, types = tf.constant(ids, tf.int32), tf.constant(types, tf.int32)
    seq_length = ids.shape[1]
    table = v["bert/embeddings/word_embeddings"]
    x = tf.gather(table, ids)
    x += tf.matmul(tf.one_hot(types, config["type_vocab_size"]), v["bert/embeddings/token_type_embeddings"])
    x += v["bert/embeddings/position_embeddings"][None, :seq_length]
    x = layer_norm(x, "bert/embeddings/LayerNorm")
    if "bert/encoder/embedding_hidden_mapping_in/kernel" in v:
        x = dense(x, "bert/encoder/embedding_hidden_mapping_in")
    adder = (1.0 - tf.cast(tf.constant(mask), tf.float32)[:, None, None, :]) * -10000.0
    layers, groups = config["num_hidden_layers"], config["num_hidden_groups"]
    for layer in range(layers):
        group = int(layer / layers * groups)
        for inner_group in range(config["inner_group_num"]):
            x = attention_ffn_block(x, f"bert/encoder/transformer/group_{group}/inner_group_{inner_group}", adder)
    outputs = {"sequence": x}
    if "bert/pooler/dense/kernel" in v:
        pooled = tf.tanh(tf.matmul(x[:, 0], v["bert/pooler/dense/kernel"]) + v["bert/pooler/dense/bias"])
        outputs["pooled"] = pooled
    if "cls/predictions/output_bias" in v:
        transformed = dense(x, "cls/predictions/transform/dense", activation)
        transformed = layer_norm(transformed, "cls/predictions/transform/LayerNorm")
        outputs["mlm"] = tf.einsum("BFE,VE->BFV", transformed, table) + v["cls/predictions/output_bias"]
    if "cls/seq_relationship/output_bias" in v:
        weights = v["cls/seq_relationship/output_weights"]
        outputs["sop"] = tf.matmul(pooled, weights, transpose_b=True) + v["cls/seq_relationship/output_bias"]
    return {name: value.numpy() for name, value in outputs.items()}


def write_checkpoint(prefix: Path, variables: dict[str, np.ndarray]) -> Path:
    """A name-based checkpoint, as TF1's Saver writes it (the same SaveV2 op): prefix.index + .data."""
    import tensorflow as tf

    prefix.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(variables)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[variables[name] for name in names])
    return prefix


def write_release(folder: Path, config: dict, variables: dict[str, np.ndarray], vocab: Path,
                  checkpoint: str = "model.ckpt-best") -> Path:
    """A folder laid out as google-research/albert's release tarballs are."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "albert_config.json").write_text(json.dumps(config, indent=2))
    (folder / "30k-clean.model").write_bytes(vocab.read_bytes())
    (folder / "30k-clean.vocab").write_text("<pad>\t0\n")
    write_checkpoint(folder / checkpoint, variables)
    return folder


def inputs(vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two sequences with [CLS] first, both segments, and padding at the end of the second."""
    rng = np.random.default_rng(7)
    ids = rng.integers(5, vocab_size, size=(2, 9))
    ids[:, 0] = 2
    mask = np.ones_like(ids)
    mask[1, -3:] = 0
    types = np.zeros_like(ids)
    types[:, 5:] = 1
    return ids, mask, types


def ours(folder: Path, model_class: type, ids, mask, types) -> dict[str, np.ndarray]:
    model = model_class.from_pretrained(folder)
    args = [torch.tensor(a) for a in (ids, mask, types)]
    with torch.no_grad():
        base = model if model_class is albert.AlbertModel else model.albert
        encoded = base(input_ids=args[0], attention_mask=args[1], token_type_ids=args[2])
        outputs = {"sequence": encoded.last_hidden_state}
        if encoded.pooler_output is not None:
            outputs["pooled"] = encoded.pooler_output
        if model_class is not albert.AlbertModel:
            result = model(input_ids=args[0], attention_mask=args[1], token_type_ids=args[2])
            if model_class is albert.AlbertForPreTraining:
                outputs.update(mlm=result.prediction_logits, sop=result.sop_logits)
            else:
                outputs["mlm"] = result.logits
    return {name: value.numpy() for name, value in outputs.items()}


def assert_same_outputs(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> None:
    assert set(expected) == set(actual)
    for name in expected:
        difference = float(np.max(np.abs(expected[name] - actual[name])))
        assert difference <= MAX_DIFF, f"{name}: max abs difference {difference:.2e}"


def assert_same_weights(folder: Path, variables: dict[str, np.ndarray]) -> None:
    """Every TF weight is in model.safetensors bit for bit (kernels transposed)."""
    saved = load_file(folder / "model.safetensors")
    prefixed = any(name.startswith("albert.") for name in saved)
    for tf_name, array in variables.items():
        name = tf_to_torch_name(tf_name)
        if name is None:
            continue
        name = name if prefixed else name.removeprefix("albert.")
        expected = torch.from_numpy(array.T.copy() if tf_name.endswith("/kernel") else array)
        assert torch.equal(saved[name], expected), tf_name


@pytest.fixture(scope="session")
def vocab_size(tiny_spm: Path) -> int:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(tiny_spm)).get_piece_size()


def run_cli(*args) -> object:
    from typer.testing import CliRunner

    import albert.cli.convert_commands  # noqa: F401  (registers `albert convert`)
    from albert.cli.app import app

    return CliRunner().invoke(app, ["convert", *map(str, args)])


# -- names and configs (no TensorFlow) ----------------------------------------------------------

def test_every_pretraining_weight_round_trips_through_tf_names():
    model = albert.AlbertForPreTraining(tiny_config(vocab_size=50, num_hidden_groups=2, inner_group_num=2))
    names = [n for n in model.state_dict() if not n.startswith("predictions.decoder.")]
    for name in names:
        tf_name = torch_to_tf_name(name)
        assert tf_name is not None, name
        assert tf_to_torch_name(tf_name) == name
        assert tf_to_torch_name(f"module/{tf_name}:0") == name  # as a TF-Hub module shows it
    assert torch_to_tf_name("albert.encoder.albert_layer_groups.1.albert_layers.0.attention.query.weight") == (
        "bert/encoder/transformer/group_1/inner_group_0/attention_1/self/query/kernel"
    )
    assert tf_to_torch_name("cls/squad/output_weights") is None


def _every_weight_name() -> list[str]:
    """The TF name of every weight of a pretraining model with 2 groups of 2 inner groups."""
    model = albert.AlbertForPreTraining(tiny_config(vocab_size=50, embedding_size=16, num_hidden_groups=2,
                                                    inner_group_num=2))
    return sorted(filter(None, map(torch_to_tf_name, model.state_dict())))


def test_every_known_optimizer_slot_and_bookkeeping_name_is_skipped_and_no_weight_is():
    """The whole table, on every weight: each slot naming (and the _1, _2 ... that TF gives an
    optimizer's later slots), as tf.train, google-research/albert and Hub modules show it."""
    weights = _every_weight_name()
    assert len(weights) > 30
    for weight in weights:
        assert skip_kind(weight) is None and tf_to_torch_name(weight) is not None, weight
        for slot in OPTIMIZER_SLOTS:
            for name in (f"{weight}/{slot}", f"module/{weight}/{slot}:0", f"{weight}/{slot}/part_0"):
                assert skip_kind(name) == slot and tf_to_torch_name(name) is None, name
        for slot in OPTIMIZER_NAMED_SLOTS:
            for suffix in ("", "_1", "_2", "_13"):
                name = f"{weight}/{slot}{suffix}"
                assert skip_kind(name) == slot + suffix and tf_to_torch_name(name) is None, name
    for name in BOOKKEEPING:
        assert skip_kind(name) == name and skip_kind(f"training/{name}") == name, name
    for name in ("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE",
                 "bert/pooler/dense/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"):
        assert skip_kind(name) == "optimizer", name
    # the names transformers' load_tf_weights_in_albert skips are all here
    assert {"adam_m", "adam_v", "global_step"} <= {*OPTIMIZER_SLOTS, *BOOKKEEPING}
    assert skip_kind("bert/pooler/dense/kernel/AdamWeightDecayOptimizer_1") == "AdamWeightDecayOptimizer_1"
    # neither ALBERT weights nor optimizer state: left unknown (a conversion then stops with their names)
    for name in ("output_weights", "cls/squad/output_bias", "bert/pooler/dense/kernel/Adamant",
                 "bert/pooler/dense/kernel/ExponentialMovingAverage", "Adam_x"):
        assert skip_kind(name) is None, name


def test_a_tf_style_variable_dict_converts_into_the_same_model():
    """Export a model's weights under TF names and layouts, convert back, and get equal outputs."""
    torch.manual_seed(0)
    model = albert.AlbertForPreTraining(tiny_config(vocab_size=50)).eval()
    variables = {}
    for name, tensor in model.state_dict().items():
        tf_name = torch_to_tf_name(name)
        if tf_name is not None:
            variables[tf_name] = tensor.numpy().T.copy() if tf_name.endswith("/kernel") else tensor.numpy()
    variables["bert/embeddings/word_embeddings/adam_m"] = variables["bert/embeddings/word_embeddings"]
    state = convert_tf_variables(variables)
    converted = albert.AlbertForPreTraining(tiny_config(vocab_size=50)).eval()
    missing, unexpected = converted.load_state_dict(state, strict=False)
    assert set(missing) == {"predictions.decoder.weight", "predictions.decoder.bias"} and not unexpected  # tied
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).prediction_logits, model(ids).prediction_logits, atol=0, rtol=0)


def test_albert_config_json_maps_faithfully():
    config = config_from_original(original_config(100, hidden_dropout_prob=0.1, num_hidden_groups=2))
    # the original "gelu" is the tanh approximation (modeling.py), transformers' "gelu_new"
    assert config.hidden_act == "gelu_new" and config.layer_norm_eps == 1e-12
    assert (config.vocab_size, config.embedding_size, config.hidden_size, config.num_hidden_groups) == (100, 16, 32, 2)
    assert config.hidden_dropout_prob == 0.1 and config.intermediate_size == 37
    written = config.to_dict()
    assert {written[key] for key in ("net_structure_type", "gap_size", "num_memory_blocks")} == {0}
    assert written["down_scale_factor"] == 1
    assert config_from_original(original_config(100, hidden_act="relu")).hidden_act == "relu"
    with pytest.raises(ValueError, match="hidden_act 'swish'"):
        config_from_original(original_config(100, hidden_act="swish"))
    with pytest.raises(ValueError, match="multiple of num_hidden_groups"):
        config_from_original(original_config(100, num_hidden_layers=3, num_hidden_groups=2))


def test_an_original_config_that_is_not_one_is_a_config_error(tmp_path):
    deep = tmp_path / "albert_config.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)  # a RecursionError in json.loads
    with pytest.raises(ConfigError, match="nests objects or lists deeper"):
        read_original_config(deep)
    deep.write_text(json.dumps(["not", "an", "object"]))
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        read_original_config(deep)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        read_original_config(tmp_path / "missing.json")


def test_importing_albert_convert_does_not_import_tensorflow():
    code = ("import sys, albert, albert.convert, albert.cli.convert_commands; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_tensorflow_the_command_says_how_to_install_it(tmp_path, tiny_spm, vocab_size, monkeypatch):
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "albert_config.json").write_text(json.dumps(original_config(vocab_size)))
    (folder / "30k-clean.model").write_bytes(tiny_spm.read_bytes())
    for suffix in (".index", ".data-00000-of-00001"):
        (folder / f"model.ckpt-best{suffix}").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` raises ImportError
    (tmp_path / "a-file").write_text("")  # and an --out that cannot be a folder is refused before any reading
    result = run_cli("tf", folder / "model.ckpt-best", "--out", tmp_path / "a-file" / "out")
    assert result.exit_code == 1 and "a-file is a file, not a folder" in result.stderr
    with pytest.raises(ImportError, match=r"pip install 'albert-lm\[tf\]'"):
        convert_tf_checkpoint(folder / "model.ckpt-best", tmp_path / "out")
    result = run_cli("tf", folder / "model.ckpt-best", "--out", tmp_path / "out")
    assert result.exit_code == 1 and INSTALL_HINT in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return path


def _member(name: str, data: bytes = b"", link: str | None = None) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
    return info, data


@pytest.mark.parametrize(
    ("hostile", "message"),
    [(_member("../escaped.txt", b"outside"), "refusing"),
     (_member("albert_base/30k-clean.model", link="/etc/passwd"), "refusing"),
     (_member("albert_base/link", link="../../escaped.txt"), "refusing"),
     # tarfile's data filter unpacks an absolute name inside the folder instead: harmless
     (_member("/tmp/albert-absolute-escape.txt", b"outside"), "found no TF checkpoint")],
    ids=["dot-dot", "absolute-link", "link-out", "absolute-name"],
)
def test_a_hostile_tarball_is_refused_and_writes_nothing_outside(tmp_path, hostile, message):
    archive = _archive(tmp_path / "albert_base_v2.tar.gz",
                       [_member("albert_base/albert_config.json", b"{}"), hostile])
    with pytest.raises(ConversionError, match=message):
        convert_tf_checkpoint(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/albert-absolute-escape.txt").exists()
    assert not (tmp_path / "out").exists()


def test_people_get_one_line_errors_for_bad_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a missing path says so first, whatever it looks like, and never lists the files of a checkpoint
    for missing in ("albert_base_v2.tar.gz", "albert_base", "model.ckpt-best", "nowhere/model.ckpt-best",
                    "model.ckpt-best.index"):
        result = run_cli("tf", missing, "--out", "out")
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.stderr.startswith(f"error: {missing} does not exist"), result.stderr
        assert ".data-" not in result.stderr and result.stderr.count("\n") == 1
        with pytest.raises(ModelNotFoundError, match="does not exist"):
            convert_tf_checkpoint(missing, "out")
    assert "(nor does the folder nowhere)" in run_cli("tf", "nowhere/model.ckpt-best", "--out", "out").stderr
    (tmp_path / "model.ckpt-100.index").write_bytes(b"")  # a typo beside real checkpoints: they are named
    assert "(checkpoints in .: model.ckpt-100)" in run_cli("tf", "model.ckpt-best", "--out", "out").stderr
    result = run_cli("tf-hub", "albert_base_3", "--out", "out")
    assert result.exit_code == 1 and result.stderr.startswith("error: albert_base_3 does not exist")
    # a path that exists but is none of the three kinds gets its own message
    (tmp_path / "notes.txt").write_text("not a model")
    result = run_cli("tf", "notes.txt", "--out", "out")
    assert result.exit_code == 1 and "notes.txt is neither a tar archive, a folder nor a file of a TF checkpoint" in (
        result.stderr)
    (tmp_path / "cut.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    for command in ("tf", "tf-hub"):
        result = run_cli(command, "cut.tar.gz", "--out", "out")
        assert result.exit_code == 1 and "cut.tar.gz is not a readable tar archive (not a gzip file)" in result.stderr
    (tmp_path / "lost.ckpt.data-00000-of-00001").write_bytes(b"")
    for given in ("lost.ckpt", "lost.ckpt.data-00000-of-00001"):
        with pytest.raises(ConversionError, match=r"has lost.ckpt.data-00000-of-00001 but no lost.ckpt.index"):
            convert_tf_checkpoint(given, "out")
    assert not (tmp_path / "out").exists()
    result = run_cli("tf-hub", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "is not a TF-Hub module" in result.stderr


# -- converting real TF checkpoints -------------------------------------------------------------

LAYOUTS = {
    # E != H, one group of one layer for all layers, with optimizer slots and global_step
    "E<H-groups1-inner1-adam": dict(num_hidden_layers=2, num_hidden_groups=1, inner_group_num=1,
                                    slots=("adam_m", "adam_v")),
    # slots named after the optimizer, as a tf.train.Optimizer subclass makes them (transformers skips these)
    "E<H-groups1-inner1-adamweightdecay": dict(num_hidden_layers=2, num_hidden_groups=1, inner_group_num=1,
                                               slots=("AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1")),
    # E == H (no projection in TF: an exact identity here), 2 groups of 2 inner groups
    "E=H-groups2-inner2": dict(embedding_size=32, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
    "E<H-groups2-inner1": dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=1),
    "E=H-groups1-inner2-relu": dict(embedding_size=32, num_hidden_layers=3, num_hidden_groups=1, inner_group_num=2,
                                    hidden_act="relu"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@tf_test
def test_a_checkpoint_converts_exactly_and_computes_what_the_original_computes(tmp_path, tiny_spm, vocab_size,
                                                                              layout, tensorflow):
    shape = dict(LAYOUTS[layout])
    slots = shape.pop("slots", None)
    config = original_config(vocab_size, **shape)
    variables = original_variables(config, seed=len(layout), slots=slots)
    release = write_release(tmp_path / "albert_tiny", config, variables, tiny_spm)

    report = convert_tf_checkpoint(release / "model.ckpt-best", tmp_path / "out")

    weights = {name: array for name, array in variables.items() if not is_skipped(name)}
    assert sorted(report.used) == sorted(weights) and report.unknown == []
    assert len(report.skipped) == (2 * len(weights) + 1 if slots else 0)
    projection = [f"albert.encoder.embedding_hidden_mapping_in.{kind}" for kind in ("weight", "bias")]
    assert report.identity == (sorted(projection) if config["embedding_size"] == config["hidden_size"] else [])
    assert report.architecture == "AlbertForPreTraining" and report.weights == len(weights) + len(report.identity)
    summary = report.summary()
    assert re.search(rf"used +{len(weights)} ", summary) and re.search(r"unknown +0\n", summary)
    assert re.search(rf"skipped +{len(report.skipped)} ", summary) and "none missing" in summary
    if slots:
        assert f"{slots[0]} {len(weights)}, {slots[1]} {len(weights)}, global_step 1" in summary

    out = tmp_path / "out"
    assert {"config.json", "model.safetensors", "spiece.model"} <= {path.name for path in out.iterdir()}
    written = json.loads((out / "config.json").read_text())
    assert written["architectures"] == ["AlbertForPreTraining"]
    assert written["hidden_act"] == ("relu" if "relu" in layout else "gelu_new")
    assert_same_weights(out, weights)
    if report.identity:
        saved = load_file(out / "model.safetensors")
        assert torch.equal(saved[projection[0]], torch.eye(32)) and not saved[projection[1]].any()

    ids, mask, types = inputs(vocab_size)
    assert_same_outputs(original_forward(weights, config, ids, mask, types),
                        ours(out, albert.AlbertForPreTraining, ids, mask, types))
    tokenizer = albert.AlbertTokenizer.from_pretrained(out)
    assert tokenizer.vocab_size == vocab_size and tokenizer("the mountain")["input_ids"][0] == 2


@tf_test
def test_transformers_loads_the_converted_folder_with_the_same_outputs(tmp_path, tiny_spm, vocab_size, tensorflow):
    import transformers

    config = original_config(vocab_size, embedding_size=32, num_hidden_layers=4, num_hidden_groups=2,
                             inner_group_num=2)
    variables = original_variables(config, seed=3)
    release = write_release(tmp_path / "albert_tiny", config, variables, tiny_spm)
    convert_tf_checkpoint(release, tmp_path / "out")  # the release folder: config and vocab found in it
    ids, mask, types = inputs(vocab_size)
    theirs = transformers.AlbertForPreTraining.from_pretrained(tmp_path / "out", attn_implementation="eager").eval()
    with torch.no_grad():
        result = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                        token_type_ids=torch.tensor(types), output_hidden_states=True)
    expected = original_forward(variables, config, ids, mask, types)
    assert_same_outputs(
        {name: expected[name] for name in ("sequence", "mlm", "sop")},
        {"sequence": result.hidden_states[-1].numpy(), "mlm": result.prediction_logits.numpy(),
         "sop": result.sop_logits.numpy()},
    )
    assert transformers.AlbertTokenizer.from_pretrained(tmp_path / "out").vocab_size == vocab_size


@pytest.mark.parametrize(("heads", "model_class"), [(("mlm",), albert.AlbertForMaskedLM), ((), albert.AlbertModel)])
@tf_test
def test_the_heads_in_the_checkpoint_choose_the_architecture(tmp_path, tiny_spm, vocab_size, heads, model_class,
                                                             tensorflow):
    config = original_config(vocab_size, num_hidden_layers=2)
    variables = original_variables(config, seed=5, heads=heads)
    release = write_release(tmp_path / "albert_tiny", config, variables, tiny_spm)
    report = convert_tf_checkpoint(release / "model.ckpt-best", tmp_path / "out")
    assert report.architecture == model_class.__name__ and report.unknown == []
    if model_class is albert.AlbertForMaskedLM:  # it has no pooler (as in transformers): left out, and said so
        assert report.skipped == ["bert/pooler/dense/bias", "bert/pooler/dense/kernel"]
        assert "pooler, not in AlbertForMaskedLM 2" in report.summary()
        variables = {name: array for name, array in variables.items() if "pooler" not in name}
    assert json.loads((tmp_path / "out" / "config.json").read_text())["architectures"] == [model_class.__name__]
    assert_same_weights(tmp_path / "out", variables)
    ids, mask, types = inputs(vocab_size)
    assert_same_outputs(original_forward(variables, config, ids, mask, types),
                        ours(tmp_path / "out", model_class, ids, mask, types))


@tf_test
def test_the_release_tarball_converts_with_config_and_vocab_found_inside(tmp_path, tiny_spm, vocab_size, tensorflow):
    config = original_config(vocab_size, num_hidden_layers=2)
    variables = original_variables(config, seed=11, slots=("adam_m", "adam_v"))
    release = write_release(tmp_path / "albert_tiny", config, variables, tiny_spm, checkpoint="model.ckpt-best")
    write_checkpoint(release / "model.ckpt-1000", {"global_step": np.int64(1000)})  # an older, worse checkpoint
    archive = tmp_path / "albert_tiny_v2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(release, arcname="albert_tiny")

    result = run_cli("tf", archive, "--out", tmp_path / "out")

    assert result.exit_code == 0, result.output
    weights = {name: array for name, array in variables.items() if not is_skipped(name)}
    assert "albert_tiny_v2.tar.gz:albert_tiny/model.ckpt-best" in result.stdout
    assert f"model weights: {len(weights)} of {len(weights)} filled" in result.stdout
    assert re.search(r"unknown +0\n", result.stdout) and "adam_m" in result.stdout
    assert_same_weights(tmp_path / "out", weights)
    ids, mask, types = inputs(vocab_size)
    assert_same_outputs(original_forward(weights, config, ids, mask, types),
                        ours(tmp_path / "out", albert.AlbertForPreTraining, ids, mask, types))


@tf_test
def test_a_chinese_release_converts_with_its_wordpiece_vocabulary(tmp_path, tensorflow):
    """google-research/albert's Chinese releases ship a WordPiece vocab_chinese.txt, not a SentencePiece model."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"的一是不了人我在有他这中大来上国个到说们"]
    tokens.append("##们")
    config = original_config(len(tokens), num_hidden_layers=2, hidden_act="relu")
    variables = original_variables(config, seed=23)
    release = tmp_path / "albert_tiny_zh"
    release.mkdir()
    (release / "albert_config.json").write_text(json.dumps(config))
    (release / "vocab_chinese.txt").write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
    write_checkpoint(release / "model.ckpt-best", variables)
    archive = tmp_path / "albert_tiny_zh.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(release, arcname="albert_tiny_zh")
    convert_tf_checkpoint(archive, tmp_path / "out")
    assert_same_weights(tmp_path / "out", variables)
    tokenizer = albert.AlbertTokenizer.from_pretrained(tmp_path / "out")
    assert type(tokenizer).__name__ == "AlbertWordPieceTokenizer"
    assert tokenizer("我们")["input_ids"] == [2, tokens.index("我"), tokens.index("们"), 3]
    ids, mask, types = inputs(len(tokens))
    assert_same_outputs(original_forward(variables, config, ids, mask, types),
                        ours(tmp_path / "out", albert.AlbertForPreTraining, ids, mask, types))


def _save_hub_module(folder: Path, variables: dict[str, np.ndarray], vocab: Path, config: dict | None) -> Path:
    """A SavedModel holding the variables under TF-Hub's names (``module/`` prefix and all) and the
    vocabulary (and config) as assets, as the released modules carry them."""
    import tensorflow as tf

    staging = folder.parent / "staging"
    staging.mkdir()
    (staging / "30k-clean.model").write_bytes(vocab.read_bytes())
    if config is not None:
        (staging / "albert_config.json").write_text(json.dumps(config))

    class HubModule(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = [tf.Variable(value, name=f"module/{name}") for name, value in sorted(variables.items())]
            self.vocab_file = tf.saved_model.Asset(str(staging / "30k-clean.model"))
            if config is not None:
                self.config_file = tf.saved_model.Asset(str(staging / "albert_config.json"))

    tf.saved_model.save(HubModule(), str(folder))
    return folder


@tf_test
def test_a_tf_hub_module_converts_with_the_vocabulary_from_its_assets(tmp_path, tiny_spm, vocab_size, tensorflow):
    config = original_config(vocab_size, embedding_size=32, num_hidden_layers=4, num_hidden_groups=2)
    variables = original_variables(config, seed=13)
    module = _save_hub_module(tmp_path / "albert_tiny_hub", variables, tiny_spm, config)
    assert (module / "assets" / "30k-clean.model").is_file()

    result = run_cli("tf-hub", module, "--out", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert f"model weights: {len(variables) + 2} of {len(variables) + 2} filled" in result.stdout
    assert "exact identity" in result.stdout and re.search(r"unknown +0\n", result.stdout)
    assert_same_weights(tmp_path / "out", variables)
    assert (tmp_path / "out" / "spiece.model").read_bytes() == tiny_spm.read_bytes()
    ids, mask, types = inputs(vocab_size)
    assert_same_outputs(original_forward(variables, config, ids, mask, types),
                        ours(tmp_path / "out", albert.AlbertForPreTraining, ids, mask, types))

    # A v1 module ships no albert_config.json: the command asks for one, then converts with it.
    (module / "assets" / "albert_config.json").unlink()
    result = run_cli("tf-hub", module, "--out", tmp_path / "out-v1")
    assert result.exit_code == 1 and "--config" in result.stderr and not (tmp_path / "out-v1").exists()
    (tmp_path / "albert_config.json").write_text(json.dumps(config))
    result = run_cli("tf-hub", module, "--out", tmp_path / "out-v1", "--config", tmp_path / "albert_config.json")
    assert result.exit_code == 0, result.output


def _save_tf1_hub_module(folder: Path, variables: dict[str, np.ndarray], vocab: Path) -> Path:
    """A TF1 SavedModel, the format of the google/albert_* TF-Hub modules: variables saved by name,
    the vocabulary registered as an asset, no albert_config.json (as in the v1 modules)."""
    import tensorflow as tf

    staging = folder.parent / "staging-tf1"
    staging.mkdir()
    (staging / "30k-clean.model").write_bytes(vocab.read_bytes())
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        for name, value in variables.items():
            v1.get_variable(name, initializer=value)
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, tf.constant(str(staging / "30k-clean.model")))
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(folder))
            builder.add_meta_graph_and_variables(
                session, tags=[], assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS)
            )
            builder.save()
    return folder


@tf_test
def test_a_tf1_hub_module_with_variables_saved_by_name_converts(tmp_path, tiny_spm, vocab_size, tensorflow):
    config = original_config(vocab_size, num_hidden_layers=2)
    variables = original_variables(config, seed=19)
    module = _save_tf1_hub_module(tmp_path / "albert_tiny_hub_v1", variables, tiny_spm)
    (tmp_path / "albert_config.json").write_text(json.dumps(config))
    report = convert_tf_hub(module, tmp_path / "out", config=tmp_path / "albert_config.json")
    assert sorted(report.used) == sorted(variables) and report.skipped == [] == report.unknown
    assert_same_weights(tmp_path / "out", variables)
    ids, mask, types = inputs(vocab_size)
    assert_same_outputs(original_forward(variables, config, ids, mask, types),
                        ours(tmp_path / "out", albert.AlbertForPreTraining, ids, mask, types))


@tf_test
def test_incomplete_or_foreign_checkpoints_are_refused_with_the_names(tmp_path, tiny_spm, vocab_size, tensorflow):
    config = original_config(vocab_size, num_hidden_layers=2)
    variables = original_variables(config, seed=17)

    fine_tuned = write_release(tmp_path / "fine_tuned", config,
                               {**variables, "output_weights": np.zeros((3, 32), np.float32)}, tiny_spm)
    result = run_cli("tf", fine_tuned / "model.ckpt-best", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "output_weights" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()

    partial = write_release(tmp_path / "partial", config,
                            {k: a for k, a in variables.items() if "LayerNorm_1" not in k}, tiny_spm)
    result = run_cli("tf", partial / "model.ckpt-best", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "full_layer_layer_norm.weight" in result.stderr

    two_groups = original_variables(original_config(vocab_size, num_hidden_groups=2), seed=17)
    wrong_config = write_release(tmp_path / "wrong_config", config, two_groups, tiny_spm)
    result = run_cli("tf", wrong_config / "model.ckpt-best", "--out", tmp_path / "out")
    assert result.exit_code == 1 and "no place" in result.stderr and "group_1" in result.stderr

    bare = write_checkpoint(tmp_path / "bare" / "model.ckpt-best", variables)
    result = run_cli("tf", bare, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "albert_config.json" in result.stderr and "--config" in result.stderr
    (tmp_path / "albert_config.json").write_text(json.dumps(config))
    result = run_cli("tf", bare, "--out", tmp_path / "out", "--config", tmp_path / "albert_config.json")
    assert result.exit_code == 1 and "--vocab" in result.stderr
    result = run_cli("tf", bare, "--out", tmp_path / "out", "--config", tmp_path / "albert_config.json",
                     "--vocab", tmp_path / "missing.model")
    assert result.exit_code == 1 and f"the vocabulary {tmp_path / 'missing.model'} does not exist" in result.stderr
    result = run_cli("tf", bare.with_name("model.ckpt-best.index"), "--out", tmp_path / "out",
                     "--config", tmp_path / "albert_config.json", "--vocab", tiny_spm)
    assert result.exit_code == 0, result.output  # a file of the checkpoint is as good as its prefix
