"""``albert serve`` encodes with the task's codec, once, on its HTTP side: a pair it serves is fed
to the model exactly as fine-tuning and the pipeline feed it (the codec is the one source), and
the model's process is sent ids (:class:`~albert.serve.jobs.Job`, holding an ``Encoded``), never
the request's text. In process, through the ASGI app: no port, a second or two."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="albert serve needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="the serve tests need httpx (the test extra)")
from fastapi.testclient import TestClient  # noqa: E402

from albert import AlbertForSequenceClassification  # noqa: E402
from albert.codecs.base import Encoded  # noqa: E402
from albert.pipelines import pipeline  # noqa: E402
from albert.serve.app import create_app  # noqa: E402
from albert.serve.jobs import Job  # noqa: E402
from albert.serve.served_model import ServedModel  # noqa: E402
from albert.serve.settings import ServeSettings  # noqa: E402
from albert.training.finetuning.readers import TextExample  # noqa: E402
from albert.training.finetuning.tasks import EncodeOptions, get_task  # noqa: E402

pytestmark = pytest.mark.serve

LINES = (Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt").read_text().splitlines()
LONG = " ".join(LINES[:12])  # far past the tiny model's window of 64
#: Pairs as MRPC has them, two of them cut to the window (a tie and a longer first).
PAIRS = [(LINES[0], LINES[1]), (LONG, LINES[2]), (LINES[3], LONG), (LONG, LONG), (LINES[4], None)]


@pytest.fixture(scope="module")
def classifier(make_tiny_model):
    return make_tiny_model(AlbertForSequenceClassification, seed=41, num_labels=3)


@pytest.fixture(scope="module")
def served(classifier):
    model = ServedModel(str(classifier), in_process=True)
    yield model
    model.close()


def rows(features):
    return [(feature["input_ids"], feature["token_type_ids"]) for feature in features]


def test_a_served_pair_is_fed_as_fine_tuning_and_the_pipeline_feed_it(served):
    ready = served.text_classification(PAIRS, truncate=True)
    window = served.facts.window
    examples = [TextExample(first, second, None) for first, second in PAIRS]
    fine_tuning = get_task("text-classification").encode(examples, served.tokenizer, None, EncodeOptions(max_length=window))
    classify = served.backend.pipelines["text-classification"]
    piped = classify.codec.encode([first for first, _ in PAIRS], [second for _, second in PAIRS])
    sent = [feature for each in ready for feature in each.item.encoded.features]
    assert rows(sent) == rows(fine_tuning) == rows(feature for example in piped for feature in example.features)
    assert [len(feature["input_ids"]) for feature in sent][1:4] == [window] * 3  # cut, not refused
    assert [each.tokens for each in ready] == [len(feature["input_ids"]) for feature in sent]


@pytest.mark.filterwarnings("ignore::albert.codecs.base.TruncationWarning")
def test_the_model_process_is_sent_ids_not_text(served):
    sent = []
    compute = served.backend.compute

    def recording(key, items):
        sent.append((key, items))
        return compute(key, items)

    served.backend.compute = recording  # what the batcher hands the model's side, as the worker's pipe carries it
    try:
        with TestClient(create_app(served, ServeSettings())) as client:
            inputs = [{"text": first, "text_pair": second} if second else first for first, second in PAIRS]
            response = client.post("/classify", json={"inputs": inputs, "truncate": True})
    finally:
        del served.backend.compute
    assert response.status_code == 200, response.text
    reference = pipeline("text-classification", model=served.backend.pipelines["text-classification"].model,
                         tokenizer=served.tokenizer)(inputs)  # fmt: skip
    for ours, theirs in zip(response.json(), reference, strict=True):
        assert [record["label"] for record in ours] == [record["label"] for record in theirs]
        assert [record["score"] for record in ours] == pytest.approx([record["score"] for record in theirs], abs=1e-6)
    items = [item for _, batch in sent for item in batch]
    assert len(items) == len(PAIRS) and sent[0][0][0] == "text-classification"
    for item in items:
        assert isinstance(item, Job) and isinstance(item.encoded, Encoded) and item.text is None
        assert not any(isinstance(value, str) for feature in item.encoded.features for value in feature.values())
