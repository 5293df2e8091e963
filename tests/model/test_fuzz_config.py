"""Property-based tests of config validation: any value in any field either builds a model or is one
``ConfigError``, never anything else.

Hypothesis starts from a tiny valid config and replaces one field, or several at once, with a
hostile value: huge, negative and zero integers, floats where integers go, NaN and infinities,
booleans, strings, lists, nested objects, null, label maps, unknown keys. Each draw is tried three
ways: ``AlbertConfig(**values)`` then building ``AlbertModel`` and one head class from it; a
config.json in a saved model folder loaded by ``AlbertModel.from_pretrained``; and the same folder
through the Flax loader when JAX is installed. The properties: a refused config is exactly a
``ConfigError`` (one that names the file when there is one); an accepted one builds, on CPU,
within ``ALBERT_MAX_MODEL_BYTES`` (set low here, so every accepted draw is small by the bound under
test), with the parameter count its config estimates, in bounded time, and writes a config.json
that reads back equal. A folder whose config is valid but does not fit its weights may also be a
``CheckpointError``, as weights that do not fit any model are.

The default run tries a bounded number of examples, derandomized, in a few seconds; ``pytest -m
slow tests/model/test_fuzz_config.py`` tries many more with a fresh seed.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from unittest import mock

import pytest

from albert import AlbertConfig, AlbertModel, CheckpointError, ConfigError
from albert.config import HIDDEN_ACTS, POSITION_EMBEDDING_TYPES, PROBLEM_TYPES
from albert.modeling import MODEL_CLASSES

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra")
from hypothesis import HealthCheck, given, reject, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: Examples per property: the default run, and ``-m slow``.
QUICK, THOROUGH = 150, 4000
quick = settings(max_examples=QUICK, derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
thorough = settings(max_examples=THOROUGH, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: The bound on accepted models in these tests: 16M float32 parameters at most, so that every draw
#: the validation lets through builds in a fraction of a second.
MAX_BYTES = 64 * 2**20
#: A build slower than this means a structural bound is missing (a good build takes < 1 s).
MAX_BUILD_SECONDS = 30.0

BASE = dict(
    vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_hidden_groups=1,
    num_attention_heads=2, intermediate_size=20, inner_group_num=1, max_position_embeddings=32, type_vocab_size=2,
)  # fmt: skip

#: Every field of AlbertConfig, num_labels, and keys albert reads from extras or that collide with names.
FIELDS = sorted({
    "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups", "num_attention_heads",
    "intermediate_size", "inner_group_num", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "max_position_embeddings", "type_vocab_size", "initializer_range", "layer_norm_eps", "classifier_dropout_prob",
    "position_embedding_type", "pad_token_id", "bos_token_id", "eos_token_id", "id2label", "label2id",
    "problem_type", "model_type", "num_labels", "architectures", "custom_key",
})  # fmt: skip


def test_every_field_of_the_config_is_fuzzed():
    from dataclasses import fields

    assert {spec.name for spec in fields(AlbertConfig)} - {"extra"} <= set(FIELDS)


SPECIAL_INTEGERS = [0, 1, 2, 3, 4, 7, 16, -1, -5, -6, 255, 256, 257, 1024, 1025, 5000, 100_000, 100_001,
                    60_000_000, 10**9, 10**10, 10**12, 2**31, 2**63, 2**64, -(2**63), 10**30, 10**400]  # fmt: skip
SPECIAL_FLOATS = [0.0, 0.1, 0.5, 0.99, 1.0, -0.1, 1e-12, 1e-300, 5e-324, 1e308, 16.0, -0.0,
                  math.nan, math.inf, -math.inf]  # fmt: skip
SPECIAL_STRINGS = [*HIDDEN_ACTS, *POSITION_EMBEDDING_TYPES, *PROBLEM_TYPES, "albert", "bert", "", "GELU",
                   "30000", "NaN", "gelu_nope", "\x00", "AlbertModel"]  # fmt: skip

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=6))
nested = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                                  max_size=3), max_leaves=12)
label_maps = st.one_of(
    st.dictionaries(st.integers(-1, 6), st.text(max_size=4), max_size=6),
    st.dictionaries(st.sampled_from(["0", "1", "2", "3", "x", "-1", "01", " 1"]), st.sampled_from(["a", "b", "c", "a"]),
                    max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(-1, 6), max_size=6),
    st.builds(lambda n: {i: f"L{i}" for i in range(n)}, st.integers(0, 8)),
    st.builds(lambda n: {f"L{i}": i for i in range(n)}, st.integers(0, 8)),
)  # fmt: skip
hostile = st.one_of(
    st.sampled_from(SPECIAL_INTEGERS),
    st.integers(-(2**70), 2**70),
    st.integers(-3, 300),
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(),
    st.booleans(),
    st.none(),
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=8),
    st.lists(st.integers(-2, 5), max_size=3),
    label_maps,
    nested,
)
_sizes = st.one_of(st.integers(1, 64), st.sampled_from([1, 2, 4, 8, 16, 32]), st.integers(1, 2**22))
_token_ids = st.one_of(st.none(), st.integers(-1, 45))
_probabilities = st.floats(0, 1)
#: Values a field may well have, so that many draws are accepted and built, not only refused.
PLAUSIBLE = {
    **dict.fromkeys(("vocab_size", "embedding_size", "hidden_size", "intermediate_size", "max_position_embeddings"),
                    _sizes),
    **dict.fromkeys(("num_hidden_layers", "num_hidden_groups", "num_attention_heads", "inner_group_num",
                     "type_vocab_size"), st.integers(1, 8)),
    **dict.fromkeys(("pad_token_id", "bos_token_id", "eos_token_id"), _token_ids),
    **dict.fromkeys(("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"), _probabilities),
    "layer_norm_eps": st.floats(1e-12, 1.0), "initializer_range": st.floats(0, 1),
    "hidden_act": st.sampled_from(HIDDEN_ACTS), "position_embedding_type": st.sampled_from(POSITION_EMBEDDING_TYPES),
    "problem_type": st.sampled_from([None, *PROBLEM_TYPES]), "model_type": st.just("albert"),
    "id2label": label_maps, "label2id": label_maps, "num_labels": st.integers(1, 10),
    "architectures": st.lists(st.sampled_from(sorted(MODEL_CLASSES)), max_size=2), "custom_key": nested,
}  # fmt: skip


@st.composite
def _field_change(draw, name_strategy=st.sampled_from(FIELDS)) -> tuple[str, object]:
    name = draw(name_strategy)
    plausible = draw(st.integers(0, 3)) > 0  # three draws in four take a value the field may well have
    return name, draw(PLAUSIBLE[name] if plausible else hostile)


#: One field replaced, or several at once.
changes = st.one_of(
    st.builds(lambda pair: dict([pair]), _field_change()),
    st.lists(_field_change(), min_size=2, max_size=6).map(dict),
)


def _values(change: dict) -> dict:
    return {**BASE, **change}


def _check_accepted(config: AlbertConfig) -> None:
    """An accepted config: small by the bound; AlbertModel and a head build from it with the
    parameter count it estimates, in bounded time, and run; its label maps are each other's
    inverse; and it writes a strict-JSON config.json that reads back equal."""
    import torch

    assert config.parameter_bytes() <= MAX_BYTES
    length = min(3, config.max_position_embeddings)
    input_ids = torch.arange(length)[None, :] % config.vocab_size
    for name in ("AlbertModel", "AlbertForPreTraining", "AlbertForSequenceClassification", "AlbertForQuestionAnswering"):
        start = time.perf_counter()
        try:
            model = MODEL_CLASSES[name](config).eval()
        except ConfigError as error:  # the one class-specific rule: a start and an end score
            assert name == "AlbertForQuestionAnswering" and "num_labels must be 2" in str(error)
            continue
        assert sum(parameter.numel() for parameter in model.parameters()) == config.parameter_count(name), name
        with torch.no_grad():
            model(input_ids, attention_mask=torch.ones_like(input_ids))
        assert time.perf_counter() - start < MAX_BUILD_SECONDS, name
        if name != "AlbertModel":
            break  # the base model and one head per draw
    assert sorted(config.id2label) == list(range(config.num_labels))
    assert config.label2id == {label: index for index, label in config.id2label.items()}
    architectures = config.extra.get("architectures")  # the pipelines, serve and info pick a class by it
    assert architectures is None or all(isinstance(name, str) for name in architectures)
    written = json.dumps(config.to_dict(), allow_nan=False)  # what save_pretrained writes, strictly JSON
    assert AlbertConfig.from_dict(json.loads(written)) == config


def _python_property(change: dict) -> None:
    with mock.patch.dict(os.environ, {"ALBERT_MAX_MODEL_BYTES": str(MAX_BYTES)}):
        try:
            config = AlbertConfig(**_values(change))
        except ConfigError as error:
            assert error.__cause__ is None
            return
        _check_accepted(config)


@quick
@given(changes)
def test_python_configs_build_or_raise_one_config_error(change):
    _python_property(change)


@pytest.mark.slow
@thorough
@given(changes)
def test_python_configs_build_or_raise_one_config_error_thoroughly(change):
    _python_property(change)


# -- config.json in a model folder ------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny AlbertModel; each draw replaces its config.json."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("fuzz-config-model")
    AlbertModel(AlbertConfig(**BASE)).save_pretrained(folder)
    return folder


def _write_config(folder: Path, change: dict) -> Path:
    saved = json.loads((folder / "config.json.orig").read_text()) if (folder / "config.json.orig").exists() else None
    if saved is None:
        saved = json.loads((folder / "config.json").read_text())
        (folder / "config.json.orig").write_text(json.dumps(saved))
    try:
        text = json.dumps({**saved, **change})  # NaN and Infinity are written as Python's json writes them
    except (ValueError, TypeError):  # an integer too long to write: not a file anyone can have
        reject()
    path = folder / "config.json"
    path.write_text(text)
    return path


def _folder_property(folder: Path, change: dict, load) -> None:
    path = _write_config(folder, change)
    with mock.patch.dict(os.environ, {"ALBERT_MAX_MODEL_BYTES": str(MAX_BYTES)}):
        try:
            config = AlbertConfig.from_json_file(path)
            config_valid = True
        except ConfigError as error:
            config_valid = False
            assert str(path) in str(error) and error.__cause__ is None
        if config_valid:
            _check_accepted(config)
        start = time.perf_counter()
        try:
            load(folder)
        except ConfigError as error:
            assert not config_valid and str(path) in str(error), error
        except CheckpointError:
            assert config_valid, "a config that is not valid must be refused as one"
        else:
            assert config_valid
        assert time.perf_counter() - start < MAX_BUILD_SECONDS


@settings(quick, max_examples=100)
@given(changes)
def test_config_json_loads_or_raises_one_config_error(model_folder, change):
    _folder_property(model_folder, change, lambda folder: AlbertModel.from_pretrained(folder))


@pytest.mark.slow
@thorough
@given(changes)
def test_config_json_loads_or_raises_one_config_error_thoroughly(model_folder, change):
    _folder_property(model_folder, change, lambda folder: AlbertModel.from_pretrained(folder))


def _flax_model():
    pytest.importorskip("flax")
    from albert.flax import FlaxAlbertModel

    return FlaxAlbertModel


@pytest.mark.jax
@settings(quick, max_examples=20)
@given(changes)
def test_config_json_through_the_flax_loader(model_folder, change):
    flax_model = _flax_model()
    _folder_property(model_folder, change, lambda folder: flax_model.from_pretrained(folder))


@pytest.mark.jax
@pytest.mark.slow
@settings(thorough, max_examples=THOROUGH // 4)
@given(changes)
def test_config_json_through_the_flax_loader_thoroughly(model_folder, change):
    flax_model = _flax_model()
    _folder_property(model_folder, change, lambda folder: flax_model.from_pretrained(folder))
