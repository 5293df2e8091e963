"""``albert serve`` on a sentence-embedding folder: /embed and /v1/embeddings give the folder's
vectors by default (level text, its pooling, normalisation and dimension: the pipeline's), OpenAI's
``dimensions`` is a prefix scaled to length 1 again, allowed as the model was trained, and /info
says what was saved. In process, through the ASGI app."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="albert serve needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="the serve tests need httpx (the test extra)")
from fastapi.testclient import TestClient  # noqa: E402

from albert import AlbertForMaskedLM, save_sentence_transformer  # noqa: E402
from albert.pipelines import pipeline  # noqa: E402
from albert.serve.app import create_app  # noqa: E402
from albert.serve.served_model import ServedModel  # noqa: E402
from albert.serve.settings import ServeSettings  # noqa: E402

pytestmark = pytest.mark.serve

TEXTS = ["The children carried the mountain at night.", "My friend was dangerous, so a dog forgot an apple. " * 3]


@pytest.fixture(scope="module")
def folders(make_tiny_model, tmp_path_factory):
    plain = make_tiny_model(AlbertForMaskedLM, seed=11)
    root = tmp_path_factory.mktemp("served")
    matryoshka = save_sentence_transformer(plain, root / "matryoshka", pooling="cls", max_length=16, dimension=16,
                                           matryoshka_dimensions=[32, 16, 8])  # fmt: skip
    fixed = save_sentence_transformer(plain, root / "fixed", pooling="max")
    return {"matryoshka": matryoshka, "fixed": fixed}


@pytest.fixture(scope="module")
def clients(folders):
    served = {name: ServedModel(str(folder), in_process=True) for name, folder in folders.items()}
    with TestClient(create_app(served["matryoshka"], ServeSettings(auto_truncate=True))) as matryoshka, \
            TestClient(create_app(served["fixed"], ServeSettings(auto_truncate=True))) as fixed:  # fmt: skip
        yield {"matryoshka": matryoshka, "fixed": fixed}
    for model in served.values():
        model.close()


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_embed_gives_the_folders_vectors_by_default(clients, folders):
    expected = pipeline("embeddings", model=folders["matryoshka"])(TEXTS, output="numpy")
    assert expected.shape == (2, 16)
    answer = clients["matryoshka"].post("/embed", json={"inputs": TEXTS})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(np.array(answer.json()), expected, atol=1e-5)
    full = pipeline("embeddings", model=folders["matryoshka"], dimension=32, normalize=False)(TEXTS, output="numpy")
    raw = clients["matryoshka"].post("/embed", json={"inputs": TEXTS, "normalize": False, "dimensions": 32}).json()
    np.testing.assert_allclose(np.array(raw), full, atol=1e-5)


def test_openai_dimensions_on_a_matryoshka_model(clients, folders):
    full = pipeline("embeddings", model=folders["matryoshka"], dimension=32, normalize=False)(TEXTS, output="numpy")
    for size in (None, 8, 20, 32):
        body = {"input": TEXTS, "model": "m"} | ({} if size is None else {"dimensions": size})
        answer = clients["matryoshka"].post("/v1/embeddings", json=body)
        assert answer.status_code == 200, answer.text
        vectors = np.array([item["embedding"] for item in answer.json()["data"]])
        np.testing.assert_allclose(vectors, _unit(full[:, : size or 16]), atol=1e-5)
    too_many = clients["matryoshka"].post("/v1/embeddings", json={"input": TEXTS, "dimensions": 33})
    assert too_many.status_code == 422 and "32" in too_many.json()["error"]


def test_a_model_without_matryoshka_dimensions_gives_its_own_size_only(clients, folders):
    expected = pipeline("embeddings", model=folders["fixed"])(TEXTS, output="numpy")
    answer = clients["fixed"].post("/v1/embeddings", json={"input": TEXTS, "dimensions": 32})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(np.array([item["embedding"] for item in answer.json()["data"]]), expected, atol=1e-5)
    refused = clients["fixed"].post("/v1/embeddings", json={"input": TEXTS, "dimensions": 16})
    assert refused.status_code == 422
    assert "not a size this model was trained to give" in refused.json()["error"]


def test_info_says_what_was_saved(clients):
    info = clients["matryoshka"].get("/info").json()
    assert info["sentence_embedding"] == {
        "pooling": "cls", "normalize": True, "max_length": 16, "dimension": 16, "matryoshka_dimensions": [32, 16, 8]
    }


def test_sentence_level_on_a_sentence_folder_is_the_pipelines(clients, folders):
    """The saved pooling, dimension and normalisation, and the saved max length as the window."""
    texts = [" ".join(["A long sentence of many words that goes on"] * 2) + ". A short one."]  # within 64, past 16
    expected = pipeline("embeddings", model=folders["matryoshka"], level="sentence")(texts)[0]
    answer = clients["matryoshka"].post("/embed", json={"inputs": texts, "level": "sentence"})
    assert answer.status_code == 200, answer.text
    got = answer.json()[0]
    assert [(unit["start"], unit["end"]) for unit in got] == [(record["start"], record["end"]) for record in expected]
    np.testing.assert_allclose(np.array([unit["embedding"] for unit in got]),
                               np.stack([record["embedding"] for record in expected]), atol=1e-5)  # fmt: skip
