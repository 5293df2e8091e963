"""Model configs are validated once, before anything is allocated (issue 23).

Every case the issue found is one :class:`albert.ConfigError` that names the field (and the file,
when the config came from one), raised in well under a second with no tensor made; the estimate of
a model's parameters from its config equals the real count of every model class; the JSON files of
a model folder (config.json, tokenizer_config.json, shard indexes) are read within bounds of size
and nesting; and a shard index cannot reach outside its folder through a symlink.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
from support.tiny import tiny_config

import albert
from albert import AlbertConfig, AlbertModel, CheckpointError, ConfigError, OptionError
from albert import config as config_module
from albert.checkpoint_files import shard_names
from albert.json_files import MAX_CONFIG_FILE_BYTES, MAX_INDEX_FILE_BYTES, MAX_JSON_DEPTH, read_json_file
from albert.modeling import ACTIVATIONS, MODEL_CLASSES
from albert.tokenization_base import read_tokenizer_config

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "albert" / "models" / "albert-small-en"

#: The issue's cases: (the field the message must name, the values that break the config).
ISSUE_CASES = {
    "vocab 60M": ("vocab_size", {"vocab_size": 60_000_000}),
    "vocab 10^12": ("vocab_size", {"vocab_size": 10**12}),
    "hidden 10^9": ("hidden_size", {"hidden_size": 10**9, "num_attention_heads": 8}),
    "embedding 10^9": ("embedding_size", {"embedding_size": 10**9}),
    "intermediate 10^10": ("intermediate_size", {"intermediate_size": 10**10}),
    "positions 10^12": ("max_position_embeddings", {"max_position_embeddings": 10**12}),
    "labels 10^9": ("num_labels", {"num_labels": 10**9}),
    "inner groups 10^6": ("inner_group_num", {"inner_group_num": 10**6}),
    "heads 0": ("num_attention_heads", {"num_attention_heads": 0}),
    "heads -6": ("num_attention_heads", {"num_attention_heads": -6}),
    "type vocab -1": ("type_vocab_size", {"type_vocab_size": -1}),
    "pad 10^9": ("pad_token_id", {"pad_token_id": 10**9}),
    "pad -5": ("pad_token_id", {"pad_token_id": -5}),
    "layer norm eps -1": ("layer_norm_eps", {"layer_norm_eps": -1}),
}

#: Further fields and relations, one case each.
MORE_CASES = {
    "heads do not divide hidden": ("num_attention_heads", {"hidden_size": 30, "num_attention_heads": 4}),
    "groups do not divide layers": ("num_hidden_groups", {"num_hidden_layers": 5, "num_hidden_groups": 2}),
    "more groups than layers": ("num_hidden_groups", {"num_hidden_layers": 2, "num_hidden_groups": 4}),
    "distinct layers": ("inner_group_num", {"num_hidden_groups": 12, "inner_group_num": 30, "hidden_size": 64,
                                            "num_attention_heads": 4, "intermediate_size": 64}),
    "layers computed": ("num_hidden_layers", {"num_hidden_layers": 5000, "hidden_size": 64, "num_attention_heads": 4}),
    "bos outside the vocabulary": ("bos_token_id", {"vocab_size": 100, "bos_token_id": 100}),
    "eos negative": ("eos_token_id", {"eos_token_id": -1}),
    "dropout 1": ("hidden_dropout_prob", {"hidden_dropout_prob": 1.0}),
    "dropout negative": ("attention_probs_dropout_prob", {"attention_probs_dropout_prob": -0.1}),
    "dropout NaN": ("classifier_dropout_prob", {"classifier_dropout_prob": float("nan")}),
    "eps infinite": ("layer_norm_eps", {"layer_norm_eps": float("inf")}),
    "eps too large for a float": ("layer_norm_eps", {"layer_norm_eps": 10**400}),
    "eps zero": ("layer_norm_eps", {"layer_norm_eps": 0}),
    "initializer negative": ("initializer_range", {"initializer_range": -0.02}),
    "initializer NaN": ("initializer_range", {"initializer_range": float("nan")}),
    "activation unknown": ("hidden_act", {"hidden_act": "gelu_nope"}),
    "activation a list": ("hidden_act", {"hidden_act": ["gelu"]}),
    "positions rotary": ("position_embedding_type", {"position_embedding_type": "rotary"}),
    "problem type unknown": ("problem_type", {"problem_type": "ranking"}),
    "model type": ("model_type", {"model_type": "bert"}),
    "a float size": ("vocab_size", {"vocab_size": 30000.0}),
    "a boolean size": ("hidden_size", {"hidden_size": True}),
    "a huge integer": ("vocab_size", {"vocab_size": 10**5000}),
    "num_labels zero": ("num_labels", {"num_labels": 0}),
    "num_labels a string": ("num_labels", {"num_labels": "3"}),
    "labels not numbered from 0": ("id2label", {"id2label": {1: "a", 2: "b"}}),
    "labels named twice": ("id2label", {"id2label": {0: "a", 1: "a"}}),
    "a label that is a list": ("id2label", {"id2label": {0: ["a"]}}),
    "label2id not the inverse": ("label2id", {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 1, "pos": 0}}),
    "an extra key that is not JSON": ("custom", {"custom": float("nan")}),
    "architectures not a list": ("architectures", {"architectures": "AlbertModel"}),
}

ALL_CASES = {**ISSUE_CASES, **MORE_CASES}


def _nothing_allocated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any parameter allocation fail loudly: a refusal must come before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("a tensor was allocated before the config was refused")

    monkeypatch.setattr(torch, "empty", refuse)


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_each_bad_config_is_one_config_error_naming_the_field(case):
    field_name, values = ALL_CASES[case]
    start = time.perf_counter()
    with pytest.raises(ConfigError) as raised:
        AlbertConfig(**values)
    assert time.perf_counter() - start < 0.5  # microseconds in fact: nothing is built
    assert field_name in str(raised.value)
    assert raised.value.__cause__ is None and (raised.value.__context__ is None or raised.value.__suppress_context__)
    assert isinstance(raised.value, ValueError)  # what callers caught before ConfigError existed


@pytest.mark.parametrize("case", list(ISSUE_CASES))
def test_the_issues_cases_in_a_config_json_name_the_file(case, tmp_path):
    field_name, values = ISSUE_CASES[case]
    (tmp_path / "config.json").write_text(json.dumps({**AlbertConfig().to_dict(), **values}))  # E = 128, as the issue
    start = time.perf_counter()
    with pytest.raises(ConfigError) as raised:
        AlbertModel.from_pretrained(tmp_path)
    assert time.perf_counter() - start < 1.0
    message = str(raised.value)
    assert str(tmp_path / "config.json") in message and field_name in message


@pytest.mark.parametrize("case", ["vocab 10^12", "hidden 10^9", "heads 0", "pad -5", "layer norm eps -1"])
def test_a_config_changed_after_it_was_made_is_refused_before_any_tensor(case, monkeypatch):
    field_name, values = ISSUE_CASES[case]
    config = tiny_config()
    for name, value in values.items():
        setattr(config, name, value)
    _nothing_allocated(monkeypatch)
    with pytest.raises(ConfigError, match=field_name):
        AlbertModel(config)


def test_a_failed_override_leaves_the_config_as_it_was():
    config = tiny_config()
    before = config.to_dict()
    with pytest.raises(ConfigError, match="num_attention_heads"):
        config.apply_overrides({"hidden_dropout_prob": 0.2, "num_attention_heads": 0}, keep_unknown=False, caller="t")
    assert config.to_dict() == before


def test_the_size_bound_says_the_size_the_part_and_how_to_allow_it(monkeypatch):
    monkeypatch.delenv("ALBERT_MAX_MODEL_BYTES", raising=False)
    with pytest.raises(ConfigError) as raised:
        AlbertConfig(vocab_size=60_000_000)
    message = str(raised.value)
    assert "31.8 GB of float32 parameters" in message
    assert "vocab_size 60,000,000 x embedding_size 128" in message and "30.7 GB" in message
    assert "8.6 GB" in message and "ALBERT_MAX_MODEL_BYTES=31837153800" in message
    monkeypatch.setenv("ALBERT_MAX_MODEL_BYTES", "32GB")
    assert AlbertConfig(vocab_size=60_000_000).parameter_bytes() == 31_837_153_800  # allowed, nothing built
    monkeypatch.setenv("ALBERT_MAX_MODEL_BYTES", "100MiB")
    with pytest.raises(ConfigError, match="above albert's bound of 104.9 MB"):
        AlbertConfig.preset("albert-xlarge-v2")
    monkeypatch.setenv("ALBERT_MAX_MODEL_BYTES", "lots")
    with pytest.raises(OptionError, match="ALBERT_MAX_MODEL_BYTES='lots' is not a size"):
        AlbertConfig()
    monkeypatch.delenv("ALBERT_MAX_MODEL_BYTES")
    monkeypatch.setattr(config_module, "MAX_MODEL_BYTES", 10**6)
    with pytest.raises(ConfigError, match="above albert's bound of 1.0 MB"):
        tiny_config(vocab_size=30000)


def test_every_release_and_the_shipped_model_pass_with_a_wide_margin(monkeypatch):
    monkeypatch.delenv("ALBERT_MAX_MODEL_BYTES", raising=False)
    for name in config_module.PRESETS:
        config = AlbertConfig.preset(name, num_labels=3)
        assert config.parameter_bytes() * 8 < config_module.MAX_MODEL_BYTES, name
    assert AlbertConfig.preset("albert-xxlarge-v2").parameter_count("AlbertModel") == 222_595_584
    assert AlbertConfig.from_pretrained(SHIPPED).parameter_count("AlbertForPreTraining") > 0


SHAPES = {
    "factorized, groups, inner groups": dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
    "E = H, one group": dict(embedding_size=32, num_hidden_layers=3, num_hidden_groups=1, inner_group_num=1, num_labels=5,
                             type_vocab_size=3),
    "relative positions": dict(num_hidden_layers=2, num_hidden_groups=2, position_embedding_type="relative_key_query",
                               max_position_embeddings=20, num_labels=2),
    "no special ids, one label": dict(vocab_size=7, pad_token_id=None, bos_token_id=None, eos_token_id=None,
                                      num_labels=1, intermediate_size=5),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_parameter_estimate_is_exact_for_every_model_class(shape):
    config = tiny_config(**SHAPES[shape])
    for name, cls in MODEL_CLASSES.items():
        if name == "AlbertForQuestionAnswering" and config.num_labels != 2:
            with pytest.raises(ConfigError, match="num_labels must be 2"):
                cls(config)
            continue
        with torch.device("meta"):
            model = cls(config)
        assert sum(parameter.numel() for parameter in model.parameters()) == config.parameter_count(name), name
    largest = max(config.parameter_count(name) for name in MODEL_CLASSES)
    assert config.parameter_bytes() == 4 * largest


def test_the_activation_names_are_the_models():
    assert set(config_module.HIDDEN_ACTS) == set(ACTIVATIONS)
    try:
        from albert.flax.modeling import ACTIVATIONS as FLAX_ACTIVATIONS
    except ImportError:
        return
    assert set(config_module.HIDDEN_ACTS) == set(FLAX_ACTIVATIONS)


def test_label_maps_are_made_consistent_or_refused(tmp_path):
    config = AlbertConfig(id2label={0: "neg", 1: "neu", 2: "pos"})
    assert config.label2id == {"neg": 0, "neu": 1, "pos": 2} and config.num_labels == 3
    # transformers' untouched default label2id beside a real id2label is remade from it
    values = {**tiny_config().to_dict(), "id2label": {"0": "neg", "1": "pos"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}}
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert AlbertConfig.from_pretrained(tmp_path).label2id == {"neg": 0, "pos": 1}
    config.apply_overrides({"id2label": {"0": "a", "1": "b"}}, keep_unknown=False, caller="t")
    assert config.id2label == {0: "a", 1: "b"} and config.label2id == {"a": 0, "b": 1}
    config.num_labels = 4
    assert config.label2id == {f"LABEL_{index}": index for index in range(4)}


def test_num_labels_is_bounded_before_a_label_map_is_built():
    config = tiny_config()
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="num_labels must be at most 100,000"):
        config.num_labels = 10**9
    with pytest.raises(ConfigError, match="id2label has 100,001 labels"):
        AlbertConfig(id2label=dict.fromkeys(range(100_001), "x"))
    assert time.perf_counter() - start < 1.0
    assert config.num_labels == 2


# -- the JSON files ---------------------------------------------------------------------------------


def test_a_config_json_nested_100000_deep_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigError, match=f"{path} nests objects or lists deeper than {MAX_JSON_DEPTH} levels"):
        AlbertConfig.from_json_file(path)
    path.write_text(json.dumps({**tiny_config().to_dict(), "custom": json.loads("[" * 100 + "]" * 100)}))
    with pytest.raises(ConfigError, match="deeper than 64"):  # under json's own limit, still refused
        AlbertConfig.from_json_file(path)


@pytest.mark.parametrize("text, fragment", [
    ('"layer_norm_eps": NaN', "NaN, which is not a JSON number"),
    ('"initializer_range": Infinity', "Infinity, which is not a JSON number"),
    ('"initializer_range": -Infinity', "-Infinity, which is not a JSON number"),
    ('"layer_norm_eps": 1e400', "1e400, a number too large for a float"),
    ('"vocab_size": ' + "9" * 5000, "an integer of 5,000 digits"),
])  # fmt: skip
def test_non_finite_and_huge_numbers_in_a_config_json_are_refused(tmp_path, text, fragment):
    path = tmp_path / "config.json"
    path.write_text("{" + text + "}")
    with pytest.raises(ConfigError, match=f"{path} is not a model config: it holds {fragment}"):
        AlbertConfig.from_json_file(path)


def test_a_huge_config_json_is_refused_without_being_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"padding": "' + "x" * MAX_CONFIG_FILE_BYTES + '"}')
    with pytest.raises(ConfigError, match=f"{path} is larger than 16,777,216 bytes, albert's bound for a model config"):
        AlbertConfig.from_json_file(path)


def test_a_json_file_that_cannot_be_read_names_itself(tmp_path):
    (tmp_path / "config.json").mkdir()
    with pytest.raises(ConfigError, match="cannot read .*config.json"):
        read_json_file(tmp_path / "config.json", error=ConfigError)


@pytest.mark.parametrize("filename", ["tokenizer_config.json", "special_tokens_map.json"])
def test_tokenizer_json_files_are_read_within_the_same_bounds(tmp_path, filename):
    (tmp_path / filename).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match=f"{filename} nests objects or lists deeper than 64 levels"):
        read_tokenizer_config(tmp_path, {})
    (tmp_path / filename).write_text('{"model_max_length": NaN}')
    with pytest.raises(ConfigError, match=f"{filename} is not a tokenizer's {filename}: it holds NaN"):
        read_tokenizer_config(tmp_path, {})


def _index(folder: Path, shard: str) -> Path:
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": {"albert.embeddings.word_embeddings.weight": shard}}))
    return index


def test_shard_indexes_are_read_within_bounds(tmp_path):
    index = tmp_path / "model.safetensors.index.json"
    index.write_text('{"weight_map": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CheckpointError, match="nests objects or lists deeper than 64 levels, albert's bound for a shard"):
        shard_names(index)
    with open(index, "wb") as handle:
        handle.truncate(MAX_INDEX_FILE_BYTES + 1)  # a sparse file: nothing is written, nothing read
    with pytest.raises(CheckpointError, match="is larger than 67,108,864 bytes, albert's bound for a shard index"):
        shard_names(index)
    index.write_text('{"metadata": {"total_size": Infinity}, "weight_map": {}}')
    with pytest.raises(CheckpointError, match="Infinity"):
        shard_names(index)


def test_a_shard_symlink_leading_outside_the_folder_is_refused(tmp_path):
    folder, outside = tmp_path / "model", tmp_path / "secret.safetensors"
    folder.mkdir()
    outside.write_bytes(b"not yours")
    (folder / "model-00001-of-00001.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="is a symlink to .*secret.safetensors'?, outside the model folder"):
        shard_names(_index(folder, "model-00001-of-00001.safetensors"))
    # a chain of links that ends outside, and a link that leads nowhere, are refused too
    (folder / "model-00001-of-00001.safetensors").unlink()
    (folder / "hop").symlink_to(outside)
    (folder / "model-00001-of-00001.safetensors").symlink_to(folder / "hop")
    with pytest.raises(CheckpointError, match="outside the model folder"):
        shard_names(_index(folder, "model-00001-of-00001.safetensors"))
    (folder / "dangling.safetensors").symlink_to(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="outside the model folder"):
        shard_names(_index(folder, "dangling.safetensors"))


def test_shard_symlinks_inside_the_folder_or_the_hub_cache_are_followed(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "real.safetensors").write_bytes(b"x")
    (folder / "model-00001-of-00001.safetensors").symlink_to("real.safetensors")
    assert shard_names(_index(folder, "model-00001-of-00001.safetensors")) == ["model-00001-of-00001.safetensors"]
    # the Hugging Face cache: snapshots/<revision>/<name> -> ../../blobs/<hash>
    repo = tmp_path / "models--albert--albert-big"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "0a1b2c").write_bytes(b"x")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "model-00001-of-00002.safetensors").symlink_to(os.path.join("..", "..", "blobs", "0a1b2c"))
    assert shard_names(_index(snapshot, "model-00001-of-00002.safetensors")) == ["model-00001-of-00002.safetensors"]


def test_a_shard_symlink_outside_is_refused_when_loading_a_model(tmp_path, make_tiny_model):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(make_tiny_model(), folder)
    shutil.move(folder / "model.safetensors", tmp_path / "elsewhere.safetensors")
    (folder / "model-00001-of-00001.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
    index = {"metadata": {}, "weight_map": dict.fromkeys(["albert.embeddings.word_embeddings.weight"],
                                                          "model-00001-of-00001.safetensors")}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="outside the model folder"):
        albert.AlbertForMaskedLM.from_pretrained(folder)
