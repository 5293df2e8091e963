"""The embeddings pipeline on a sentence-embedding folder: the saved pooling, normalisation,
dimension and max length are its defaults (level "text"), options given still win, and the text
level is transformers' hidden states pooled over the attention mask, cut and normalised."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.pipelines import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForMaskedLM, save_sentence_transformer
from albert.errors import OptionError
from albert.pipelines import pipeline
from albert.pipelines.embeddings import pool, truncate_and_normalize

TEXTS = ["The children carried the mountain at night.", "My friend was dangerous, so a dog forgot an apple. " * 4]
ATOL = 1e-5


@pytest.fixture(scope="module")
def plain(make_tiny_model):
    return make_tiny_model(AlbertForMaskedLM, seed=7)


@pytest.fixture(scope="module")
def sentence_folder(plain, tmp_path_factory):
    out = tmp_path_factory.mktemp("sentence") / "model"
    return save_sentence_transformer(
        plain, out, pooling="max", normalize=True, max_length=20, dimension=16, matryoshka_dimensions=[32, 16, 8]
    )


def _expected(folder, texts, how, max_length, dimension, normalize):
    """transformers' AlbertModel on each text cut to max_length, pooled over its mask."""
    reference, tokenizer = reference_model("AlbertModel", folder), our_tokenizer(folder)
    rows = []
    for text in texts:
        encoding = tokenizer(text, truncation=True, max_length=max_length)
        states = reference_outputs(reference, encoding).last_hidden_state
        mask = torch.ones(states.shape[:2], dtype=torch.long)
        rows.append(truncate_and_normalize(pool(states, mask, how), dimension, normalize)[0].numpy())
    return np.stack(rows)


def test_the_saved_settings_are_the_defaults(sentence_folder):
    embed = pipeline("embeddings", model=sentence_folder)
    options = embed.options
    assert (options.level, options.sentence_pooling, options.normalize, options.dimension, options.max_length) == (
        "text", "max", True, 16, 20
    )
    vectors = embed(TEXTS, output="numpy")
    np.testing.assert_allclose(vectors, _expected(sentence_folder, TEXTS, "max", 20, 16, True), atol=ATOL)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_options_given_win_over_the_saved_ones(sentence_folder):
    embed = pipeline("embeddings", model=sentence_folder, sentence_pooling="mean", dimension=None)
    assert embed.options.dimension == 16  # None is "not given": the folder's value stays
    vectors = embed(TEXTS, output="numpy", dimension=32, normalize=False, max_length=30)
    np.testing.assert_allclose(vectors, _expected(sentence_folder, TEXTS, "mean", 30, 32, False), atol=ATOL)


def test_other_levels_on_a_sentence_folder(sentence_folder, plain):
    """Word vectors are not normalised or cut (the folder's settings shape pooled vectors); a
    sentence-level call takes the saved pooling and shape."""
    embed, reference = pipeline("embeddings", model=sentence_folder), pipeline("embeddings", model=plain)
    ours = embed(TEXTS[0], level="word")  # the saved max_length is its window here: windows, never cut
    theirs = reference(TEXTS[0], level="word", max_length=20)
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours[0]["embedding"], theirs[0]["embedding"], atol=ATOL)
    sentences = embed(TEXTS[0], level="sentence", output="numpy")
    assert sentences.shape == (1, 16)
    np.testing.assert_allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-6)


def test_a_plain_folder_keeps_its_defaults(plain):
    embed = pipeline("embeddings", model=plain)
    assert embed.sentence_config is None
    assert (embed.options.level, embed.options.normalize, embed.options.dimension) == ("word", False, None)
    text_level = embed(TEXTS, level="text", sentence_pooling="cls", output="numpy")
    np.testing.assert_allclose(text_level, _expected(plain, TEXTS, "cls", 64, None, False), atol=ATOL)


def test_shaping_options_are_checked(plain):
    embed = pipeline("embeddings", model=plain)
    with pytest.raises(OptionError, match="hidden size 32"):
        embed(TEXTS, level="text", dimension=33)
    with pytest.raises(OptionError, match="normalize and dimension"):
        embed(TEXTS, level="word", normalize=True)


def test_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 1.0]]
    assert pool(hidden, mask, "max").tolist() == [[3.0, 4.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, -2.0]]
    with pytest.raises(OptionError):
        pool(hidden, mask, "sum")


def test_albert_convert_sentence_transformers(plain, tmp_path):
    from typer.testing import CliRunner

    from albert.cli import app
    from albert.sentence_folder import SentenceEmbeddingConfig, read_sentence_config

    out = tmp_path / "converted"
    args = ["convert", "sentence-transformers", str(plain), "--out", str(out), "--pooling", "cls", "--no-normalize",
            "--max-length", "24", "--matryoshka", "32,16"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert read_sentence_config(out) == SentenceEmbeddingConfig(
        pooling="cls", normalize=False, max_length=24, matryoshka_dimensions=(32, 16)
    )
    again = CliRunner().invoke(app, ["convert", "sentence-transformers", str(out), "--out", str(out), "--dimension", "16"])
    assert again.exit_code == 0, again.output  # the folder's own settings kept, the dimension added
    assert read_sentence_config(out) == SentenceEmbeddingConfig(
        pooling="cls", normalize=False, max_length=24, dimension=16, matryoshka_dimensions=(32, 16)
    )
    refused = CliRunner().invoke(app, ["convert", "sentence-transformers", str(plain), "--out", str(tmp_path / "x"),
                                       "--matryoshka", "16,32"])  # fmt: skip
    assert refused.exit_code == 1 and "largest first" in refused.output


def test_albert_embed_shapes_vectors_without_a_level_given(plain, sentence_folder):
    """``--normalize`` / ``--dimension`` alone: the command's level (sentence, or a sentence folder's
    text) pools, so they are taken, not refused as if the level were the library's word."""
    import json

    from typer.testing import CliRunner

    from albert.cli import app

    for folder, level in ((plain, "sentence"), (sentence_folder, "text")):
        result = CliRunner().invoke(app, ["embed", "a short text", "-m", str(folder), "--dimension", "8", "--json"])
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(rows) == 1 and len(rows[0]["embedding"]) == 8 and (level == "text") == ("sentence" not in rows[0])
    refused = CliRunner().invoke(app, ["embed", "a short text", "-m", str(plain), "--level", "word", "--normalize"])
    assert refused.exit_code == 1 and "level 'word'" in refused.output
