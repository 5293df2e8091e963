"""The sentence-embedding settings saved in a model folder (src/albert/sentence_folder.py): what is
written reads back the same, sentence-transformers' own layouts read, and a file albert cannot use
is one SentenceFolderError naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from albert.errors import OptionError, SentenceFolderError
from albert.sentence_folder import (
    SentenceEmbeddingConfig,
    read_sentence_config,
    read_sentence_folder,
    write_sentence_config,
)


def _model_folder(tmp_path: Path, hidden_size: int = 32) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "albert", "hidden_size": hidden_size}))
    return tmp_path


@pytest.mark.parametrize(
    "config",
    [
        SentenceEmbeddingConfig(),
        SentenceEmbeddingConfig(pooling="cls", normalize=False, max_length=40),
        SentenceEmbeddingConfig(pooling="max", dimension=16, matryoshka_dimensions=(32, 16, 8)),
    ],
)
def test_round_trip(tmp_path: Path, config: SentenceEmbeddingConfig) -> None:
    folder = _model_folder(tmp_path)
    write_sentence_config(folder, config, hidden_size=32)
    assert read_sentence_config(folder) == config
    assert (folder / "2_Normalize").is_dir() == config.normalize
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["word_embedding_dimension"] == 32
    assert [key for key, value in pooling.items() if value is True and key.startswith("pooling_mode")] == [
        {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens"}[config.pooling]
    ]


def test_rewriting_replaces_the_earlier_settings(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    write_sentence_config(folder, SentenceEmbeddingConfig(normalize=True), hidden_size=32)
    write_sentence_config(folder, SentenceEmbeddingConfig(normalize=False, pooling="cls"), hidden_size=32)
    assert read_sentence_config(folder) == SentenceEmbeddingConfig(normalize=False, pooling="cls")
    assert not (folder / "2_Normalize").exists()


def test_a_plain_model_folder_has_none(tmp_path: Path) -> None:
    assert read_sentence_config(_model_folder(tmp_path)) is None


def test_an_older_folder_with_its_transformer_in_a_subfolder(tmp_path: Path) -> None:
    """sentence-transformers 0.x and 1.x kept the model in 0_Transformer/ with its own settings there."""
    _model_folder(tmp_path / "0_Transformer" if (tmp_path / "0_Transformer").mkdir() is None else tmp_path, 48)
    (tmp_path / "0_Transformer" / "sentence_bert_config.json").write_text('{"max_seq_length": 128, "do_lower_case": false}')
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 48, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    ))
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    found = read_sentence_folder(tmp_path)
    assert found is not None
    assert found.transformer == tmp_path / "0_Transformer"
    assert found.config == SentenceEmbeddingConfig(pooling="cls", normalize=False, max_length=128)


def _break(folder: Path, name: str, change) -> None:
    path = folder / name
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


@pytest.mark.parametrize(
    ("name", "change", "named"),
    [
        ("modules.json", lambda v: v.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}), "Dense"),
        ("modules.json", lambda v: v.reverse(), "Transformer, then a Pooling"),
        ("modules.json", lambda v: v[0].update(path="../elsewhere"), "inside the model folder"),
        ("1_Pooling/config.json", lambda v: v.update(pooling_mode_weightedmean_tokens=True), "pooling_mode_weightedmean_tokens"),
        ("1_Pooling/config.json", lambda v: v.update(pooling_mode_cls_token=True), "exactly one"),
        ("1_Pooling/config.json", lambda v: v.update(word_embedding_dimension=64), "word_embedding_dimension"),
        ("sentence_bert_config.json", lambda v: v.update(max_seq_length="long"), "max_seq_length"),
        ("sentence_bert_config.json", lambda v: v.update(do_lower_case=True), "do_lower_case"),
        ("config_sentence_transformers.json", lambda v: v.update(truncate_dim=64), "hidden size 32"),
        ("config_sentence_transformers.json", lambda v: v["albert"].update(matryoshka_dimensions=[8, 16]), "largest first"),
        ("config_sentence_transformers.json", lambda v: v["albert"].update(matryoshka_dimensions="8"), "matryoshka_dimensions"),
    ],
)
def test_a_file_albert_cannot_use_is_one_error_naming_it(tmp_path: Path, name: str, change, named: str) -> None:
    folder = _model_folder(tmp_path)
    write_sentence_config(folder, SentenceEmbeddingConfig(), hidden_size=32)
    _break(folder, name, change)
    with pytest.raises(SentenceFolderError, match=named) as refused:
        read_sentence_config(folder)
    assert str(folder / name) in str(refused.value)


def test_unreadable_json_names_the_file(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    write_sentence_config(folder, SentenceEmbeddingConfig(), hidden_size=32)
    (folder / "modules.json").write_text("[{")
    with pytest.raises(SentenceFolderError, match="modules.json"):
        read_sentence_config(folder)


@pytest.mark.parametrize(
    "fields",
    [{"pooling": "sum"}, {"dimension": 0}, {"max_length": 2}, {"matryoshka_dimensions": (8, 8)}, {"normalize": "yes"}],
)
def test_settings_check_themselves(fields: dict) -> None:
    with pytest.raises(OptionError):
        SentenceEmbeddingConfig(**fields)


def test_dimensions_past_the_hidden_size_are_refused_on_write(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="hidden size 32"):
        write_sentence_config(_model_folder(tmp_path), SentenceEmbeddingConfig(dimension=64), hidden_size=32)
    assert not (tmp_path / "modules.json").exists()


def test_which_dimensions_a_caller_may_ask_for() -> None:
    plain, matryoshka = SentenceEmbeddingConfig(), SentenceEmbeddingConfig(matryoshka_dimensions=(32, 16))
    assert plain.allowed_dimension(32, 32) and not plain.allowed_dimension(16, 32)
    assert matryoshka.allowed_dimension(16, 32) and matryoshka.allowed_dimension(20, 32)
    assert not matryoshka.allowed_dimension(33, 32) and not matryoshka.allowed_dimension(0, 32)


@pytest.mark.parametrize(("mode", "ok"), [("max", True), (["cls"], True), (["cls", "mean"], False), ("lasttoken", False)])
def test_the_newer_pooling_keys(tmp_path: Path, mode, ok: bool) -> None:
    """sentence-transformers 5 writes ``pooling_mode`` and ``embedding_dimension`` instead of flags."""
    folder = _model_folder(tmp_path)
    write_sentence_config(folder, SentenceEmbeddingConfig(), hidden_size=32)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": mode}))
    if ok:
        config = read_sentence_config(folder)
        assert config is not None and config.pooling == (mode if isinstance(mode, str) else mode[0])
    else:
        with pytest.raises(SentenceFolderError, match="pooling_mode"):
            read_sentence_config(folder)
