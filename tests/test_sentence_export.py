"""sentence-transformers folders both ways, against the real package (the optional extra
``sentence-transformers``): a folder albert saves gives albert's vectors in
``SentenceTransformer(folder).encode``, and a folder sentence-transformers saves gives its vectors
in albert's embeddings pipeline, with the folder's pooling, normalisation and truncation."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest


def _import_sentence_transformers():
    """sentence_transformers imports transformers' Trainer, which imports TensorFlow's Keras when
    TensorFlow is installed (the ``tf`` extra) and fails on Keras 3: albert's tests never need it."""
    os.environ.setdefault("USE_TF", "0")
    if "transformers" in sys.modules:
        import transformers.utils.import_utils as import_utils

        import_utils._tf_available = False
    return pytest.importorskip("sentence_transformers")


sentence_transformers = _import_sentence_transformers()

import albert  # noqa: E402
from albert import AlbertForMaskedLM, SentenceFolderError, save_sentence_transformer  # noqa: E402
from albert.hub import default_model  # noqa: E402
from albert.sentence_folder import read_sentence_config  # noqa: E402

ORDINARY = [
    "The cat sat on the mat.",
    "Paris is the capital of France, isn't it?",
    "Stocks fell sharply on Tuesday after the report; analysts were surprised.",
    " ".join(["A much longer text that goes on and on"] * 12),  # past a short max_length: cut, as sentence-transformers cuts
]
#: What sentence-transformers' fast tokenizer splits differently from SentencePiece (a '▁' for the
#: trailing space, '3.5' and 'full-width' split apart): albert's folders ask for the slow one.
AWKWARD = ["Trailing space ", "3.5 km of full-width road", "He said: 3.5."]


def _encode(folder: Path, texts: list[str], **options) -> np.ndarray:
    model = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    return model.encode(texts, convert_to_numpy=True, **options)


@pytest.fixture(scope="module")
def tiny(make_tiny_model) -> Path:
    return make_tiny_model(AlbertForMaskedLM, seed=3)


@pytest.mark.parametrize(
    "settings",
    [
        {"pooling": "mean", "normalize": True},
        {"pooling": "cls", "normalize": False, "max_length": 12},
        {"pooling": "max", "normalize": True, "max_length": 20},
    ],
)
def test_an_albert_folder_gives_albert_vectors_in_sentence_transformers(tiny: Path, tmp_path: Path, settings) -> None:
    out = save_sentence_transformer(tiny, tmp_path / "st", **settings)
    theirs = _encode(out, ORDINARY + AWKWARD)
    ours = albert.pipeline("embeddings", model=out)(ORDINARY + AWKWARD, output="numpy")
    assert ours.shape == theirs.shape == (len(ORDINARY + AWKWARD), 32)
    assert np.abs(ours - theirs).max() <= 1e-5
    norms = np.linalg.norm(ours, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5) == settings["normalize"]


def test_the_shipped_model_as_a_sentence_transformers_folder(tmp_path: Path) -> None:
    out = save_sentence_transformer(default_model(), tmp_path / "small")
    theirs = _encode(out, ORDINARY + AWKWARD)
    ours = albert.pipeline("embeddings", model=out)(ORDINARY + AWKWARD, output="numpy")
    assert np.abs(ours - theirs).max() <= 1e-5


def test_a_matryoshka_dimension(tiny: Path, tmp_path: Path) -> None:
    """truncate_dim is sentence-transformers' own field; it prefixes the normalised vector and does
    not normalise again unless asked (``normalize_embeddings=True``), albert normalises the prefix."""
    out = save_sentence_transformer(tiny, tmp_path / "m", dimension=16, matryoshka_dimensions=[32, 16, 8])
    theirs = _encode(out, ORDINARY, normalize_embeddings=True)
    ours = albert.pipeline("embeddings", model=out)(ORDINARY, output="numpy")
    assert ours.shape == theirs.shape == (len(ORDINARY), 16)
    assert np.abs(ours - theirs).max() <= 1e-5
    assert read_sentence_config(out).matryoshka_dimensions == (32, 16, 8)


def _saved_by_sentence_transformers(tiny: Path, folder: Path, pooling: str, normalize: bool, max_length: int) -> Path:
    from sentence_transformers import models

    transformer = models.Transformer(str(tiny), max_seq_length=max_length)
    modules = [transformer, models.Pooling(32, pooling_mode=pooling)]
    if normalize:
        modules.append(models.Normalize())
    sentence_transformers.SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return folder


@pytest.mark.parametrize(("pooling", "normalize", "max_length"), [("mean", True, 16), ("cls", False, 40), ("max", False, 10)])
def test_a_sentence_transformers_folder_gives_its_vectors_in_albert(
    tiny: Path, tmp_path: Path, pooling: str, normalize: bool, max_length: int
) -> None:
    folder = _saved_by_sentence_transformers(tiny, tmp_path / "theirs", pooling, normalize, max_length)
    assert read_sentence_config(folder) is not None
    theirs = _encode(folder, ORDINARY)
    pipe = albert.pipeline("embeddings", model=folder)
    # sentence-transformers 5 keeps max_seq_length as the tokenizer's model_max_length, the window albert reads
    window = pipe.options.max_length or pipe.max_length
    assert (pipe.options.level, pipe.options.sentence_pooling, pipe.options.normalize, window) == (
        "text", pooling, normalize, max_length
    )
    assert np.abs(pipe(ORDINARY, output="numpy") - theirs).max() <= 1e-5


def test_an_older_folder_with_its_model_in_0_transformer(tiny: Path, tmp_path: Path) -> None:
    folder = _saved_by_sentence_transformers(tiny, tmp_path / "old", "mean", True, 24)
    inner = folder / "0_Transformer"
    inner.mkdir()
    for path in list(folder.iterdir()):
        if path.is_file() and path.name not in ("modules.json", "config_sentence_transformers.json", "README.md"):
            shutil.move(str(path), inner / path.name)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    theirs = _encode(folder, ORDINARY)
    ours = albert.pipeline("embeddings", model=folder)(ORDINARY, output="numpy")
    assert np.abs(ours - theirs).max() <= 1e-5


def test_a_folder_with_a_dense_module_is_refused_naming_it(tiny: Path, tmp_path: Path) -> None:
    from sentence_transformers import models

    folder = tmp_path / "dense"
    modules = [models.Transformer(str(tiny)), models.Pooling(32), models.Dense(32, 8)]
    sentence_transformers.SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    with pytest.raises(SentenceFolderError, match="Dense"):
        albert.pipeline("embeddings", model=folder)


def test_a_model_object_and_its_tokenizer(tiny: Path, tmp_path: Path) -> None:
    from albert import AlbertModel, OptionError
    from albert.tokenizer import load_tokenizer

    model = AlbertModel.from_pretrained(tiny)
    model.name_or_path = None
    with pytest.raises(OptionError, match="without a tokenizer"):
        save_sentence_transformer(model, tmp_path / "none")
    out = save_sentence_transformer(model, tmp_path / "given", tokenizer=load_tokenizer(tiny), pooling="cls")
    ours = albert.pipeline("embeddings", model=out)(ORDINARY, output="numpy")
    assert np.abs(ours - _encode(out, ORDINARY)).max() <= 1e-5
