"""AlbertConfig: transformers' fields and defaults, presets equal to the released config.json files,
and lossless round trips."""

from __future__ import annotations

import json

import pytest
import transformers

from albert import AlbertConfig

# The config.json files of the released checkpoints on the Hugging Face Hub (albert/albert-*),
# as published there; the architecture fields must match exactly.
RELEASED = {
    "albert-base-v2": {
        "architectures": ["AlbertForMaskedLM"], "attention_probs_dropout_prob": 0, "bos_token_id": 2,
        "classifier_dropout_prob": 0.1, "down_scale_factor": 1, "embedding_size": 128, "eos_token_id": 3,
        "gap_size": 0, "hidden_act": "gelu_new", "hidden_dropout_prob": 0, "hidden_size": 768,
        "initializer_range": 0.02, "inner_group_num": 1, "intermediate_size": 3072, "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512, "model_type": "albert", "net_structure_type": 0,
        "num_attention_heads": 12, "num_hidden_groups": 1, "num_hidden_layers": 12, "num_memory_blocks": 0,
        "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30000,
    },
    "albert-large-v1": {
        "architectures": ["AlbertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 2,
        "classifier_dropout_prob": 0.1, "down_scale_factor": 1, "embedding_size": 128, "eos_token_id": 3,
        "gap_size": 0, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 1024,
        "initializer_range": 0.02, "inner_group_num": 1, "intermediate_size": 4096, "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512, "model_type": "albert", "net_structure_type": 0,
        "num_attention_heads": 16, "num_hidden_groups": 1, "num_hidden_layers": 24, "num_memory_blocks": 0,
        "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30000,
    },
    "albert-xlarge-v2": {
        "architectures": ["AlbertForMaskedLM"], "attention_probs_dropout_prob": 0, "bos_token_id": 2,
        "classifier_dropout_prob": 0.1, "down_scale_factor": 1, "embedding_size": 128, "eos_token_id": 3,
        "gap_size": 0, "hidden_act": "gelu_new", "hidden_dropout_prob": 0, "hidden_size": 2048,
        "initializer_range": 0.02, "inner_group_num": 1, "intermediate_size": 8192, "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512, "model_type": "albert", "net_structure_type": 0,
        "num_attention_heads": 16, "num_hidden_groups": 1, "num_hidden_layers": 24, "num_memory_blocks": 0,
        "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30000,
    },
    "albert-xxlarge-v2": {
        "architectures": ["AlbertForMaskedLM"], "attention_probs_dropout_prob": 0, "bos_token_id": 2,
        "classifier_dropout_prob": 0.1, "down_scale_factor": 1, "embedding_size": 128, "eos_token_id": 3,
        "gap_size": 0, "hidden_act": "gelu_new", "hidden_dropout_prob": 0, "hidden_size": 4096,
        "initializer_range": 0.02, "inner_group_num": 1, "intermediate_size": 16384, "layer_norm_eps": 1e-12,
        "layers_to_keep": [], "max_position_embeddings": 512, "model_type": "albert", "net_structure_type": 0,
        "num_attention_heads": 64, "num_hidden_groups": 1, "num_hidden_layers": 12, "num_memory_blocks": 0,
        "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30000,
    },
}

ARCHITECTURE = {  # size -> (hidden, layers, heads, intermediate), from the paper's Table 1
    "base": (768, 12, 12, 3072),
    "large": (1024, 24, 16, 4096),
    "xlarge": (2048, 24, 16, 8192),
    "xxlarge": (4096, 12, 64, 16384),
}


@pytest.mark.parametrize("name", list(RELEASED))
def test_presets_equal_released_config_files(name):
    assert AlbertConfig.preset(name).to_dict() == RELEASED[name]


@pytest.mark.parametrize("size", list(ARCHITECTURE))
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_all_eight_presets_have_the_papers_shapes(size, version):
    config = AlbertConfig.preset(f"albert-{size}-{version}")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size) == (
        ARCHITECTURE[size]
    )
    assert config.embedding_size == 128 and config.vocab_size == 30000
    assert config.hidden_act == ("gelu_new" if version == "v2" else "gelu")
    assert AlbertConfig.preset(f"{size}-{version}") == config == AlbertConfig.preset(f"albert/albert-{size}-{version}")


def test_defaults_equal_transformers_defaults():
    ours = AlbertConfig()
    theirs = transformers.AlbertConfig()
    for field in (
        "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups",
        "num_attention_heads", "intermediate_size", "inner_group_num", "hidden_act", "hidden_dropout_prob",
        "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size", "initializer_range",
        "layer_norm_eps", "classifier_dropout_prob", "position_embedding_type", "pad_token_id", "bos_token_id",
        "eos_token_id", "num_labels", "id2label", "label2id", "problem_type",
    ):
        if field == "position_embedding_type" and not hasattr(theirs, field):
            continue  # transformers 5 dropped relative positions for ALBERT
        assert getattr(ours, field) == getattr(theirs, field), field


def test_round_trip_keeps_unknown_keys_and_labels(tmp_path):
    values = dict(RELEASED["albert-xxlarge-v2"], custom_flag={"nested": [1, 2]}, transformers_version="4.57.6")
    values["id2label"] = {"0": "NEG", "1": "NEU", "2": "POS"}
    values["label2id"] = {"NEG": 0, "NEU": 1, "POS": 2}
    values["problem_type"] = "single_label_classification"
    (tmp_path / "config.json").write_text(json.dumps(values))
    config = AlbertConfig.from_pretrained(tmp_path)
    assert config.num_labels == 3 and config.id2label[2] == "POS"
    assert config.extra["custom_flag"] == {"nested": [1, 2]}
    out = tmp_path / "again"
    config.save_pretrained(out)
    assert json.loads((out / "config.json").read_text()) == values
    # and transformers reads what we wrote
    theirs = transformers.AlbertConfig.from_pretrained(out)
    assert theirs.id2label == {0: "NEG", 1: "NEU", 2: "POS"} and theirs.hidden_size == 4096


def test_transformers_config_reads_back_identically(tmp_path):
    theirs = transformers.AlbertConfig(hidden_size=64, num_attention_heads=4, num_labels=5, inner_group_num=2)
    theirs.save_pretrained(tmp_path)
    ours = AlbertConfig.from_pretrained(tmp_path)
    assert ours.hidden_size == 64 and ours.num_labels == 5 and ours.inner_group_num == 2
    assert ours.extra["transformers_version"] == transformers.__version__


def test_num_labels_and_overrides():
    config = AlbertConfig(num_labels=4)
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3"}
    config.num_labels = 1
    assert config.label2id == {"LABEL_0": 0}
    assert AlbertConfig.preset("albert-base-v2", num_labels=3, hidden_dropout_prob=0.1).hidden_dropout_prob == 0.1


def test_bad_configs_are_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'albert-huge-v3'"):
        AlbertConfig.preset("albert-huge-v3")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        AlbertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        AlbertConfig.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="position_embedding_type"):
        AlbertConfig(position_embedding_type="rotary")
    with pytest.raises(ValueError, match="num_labels must be at least 1"):
        AlbertConfig(num_labels=0)


def test_overrides_accept_fields_only_never_methods(tmp_path):
    AlbertConfig(hidden_size=64, num_attention_heads=4).save_pretrained(tmp_path)
    config = AlbertConfig.from_pretrained(tmp_path, num_labels=3, hidden_dropout_prob=0.2, custom_flag=1)
    assert config.num_labels == 3 and config.hidden_dropout_prob == 0.2
    assert config.extra["custom_flag"] == 1  # unknown keys are kept, as in a config.json
    for name in ("to_dict", "save_pretrained", "head_dim", "validate"):
        with pytest.raises(TypeError, match=f"unexpected argument '{name}' \\(a method or property"):
            AlbertConfig.from_pretrained(tmp_path, **{name: 3})
        with pytest.raises(TypeError, match=f"unexpected argument '{name}'"):
            AlbertConfig.from_pretrained("albert-base-v2", local_files_only=True, **{name: 3})
    assert callable(AlbertConfig.from_pretrained(tmp_path).to_dict)
