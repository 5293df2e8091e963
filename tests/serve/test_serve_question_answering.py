"""``albert serve``'s question answering reads windows by the codec's one rule (384, or the
model's window when shorter: ``QuestionAnsweringCodec.for_model``, what the pipeline reads by),
and counts a question with its context as the codec cuts it: a request is refused as too long
(422) by that count, and ``x-compute-tokens`` reports it. In process, through the ASGI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="albert serve needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="the serve tests need httpx (the test extra)")
from fastapi.testclient import TestClient  # noqa: E402

from albert import AlbertForQuestionAnswering  # noqa: E402
from albert.codecs.question_answering import DEFAULT_WINDOW, QuestionAnsweringCodec  # noqa: E402
from albert.serve.app import create_app  # noqa: E402
from albert.serve.served_model import ServedModel  # noqa: E402
from albert.serve.settings import ServeSettings  # noqa: E402

pytestmark = pytest.mark.serve

WORDS = (Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt").read_text().lower().split()
WINDOW = 512  # the model's: longer than the QA window, so the codec's 384 applies


@pytest.fixture(scope="module")
def served(make_tiny_model):
    folder = make_tiny_model(AlbertForQuestionAnswering, seed=5, max_position_embeddings=WINDOW)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": WINDOW}))
    model = ServedModel(str(folder), in_process=True)
    yield model
    model.close()


def text_of(served: ServedModel, pieces: int) -> str:
    """A text of exactly ``pieces`` pieces: a word the tokenizer reads as one piece, repeated."""
    word = next(word for word in WORDS if word.isalpha() and served.piece_counts([word, f"{word} {word}"]) == [1, 2])
    text = " ".join([word] * pieces)
    assert served.piece_counts([text]) == [pieces]
    return text


def test_the_window_rule_is_the_codec_s(served):
    assert served.facts.window == WINDOW
    pipe = served.backend.pipelines["question-answering"]
    assert pipe.codec(pipe.defaults).max_length == DEFAULT_WINDOW == 384
    codec = QuestionAnsweringCodec.for_model(served.tokenizer, 64)
    assert codec.max_length == 64  # a model's shorter window wins


def test_a_long_question_is_counted_as_the_codec_cuts_it(served):
    question, context = text_of(served, 600), text_of(served, 200)
    (uncut,) = served.pair_tokens([(question, context)])
    cut = 64 + 200 + 3  # the question cut to max_question_len; [CLS] q [SEP] c [SEP]
    assert uncut > WINDOW >= cut
    (ready,) = served.question_answering([question], [context], None)
    assert ready.counted == cut
    with TestClient(create_app(served, ServeSettings(max_batch_tokens=WINDOW))) as client:
        response = client.post("/answer", json={"inputs": {"question": question, "context": context}})
        assert response.status_code == 200, response.text  # the uncut pair would exceed the budget: refused before
        assert response.headers["x-compute-tokens"] == str(cut)
        long_context = text_of(served, 700)  # still too long once cut: refused, with the count of the cut pair
        refused = client.post("/answer", json={"inputs": {"question": question, "context": long_context}})
        assert refused.status_code == 422
        assert f"is {64 + 700 + 3} tokens, more than one batch holds" in refused.json()["error"]
