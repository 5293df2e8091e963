"""``albert serve``: the real server, started in subprocesses on free ports of 127.0.0.1 and spoken
to over HTTP, answers every endpoint with what the single-process pipeline returns (whatever batch
an input was merged into), refuses bad requests with the documented status and a message, sheds
load with 429 while /health answers, and drains on SIGTERM without losing a request.

The servers start together, once per module (importing torch dominates their start-up), with one
torch thread each; every one is stopped (terminate, then kill) whatever the tests do.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx (the test extra)")
pytest.importorskip("fastapi", reason="albert serve needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("hypothesis", reason="hypothesis is in the test extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from albert import (  # noqa: E402
    AlbertForMultipleChoice,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
    AlbertModel,
)
from albert.pipelines import pipeline  # noqa: E402

pytestmark = [pytest.mark.serve, pytest.mark.xdist_group("serve")]

TINY_CORPUS = Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt"
LINES = TINY_CORPUS.read_text().splitlines()
#: Texts of one to four sentences: different lengths, so merged batches mix them.
TEXTS = [" ".join(LINES[start : start + 1 + start % 4]) for start in range(0, 240, 5)]
#: Inputs of 69 to 93 tokens: with a budget of 128 tokens, each is a batch of its own.
HEAVY = [" ".join(LINES[start : start + 6]) for start in range(0, 180)]
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOLERANCE = 1e-5


# -- the servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``albert serve`` in a subprocess on a free port of 127.0.0.1; its stderr in ``log``."""

    def __init__(self, log: Path, *arguments: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environment = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "albert.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port), *arguments]
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=environment)

    def wait_ready(self, timeout: float = 180) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"albert serve exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"albert serve did not answer /health within {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def model_process(self) -> int:
        """The pid of the server's child that runs the model (the one multiprocessing spawned)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue  # exited while we looked
            if int(fields[1]) == self.process.pid and b"spawn_main" in command:
                return int(stat.parent.name)
        raise AssertionError(f"albert serve (pid {self.process.pid}) has no model process")

    def metric(self, name: str, headers: dict | None = None) -> float:
        """The sum of a metric's samples named ``name`` (all labels)."""
        text = httpx.get(f"{self.url}/metrics", headers=headers).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.split("{")[0].split(" ")[0] == name)  # fmt: skip


@pytest.fixture(scope="module")
def servers(tmp_path_factory, make_tiny_model):
    """Every server the tests speak to, started at once (they import torch side by side)."""
    logs = tmp_path_factory.mktemp("serve-logs")
    labels = {0: "O", 1: "B-PER", 2: "I-PER"}
    models = {
        "classify": make_tiny_model(AlbertForSequenceClassification, seed=31, num_labels=3),
        "tag": make_tiny_model(AlbertForTokenClassification, seed=32, id2label=labels,
                               label2id={name: index for index, name in labels.items()}),  # fmt: skip
        "answer": make_tiny_model(AlbertForQuestionAnswering, seed=33),
        "choose": make_tiny_model(AlbertForMultipleChoice, seed=34),
        "encoder": make_tiny_model(AlbertModel, seed=35),
    }
    arguments = {
        "shipped": ["--api-key", KEY],  # the default model: no --model
        # a small token budget: every long input is a batch of its own, so requests stay in flight
        "busy": ["--max-concurrent-requests", "2", "--max-batch-tokens", "128"],
        "draining": ["--max-batch-tokens", "128"],
        **{name: ["--model", str(folder)] for name, folder in models.items()},
        "doomed": ["--max-batch-tokens", "128"],  # its model process is killed
        "hasty": ["--max-batch-tokens", "128", "--graceful-timeout", "1"],  # SIGTERM with more than 1 s of work
    }
    arguments["encoder"].append("--in-process")  # the model on the server's own thread: the same answers
    started: dict[str, Server] = {}
    try:
        for name, options in arguments.items():
            started[name] = Server(logs / f"{name}.log", *options)
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.process.terminate()  # all at once: each takes a moment to exit
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def shipped(servers):
    with httpx.Client(base_url=servers["shipped"].url, headers=AUTH, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def embedder():
    return pipeline("embeddings", level="document")


def post(client, path: str, body: dict) -> list:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def close(ours, theirs) -> bool:
    return float(np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)).max()) <= TOLERANCE


def assert_same_records(ours, theirs, vector_key: str | None = None) -> None:
    """JSON results against the pipeline's: equal but for floats, which agree within TOLERANCE."""
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs)
        for name, value in theirs.items():
            assert_same_records(ours[name], value)
    elif isinstance(theirs, (list, tuple)) or (isinstance(theirs, np.ndarray) and theirs.ndim):
        assert len(ours) == len(theirs)
        for mine, reference in zip(ours, theirs):
            assert_same_records(mine, reference)
    elif isinstance(theirs, (float, np.floating)):
        assert abs(ours - float(theirs)) <= TOLERANCE
    else:
        assert ours == theirs


# -- embeddings -------------------------------------------------------------------------------------


def test_embed_equals_the_pipeline_alone_and_merged(shipped, embedder):
    reference = list(embedder(TEXTS[:12], output="numpy"))
    together = post(shipped, "/embed", {"inputs": TEXTS[:12], "normalize": False})
    alone = [post(shipped, "/embed", {"inputs": text, "normalize": False})[0] for text in TEXTS[:12]]
    for mine, single, theirs in zip(together, alone, reference):
        assert len(mine) == 384 and close(mine, theirs) and close(single, theirs)
    unit = post(shipped, "/embed", {"inputs": TEXTS[0]})[0]  # normalize is on by default
    assert close(unit, reference[0] / np.linalg.norm(reference[0]))


def test_embed_by_sentence_gives_each_sentence_its_span_and_vector(shipped):
    text = TEXTS[3]
    expected = pipeline("embeddings", level="sentence", sentence_pooling="max")(text)
    response = shipped.post("/embed", json={"inputs": [text], "level": "sentence", "pooling": "max", "normalize": False})
    assert response.status_code == 200
    assert int(response.headers["x-compute-tokens"]) > 0
    assert float(response.headers["x-compute-time"]) > 0 and float(response.headers["x-queue-time"]) >= 0
    (sentences,) = response.json()
    assert [s["text"] for s in sentences] == [text[s["start"] : s["end"]] for s in sentences]
    assert_same_records(sentences, [{k: v for k, v in r.items() if k != "document"} for r in expected])


def test_embed_all_gives_every_piece_and_word_with_its_span(shipped):
    text = TEXTS[1]
    for level in ("piece", "word"):
        expected = pipeline("embeddings", level=level)(text)
        (units,) = post(shipped, "/embed_all", {"inputs": text, "level": level})
        assert_same_records(units, [{k: v for k, v in r.items() if k != "document"} for r in expected])
        assert all(unit["text"] == text[unit["start"] : unit["end"]] for unit in units)


def test_the_openai_client_works_unchanged(servers, embedder):
    import openai

    client = openai.OpenAI(base_url=f"{servers['shipped'].url}/v1", api_key=KEY)
    reference = [vector / np.linalg.norm(vector) for vector in embedder(TEXTS[:3], output="numpy")]
    by_default = client.embeddings.create(model="albert-small-en", input=TEXTS[:3])  # the client asks for base64
    as_floats = client.embeddings.create(model="anything", input=TEXTS[:3], encoding_format="float")
    for response in (by_default, as_floats):
        assert [item.index for item in response.data] == [0, 1, 2] and response.model == "albert-small-en"
        for item, expected in zip(response.data, reference):
            assert close(item.embedding, expected)
    tokens = sum(len(ids) for ids in embedder.tokenizer(TEXTS[:3])["input_ids"])
    assert by_default.usage.prompt_tokens == by_default.usage.total_tokens == tokens
    short = client.embeddings.create(model="m", input=TEXTS[0], dimensions=64, encoding_format="float").data[0]
    assert len(short.embedding) == 64 and abs(np.linalg.norm(short.embedding) - 1) < 1e-6
    assert close(short.embedding, reference[0][:64] / np.linalg.norm(reference[0][:64]))
    raw = httpx.post(f"{servers['shipped'].url}/v1/embeddings", headers=AUTH,
                     json={"input": TEXTS[0], "encoding_format": "base64"}).json()  # fmt: skip
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert close(decoded, reference[0])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{servers['shipped'].url}/v1", api_key="wrong").embeddings.create(model="m", input="hi")


def test_concurrent_requests_each_get_their_own_answer(servers, shipped, embedder):
    reference = dict(zip(TEXTS, embedder(TEXTS, output="numpy")))
    batches_before = servers["shipped"].metric("albert_batch_inputs_count", AUTH)

    def ask(text: str) -> list:
        return post(shipped, "/embed", {"inputs": text, "normalize": False})[0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, TEXTS))
    assert all(close(answer, reference[text]) for text, answer in zip(TEXTS, answers))
    batches = servers["shipped"].metric("albert_batch_inputs_count", AUTH) - batches_before
    assert batches < len(TEXTS)  # requests were merged into batches


# -- the tasks --------------------------------------------------------------------------------------


def test_fill_mask_equals_the_pipeline(shipped):
    texts = ["The man worked as a [MASK].", "A [MASK] is a small [MASK] of the house."]
    expected = pipeline("fill-mask")(texts, top_k=3)
    assert_same_records(post(shipped, "/fill-mask", {"inputs": texts, "top_k": 3}), expected)


TASKS = {
    "classify": ("text-classification", {"inputs": ["a dog.", {"text": "a dog.", "text_pair": "an apple."}], "top_k": 2},
                 lambda pipe, body: pipe(["a dog.", {"text": "a dog.", "text_pair": "an apple."}], top_k=2)),
    "tag": ("token-classification", {"inputs": [LINES[0], LINES[2]], "ignore_labels": []},
            lambda pipe, body: pipe([LINES[0], LINES[2]], aggregation_strategy="simple", ignore_labels=[])),
    "answer": ("question-answering", {"inputs": [{"question": "who carried it?", "context": TEXTS[4]}], "top_k": 2},
               lambda pipe, body: [pipe({"question": "who carried it?", "context": TEXTS[4]}, top_k=2)]),
    "choose": ("multiple-choice", {"inputs": {"prompt": "The man", "choices": ["ran.", "read a book.", "a the."]}},
               lambda pipe, body: [pipe("The man", choices=["ran.", "read a book.", "a the."])]),
}  # fmt: skip


@pytest.mark.parametrize("endpoint", list(TASKS))
def test_task_endpoints_equal_their_pipelines(servers, endpoint):
    task, body, expected = TASKS[endpoint]
    server = servers[endpoint]
    model = json.loads(httpx.get(f"{server.url}/info").text)["model"]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answered = post(client, f"/{endpoint}", body)
        assert client.post("/fill-mask", json={"inputs": "a [MASK]."}).status_code == 404  # no MLM head here
    assert_same_records(answered, expected(pipeline(task, model=model), body))


def test_an_encoder_without_a_head_serves_embeddings_only(servers):
    server = servers["encoder"]
    info = httpx.get(f"{server.url}/info").json()
    assert info["tasks"] == ["embeddings"] and "/fill-mask" not in info["endpoints"]
    refused = httpx.post(f"{server.url}/fill-mask", json={"inputs": "a [MASK]."})
    assert refused.status_code == 404 and "without a head" in refused.json()["error"]
    # started --in-process: no model process, and the same answers as the pipeline
    with pytest.raises(AssertionError, match="no model process"):
        server.model_process()
    texts = LINES[:6]
    ours = httpx.post(f"{server.url}/embed", json={"inputs": texts, "normalize": False}, timeout=60)
    assert ours.status_code == 200
    expected = pipeline("embeddings", model=info["model"], level="document")(texts, output="numpy")
    assert all(close(mine, theirs) for mine, theirs in zip(ours.json(), expected))


def test_tokenize_gives_the_tokenizer_s_pieces_and_spans(shipped, embedder):
    text = "Hello [MASK] world, again."
    (tokens,) = post(shipped, "/tokenize", {"inputs": text})
    encoding = embedder.tokenizer(text, return_offsets_mapping=True)
    assert [token["id"] for token in tokens] == encoding["input_ids"]
    assert [token["piece"] for token in tokens] == encoding.tokens()
    assert [token["text"] for token in tokens] == [text[start:end] for start, end in encoding["offset_mapping"]]
    assert [token["piece"] for token in tokens if token["special"]] == ["[CLS]", "[MASK]", "[SEP]"]
    (bare,) = post(shipped, "/tokenize", {"inputs": text, "add_special_tokens": False})
    assert [token["id"] for token in bare] == encoding["input_ids"][1:-1]


# -- the service ------------------------------------------------------------------------------------


def test_info_health_metrics_and_docs(servers, shipped):
    info = shipped.get("/info").json()
    assert info["model"] == "albert-small-en" and info["tasks"] == ["fill-mask", "embeddings"]
    assert info["dimension"] == 384 and info["max_input_length"] == 128
    assert info["limits"] == {"max_batch_tokens": 16384, "max_batch_requests": None, "max_concurrent_requests": 512,
                              "max_client_batch_size": 32, "payload_limit": 2_000_000, "auto_truncate": False}  # fmt: skip
    assert httpx.get(f"{servers['shipped'].url}/health").json() == {"status": "ok"}  # open without the key
    metrics = shipped.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in ("albert_requests_total", "albert_request_failures_total", "albert_queue_size", "albert_batch_inputs",
                 "albert_batch_tokens", "albert_request_duration_seconds", "albert_queue_seconds"):  # fmt: skip
        assert name in metrics.text
    schema = httpx.get(f"{servers['shipped'].url}/openapi.json").json()
    assert {"/embed", "/embed_all", "/v1/embeddings", "/fill-mask", "/tokenize"} <= set(schema["paths"])
    assert "/classify" not in schema["paths"]  # the shipped model has no classifier
    assert httpx.get(f"{servers['shipped'].url}/docs").status_code == 200


LONG = " ".join(LINES[:40])  # hundreds of tokens, more than the shipped model's window of 128


@pytest.mark.parametrize(
    ("request_", "status", "cause", "says"),
    [
        (("POST", "/embed", {"inputs": "a"}, {}), 401, "unauthorized", "Authorization: Bearer"),
        (("POST", "/embed", {"inputs": "a"}, {"Authorization": "Bearer nope"}), 401, "unauthorized", "wrong"),
        (("GET", "/info", None, {}), 401, "unauthorized", "API key"),
        (("POST", "/embed", {"inputs": []}, AUTH), 400, "empty_input", "inputs is empty"),
        (("POST", "/embed", {"inputs": ["a", "  "]}, AUTH), 400, "empty_input", "inputs[1] is empty"),
        (("POST", "/v1/embeddings", {"input": ""}, AUTH), 400, "empty_input", "inputs[0] is empty"),
        (("POST", "/embed", {"inputs": "a", "level": "word"}, AUTH), 422, "invalid_request", "level"),
        (("POST", "/embed", {"inputs": ["a"] * 33}, AUTH), 422, "invalid_request", "--max-client-batch-size"),
        (("POST", "/embed", {"inputs": LONG}, AUTH), 422, "invalid_request", "window of 128"),
        (("POST", "/embed", {"input": "a"}, AUTH), 422, "invalid_request", "inputs"),
        (("POST", "/fill-mask", {"inputs": "no mask here"}, AUTH), 422, "invalid_request", "no [MASK]"),
        (("POST", "/v1/embeddings", {"input": "a", "dimensions": 999}, AUTH), 422, "invalid_request", "384"),
        (("POST", "/classify", {"inputs": "a"}, AUTH), 404, "not_served", "text-classification head"),
        (("POST", "/embed", {"inputs": ["a" * 1000] * 2100}, AUTH), 413, "payload_too_large", "2000000 bytes"),
        (("POST", "/embed", (b"x" * 1000 for _ in range(2100)), AUTH), 413, "payload_too_large", "2000000 bytes"),
    ],
)
def test_errors_have_their_status_and_a_message(servers, request_, status, cause, says):
    method, path, body, headers = request_
    content = {"json": body}
    if not isinstance(body, (dict, type(None))):  # a generator: chunked
        content, headers = {"content": body}, {**headers, "content-type": "application/json"}
    response = httpx.request(method, f"{servers['shipped'].url}{path}", headers=headers, timeout=60, **content)
    assert response.status_code == status, response.text
    assert response.json()["error_type"] == cause and says in response.json()["error"]


# -- hostile bodies ---------------------------------------------------------------------------------
#
# Every POST endpoint, with a valid body and the kind of each of its fields; from them, bodies that
# break each rule: bytes that are not UTF-8 or not JSON, nesting past the parser's recursion, an
# integer past Python's 4300 digits, a lone surrogate in every string field, wrong types for each
# field, NaN and floats where integers go, missing and extra fields, empty and oversized arrays,
# and bodies sent as something else than JSON. Each must get its 4xx and cause, never 500.

SURROGATE = "\ud800"
#: Each endpoint: its server, a valid body, and its fields' kinds (see BAD_VALUES); ``open``: the
#: endpoint takes unknown fields (OpenAI's clients send newer ones).
POSTED = {
    "/embed": ("shipped", {"inputs": "A text."}, {"inputs": "texts", "level": "choice", "pooling": "choice",
                                                 "normalize": "flag", "split_sentences": "flag", "truncate": "flag?"}),
    "/embed_all": ("shipped", {"inputs": "A text."}, {"inputs": "texts", "level": "choice", "word_pooling": "choice",
                                                     "split_sentences": "flag", "truncate": "flag?"}),
    "/v1/embeddings": ("shipped", {"input": "A text."}, {"input": "texts", "model": "text?", "user": "text?",
                                                        "encoding_format": "choice", "dimensions": "count?"}),
    "/tokenize": ("shipped", {"inputs": "A text."}, {"inputs": "texts", "add_special_tokens": "flag"}),
    "/fill-mask": ("shipped", {"inputs": "A [MASK] text."}, {"inputs": "texts", "top_k": "count", "targets": "words?",
                                                            "truncate": "flag?"}),
    "/classify": ("classify", {"inputs": "a dog."}, {"inputs": "pairs", "top_k": "count?", "truncate": "flag?",
                                                    "function_to_apply": "choice?"}),
    "/tag": ("tag", {"inputs": "a dog."}, {"inputs": "texts", "aggregation_strategy": "choice", "truncate": "flag?",
                                          "ignore_labels": "words?"}),
    "/answer": ("answer", {"inputs": {"question": "who?", "context": "a dog."}},
                {"inputs": "questions", "top_k": "count", "max_answer_len": "length", "doc_stride": "stride?",
                 "handle_impossible_answer": "flag"}),
    "/choose": ("choose", {"inputs": {"prompt": "a dog", "choices": ["ran.", "sat."]}},
                {"inputs": "choices", "truncate": "flag?"}),
}  # fmt: skip
OPEN = {"/v1/embeddings"}
TOO_LONG = 10**20  # an integer Python reads, past any count a request may ask for
#: Wrong values for each kind of field (a kind ending in "?" may also be null, so null is no error).
BAD_VALUES = {
    "texts": [5, 1.5, True, {"a": 1}, [5], [["a"]], None],
    "text?": [5, [], {}],
    "words?": ["a word", [5], [[]], {}],
    "flag": ["maybe", 2, [], {}, None],
    "flag?": ["maybe", 2, [], {}],
    "choice": ["nope", 5, [], None],
    "choice?": ["nope", 5, []],
    "count": ["five", 2.5, -1, 0, [], {}, None, TOO_LONG],
    "count?": ["five", 2.5, -1, 0, [], {}, TOO_LONG],
    "length": ["five", 2.5, -1, [], None],
    "stride?": ["five", 2.5, -1, [], TOO_LONG],
    "pairs": [5, [5], [{"text": 5}], [{"text_pair": "b"}], [{"text": "a", "extra": 1}], {"text": "a", "text_pair": 5}],
    "questions": [5, "a string", {"question": "a"}, {"question": 5, "context": "b"}, [[]],
                  [{"question": "a", "context": "b", "extra": 1}]],
    "choices": [5, "a string", {"prompt": "a"}, {"prompt": "a", "choices": "b"}, {"prompt": "a", "choices": ["one"]},
                {"prompt": 5, "choices": ["a", "b"]}, {"prompt": "a", "choices": []}],
}  # fmt: skip
#: The same string field's value with a lone surrogate, in each place a kind of field holds text.
SURROGATES = {
    "texts": [SURROGATE, ["fine", f"then {SURROGATE}"]],
    "text?": [SURROGATE],
    "words?": [[SURROGATE]],
    "pairs": [[{"text": SURROGATE}], [{"text": "a", "text_pair": f"b{SURROGATE}"}], {"text": SURROGATE}],
    "questions": [{"question": SURROGATE, "context": "b"}, [{"question": "a", "context": SURROGATE}]],
    "choices": [{"prompt": SURROGATE, "choices": ["a", "b"]}, {"prompt": "a", "choices": ["b", SURROGATE]}],
}
#: Bodies that cannot be read as JSON at all, whatever the endpoint.
UNREADABLE = {
    "not UTF-8": (b'{"inputs": "caf\xe9"}', "not valid UTF-8"),
    "50,000-deep": (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    "50,000-deep field": (b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
    "5,000-digit integer": (b'{"inputs": "a", "top_k": ' + b"7" * 5000 + b"}", "5000 digits"),
    "truncated": (b'{"inputs": "a', "not valid JSON"),
    "not JSON": (b"inputs=a", "not valid JSON"),
}
NOT_JSON_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/xml", None]  # fmt: skip


def one_input(kind: str) -> object:
    """One valid input of an ``inputs`` field's kind."""
    return {"questions": {"question": "who?", "context": "a dog."},
            "choices": {"prompt": "a dog", "choices": ["ran.", "sat."]}}.get(kind, "a dog.")  # fmt: skip


def hostile_requests() -> list[tuple[str, str, bytes, str | None, int, str, str]]:
    """``(endpoint, what, body, content type, status, error_type, words the message holds)``, for
    every POST endpoint: each a request the server must refuse with that status and cause."""
    cases = []

    def add(path: str, what: str, body: object, status: int = 422, cause: str = "invalid_request", says: str = "") -> None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()  # surrogates as \ud800 escapes
        cases.append((path, what, content, "application/json", status, cause, says))

    for path, (_, valid, fields) in POSTED.items():
        main = "input" if "input" in fields else "inputs"
        for what, (content, says) in UNREADABLE.items():
            add(path, what, content, 400, "malformed_body", says)
        for content_type in NOT_JSON_TYPES:
            cases.append((path, f"sent as {content_type}", json.dumps(valid).encode(), content_type, 415,
                          "unsupported_media_type", "Content-Type: application/json"))  # fmt: skip
        for what, content in {"empty": b"", "null": b"null", "a list": b"[1]", "a string": b'"a"'}.items():
            add(path, f"a body that is {what}", content)
        add(path, "NaN", f'{{"{main}": NaN}}'.encode())
        add(path, f"no {main}", {name: value for name, value in valid.items() if name != main}, says="is required")
        add(path, f"{main} empty", {**valid, main: []}, 400, "empty_input", "inputs is empty")
        add(path, f"{main} too many", {**valid, main: [one_input(fields[main])] * 33}, says="--max-client-batch-size")
        if path not in OPEN:
            add(path, "an unknown field", {**valid, "bogus": 1}, says="bogus is not a field")
        for name, kind in fields.items():
            for number, value in enumerate(BAD_VALUES[kind]):
                add(path, f"{name} wrong #{number}: {value!r:.40}", {**valid, name: value})
            for number, value in enumerate(SURROGATES.get(kind, [])):
                add(path, f"{name} with a lone surrogate #{number}", {**valid, name: value}, says="lone surrogate U+D800")
            if kind in ("count", "count?", "stride?"):
                add(path, f"{name} NaN", f'{{"{main}": {json.dumps(valid[main])}, "{name}": NaN}}'.encode())
                add(path, f"{name} Infinity", f'{{"{main}": {json.dumps(valid[main])}, "{name}": Infinity}}'.encode())
    add("/fill-mask", "targets empty", {"inputs": "A [MASK].", "targets": []}, says="targets")
    add("/fill-mask", "targets too many", {"inputs": "A [MASK].", "targets": ["word"] * 101}, says="targets")
    add("/choose", "choices past a batch", {"inputs": {"prompt": "a", "choices": ["b c d e f g"] * 2000}},
        says="--max-batch-tokens")  # fmt: skip
    return cases


HOSTILE = hostile_requests()


def failures_by_cause(server: Server) -> dict[tuple[str, str], float]:
    text = httpx.get(f"{server.url}/metrics", headers=AUTH).text
    found = {}
    for line in text.splitlines():
        if line.startswith("albert_request_failures_total{"):
            labels = dict(part.split("=") for part in line[line.index("{") + 1 : line.index("}")].split(","))
            found[(labels["endpoint"].strip('"'), labels["cause"].strip('"'))] = float(line.rsplit(" ", 1)[1])
    return found


def test_every_hostile_body_gets_its_client_error_and_is_counted_as_one(servers):
    """406 generated bodies at the 9 POST endpoints: each answered with its 4xx and cause (never
    500 or "internal"), with a message that names the problem; /metrics counts each under its cause."""
    names = {server for server, _, _ in POSTED.values()}
    before = {name: failures_by_cause(servers[name]) for name in names}
    expected: dict[tuple[str, str, str], int] = {}
    wrong = []
    clients = {name: httpx.Client(base_url=servers[name].url, headers=AUTH, timeout=60) for name in names}
    try:
        for path, what, content, content_type, status, cause, says in HOSTILE:
            headers = {"content-type": content_type} if content_type else {}
            response = clients[POSTED[path][0]].post(path, content=content, headers=headers)
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text, "error_type": None}
            if (response.status_code, body.get("error_type")) != (status, cause) or says not in body.get("error", ""):
                wrong.append(f"{path} {what}: {response.status_code} {body}")
            key = (POSTED[path][0], path, cause)
            expected[key] = expected.get(key, 0) + 1
    finally:
        for client in clients.values():
            client.close()
    assert not wrong, f"{len(wrong)} of {len(HOSTILE)} answered otherwise:\n" + "\n".join(wrong[:20])
    for name in names:
        after = failures_by_cause(servers[name])
        counted = {key: after.get(key, 0) - before[name].get(key, 0) for key in after}
        assert all(count == 0 for (_, cause), count in counted.items() if cause == "internal")
        for (server, path, cause), count in expected.items():
            if server == name:
                assert counted.get((path, cause)) == count, (path, cause, counted)


#: Texts, some holding a lone surrogate (sent as a JSON escape, as a client's bad string would be).
texts = st.text(max_size=20) | st.tuples(
    st.text(max_size=8), st.sampled_from(["\ud800", "\udbff", "\udc80", "\udfff"]), st.text(max_size=8)
).map("".join)
#: JSON values of any shape: what a client may put in any field.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: Bodies of any bytes: random, or a valid body with a few bytes changed.
raw_bodies = st.binary(max_size=80) | st.tuples(
    st.sampled_from([json.dumps(valid).encode() for _, valid, _ in POSTED.values()]),
    st.lists(st.tuples(st.integers(0, 60), st.binary(min_size=1, max_size=3)), min_size=1, max_size=3),
).map(lambda body_edits: splice(*body_edits))
CLIENT_CAUSES = {"malformed_body", "empty_input", "not_served", "payload_too_large", "unsupported_media_type",
                 "invalid_request"}  # fmt: skip
FIELDS = [(path, name) for path, (_, _, fields) in POSTED.items() for name in [*fields, "bogus"]]


def splice(body: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    for at, replacement in edits:
        at = min(at, len(body))
        body = body[:at] + replacement + body[at + len(replacement) :]
    return body


def holds_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(character) <= 0xDFFF for character in value)
    if isinstance(value, dict):
        return any(holds_surrogate(key) or holds_surrogate(each) for key, each in value.items())
    return isinstance(value, list) and any(holds_surrogate(each) for each in value)


def answered_or_refused_as_the_client_s(servers, path: str, content: bytes) -> httpx.Response:
    response = httpx.post(f"{servers[POSTED[path][0]].url}{path}", content=content, timeout=60,
                          headers={**AUTH, "content-type": "application/json"})  # fmt: skip
    assert response.status_code == 200 or (
        400 <= response.status_code < 500 and response.json()["error_type"] in CLIENT_CAUSES
    ), (path, content[:200], response.status_code, response.text[:300])
    return response


def check_any_value_in_any_field(servers, path: str, name: str, value: object) -> None:
    body = {**POSTED[path][1], name: value}
    response = answered_or_refused_as_the_client_s(servers, path, json.dumps(body, allow_nan=True).encode())
    if holds_surrogate(value) and (path, name) != ("/v1/embeddings", "bogus"):  # OpenAI's unknown fields: ignored
        assert response.status_code == 422, (value, response.text[:300])  # not a text the model could read


@settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_any_json_value_in_any_field_is_answered_or_refused_as_the_client_s(servers, field, value):
    check_any_value_in_any_field(servers, *field, value)


@settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(list(POSTED)), content=raw_bodies)
def test_any_bytes_as_a_body_are_answered_or_refused_as_the_client_s(servers, path, content):
    answered_or_refused_as_the_client_s(servers, path, content)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_any_json_value_in_any_field_thoroughly(servers, field, value):
    check_any_value_in_any_field(servers, *field, value)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(list(POSTED)), content=raw_bodies)
def test_any_bytes_as_a_body_thoroughly(servers, path, content):
    answered_or_refused_as_the_client_s(servers, path, content)


def test_truncation_cuts_a_long_input_to_the_window(shipped, embedder):
    response = shipped.post("/embed", json={"inputs": LONG, "truncate": True, "normalize": False})
    assert response.status_code == 200 and response.headers["x-compute-tokens"] == "128"
    (tokens,) = post(shipped, "/tokenize", {"inputs": LONG})
    cut = LONG[: tokens[126]["end"]]  # [CLS], 126 pieces, [SEP]
    assert close(response.json()[0], embedder(cut, output="numpy"))


def test_overload_is_refused_at_once_while_health_answers(servers):
    server = servers["busy"]  # --max-concurrent-requests 2
    slow = {"inputs": HEAVY[:12]}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(httpx.post, f"{server.url}/embed", json=slow, timeout=120) for _ in range(2)]
        deadline = time.monotonic() + 30
        while server.metric("albert_requests_in_flight") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        start = time.monotonic()
        refused = httpx.post(f"{server.url}/embed", json={"inputs": "one more"}, timeout=10)
        refused_after = time.monotonic() - start
        health = httpx.get(f"{server.url}/health", timeout=10)
        assert busy[0].running() or busy[1].running(), "the slow requests ended too soon: make them slower"
        assert refused.status_code == 429 and refused.json()["error_type"] == "overloaded"
        assert refused.headers["retry-after"] == "1"
        assert "--max-concurrent-requests" in refused.json()["error"] and refused_after < 1.0
        assert health.status_code == 200
        assert [future.result().status_code for future in busy] == [200, 200]


def test_a_client_that_leaves_has_its_queued_inputs_dropped(servers):
    server = servers["busy"]  # a budget of 128 tokens: every input below is a batch of its own
    blocker = {"inputs": HEAVY[:32]}
    leaver = {"inputs": [LINES[index] for index in range(100, 116)]}
    computed_before = server.metric("albert_batch_inputs_sum")
    left_before = server.metric("albert_request_failures_total")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        blocking = pool.submit(httpx.post, f"{server.url}/embed", json=blocker, timeout=120)
        deadline = time.monotonic() + 30
        while server.metric("albert_requests_in_flight") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.url}/embed", json=leaver, timeout=httpx.Timeout(10, read=0.2))
        assert blocking.result().status_code == 200
    deadline = time.monotonic() + 10
    while server.metric("albert_requests_in_flight") > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.metric("albert_batch_inputs_sum") - computed_before == 32  # the leaver's 16 never ran
    assert server.metric("albert_request_failures_total") - left_before == 1  # cause client_disconnected


def test_sigterm_answers_every_accepted_request_then_exits(servers, embedder):
    server = servers["draining"]
    model_process = server.model_process()
    requests = [{"inputs": HEAVY[start : start + 8], "normalize": False} for start in (0, 50, 100)]
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        in_flight = [pool.submit(httpx.post, f"{server.url}/embed", json=body, timeout=120) for body in requests]
        deadline = time.monotonic() + 30
        while server.metric("albert_requests_in_flight") < len(requests) and time.monotonic() < deadline:
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)  # the signal handler runs between two bytecodes of the server's main thread
        late = httpx.post(f"{server.url}/embed", json={"inputs": "too late"}, timeout=10)
        health = httpx.get(f"{server.url}/health", timeout=10)
        answers = [future.result() for future in in_flight]
    assert late.status_code == 503 and late.json()["error_type"] == "shutting_down"
    assert health.status_code == 503
    assert late.headers["retry-after"] == health.headers["retry-after"] == "5"
    assert [answer.status_code for answer in answers] == [200] * len(requests)
    for body, answer in zip(requests, answers):
        for vector, expected in zip(answer.json(), embedder(body["inputs"], output="numpy")):
            assert close(vector, expected)
    assert server.process.wait(30) == 0
    assert "every accepted request is answered" in server.log.read_text()
    deadline = time.monotonic() + 10  # the model's process has exited too, not been orphaned
    while Path(f"/proc/{model_process}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{model_process}").exists()


def test_a_killed_model_process_gives_503_and_one_error_line(servers):
    """Killed with four requests' inputs queued: every one is answered 503 at once (none retried
    alone), /health says so, the log has one ERROR line with how it stopped and how many inputs it
    took, and the server exits 1 for its supervisor."""
    server = servers["doomed"]
    assert post(httpx.Client(base_url=server.url, timeout=30), "/embed", {"inputs": "still alive"})
    blockers = [{"inputs": HEAVY[start : start + 32]} for start in (0, 40, 80, 120)]
    with concurrent.futures.ThreadPoolExecutor(len(blockers)) as pool:
        held = [pool.submit(httpx.post, f"{server.url}/embed", json=body, timeout=60) for body in blockers]
        deadline = time.monotonic() + 30
        while server.metric("albert_queue_size") < 64 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.model_process(), signal.SIGKILL)
        answers = [future.result() for future in held]
    try:
        health: int | None = httpx.get(f"{server.url}/health", timeout=10).status_code
    except httpx.TransportError:
        health = None  # it has exited already
    assert [answer.status_code for answer in answers] == [503] * len(blockers)
    for answer in answers:
        assert answer.json()["error_type"] == "worker_stopped" and answer.headers["retry-after"] == "5"
        assert "killed by signal 9" in answer.json()["error"] and "restart" in answer.json()["error"]
    assert health in (503, None)
    assert server.process.wait(30) == 1  # it stops, for its supervisor to start it again
    errors = [line for line in server.log.read_text().splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, errors[:5]
    assert "the model's process stopped (killed by signal 9)" in errors[0]
    affected = int(errors[0].split("): ", 1)[1].split(" input")[0])
    assert 64 <= affected <= 128  # queued or computing when it died; none computed after


def test_the_drain_ends_at_the_graceful_timeout_and_refuses_the_rest(servers):
    """--graceful-timeout 1, and more than a second of work accepted when SIGTERM comes: what is
    not computed by then gets 503 (with Retry-After), and the server exits 0 soon after."""
    server = servers["hasty"]
    requests = [{"inputs": HEAVY[start : start + 32]} for start in (0, 30, 60, 90, 120, 148)]
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        in_flight = [pool.submit(httpx.post, f"{server.url}/embed", json=body, timeout=60) for body in requests]
        deadline = time.monotonic() + 30
        while server.metric("albert_requests_in_flight") < len(requests) and time.monotonic() < deadline:
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answers = [future.result() for future in in_flight]
        exit_code = server.process.wait(30)
        stopped_after = time.monotonic() - signalled
    refused = [answer for answer in answers if answer.status_code != 200]
    assert refused, "every request was computed within the timeout: give the server more work"
    for answer in refused:
        assert answer.status_code == 503 and answer.json()["error_type"] == "shutting_down"
        assert "--graceful-timeout of 1 s" in answer.json()["error"] and answer.headers["retry-after"] == "5"
    assert exit_code == 0 and stopped_after < 1 + 4, stopped_after  # not the minutes the queue would take
    assert "--graceful-timeout of 1 s passed" in server.log.read_text()


def test_the_api_key_s_scheme_is_case_insensitive(servers):
    """``Authorization: bearer KEY`` is ``Bearer KEY`` (HTTP's schemes ignore case); the key does not."""
    url = f"{servers['shipped'].url}/tokenize"
    for header in (f"bearer {KEY}", f"BEARER {KEY}", f"bEaReR  {KEY}"):
        assert httpx.post(url, json={"inputs": "a"}, headers={"Authorization": header}).status_code == 200, header
    basic = httpx.post(url, json={"inputs": "a"}, headers={"Authorization": f"Basic {KEY}"})
    assert basic.status_code == 401 and "scheme is 'Basic'" in basic.json()["error"]
    wrong_case = httpx.post(url, json={"inputs": "a"}, headers={"Authorization": f"Bearer {KEY.upper()}"})
    assert wrong_case.status_code == 401 and "wrong" in wrong_case.json()["error"]


def test_a_head_the_weights_lack_is_refused_at_start_up(make_tiny_model, monkeypatch, caplog):
    """A folder whose config names a classifier its weights do not hold: ``albert serve`` says so
    in one ``error:`` line and exits 1, instead of serving random labels; ``--allow-untrained-head``
    serves it anyway, with a warning in the log. (In this process, the model too: the refusal is
    the pipelines', raised the same through the model's process.)"""
    from typer.testing import CliRunner

    from albert.cli import app
    from albert.serve import ServedModel

    folder = make_tiny_model(AlbertModel, seed=36)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["AlbertForSequenceClassification"]}))
    monkeypatch.setattr("albert.serve.server.show_logs", lambda: None)  # leave this process's logging alone
    result = CliRunner().invoke(app, ["serve", "--model", str(folder), "--in-process", "--port", "0"])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "no trained text-classification head" in errors[0] and "--allow-untrained-head" in errors[0]
    assert "Traceback" not in result.output
    with caplog.at_level("WARNING", logger="albert.serve"):
        allowed = ServedModel(str(folder), in_process=True, allow_untrained_head=True)
    assert allowed.tasks == ["text-classification", "embeddings"]
    assert "head is untrained" in caplog.text  # one line in the server's log


# -- in process: the pieces without a server ---------------------------------------------------------


def test_serve_without_the_extra_says_how_to_install_it(monkeypatch):
    from typer.testing import CliRunner

    from albert.cli import app

    for name in [name for name in sys.modules if name == "albert.serve" or name.startswith("albert.serve.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi now raises ImportError
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "pip install 'albert-lm[serve]'" in result.output and "Traceback" not in result.output


def test_settings_refuse_a_token_budget_below_the_window():
    from albert.serve import ServeSettings

    with pytest.raises(ValueError, match="--max-batch-tokens 64 is smaller than the model's window of 128"):
        ServeSettings(max_batch_tokens=64).check(128)
    with pytest.raises(ValueError, match="--max-batch-requests must be at least 1"):
        ServeSettings(max_batch_requests=0).check(128)


def test_the_batcher_merges_first_in_first_out_within_the_budget():
    from albert.serve.batcher import Batcher

    batches = []

    def compute(key, items):
        batches.append((key, list(items)))
        if "bad" in items:
            raise ValueError("bad input")
        return [f"{key}:{item}" for item in items]

    batcher = Batcher(compute, max_batch_tokens=10, max_batch_requests=3)
    first = batcher.submit("a", [("a1", 4), ("a2", 4), ("a3", 4)])  # a3 does not fit with a1 + a2
    other = batcher.submit("b", [("b1", 1)])
    later = batcher.submit("a", [("a4", 1), ("a5", 1), ("a6", 1), ("a7", 1)])
    gone = batcher.submit("a", [("gone", 1)])
    gone[0].future.cancel()  # its client left: never computed
    failing = batcher.submit("c", [("good", 1), ("bad", 1)])
    batcher.start()
    batcher.close(timeout=10)
    assert [entry.future.result() for entry in first + other + later] == [
        "a:a1", "a:a2", "a:a3", "b:b1", "a:a4", "a:a5", "a:a6", "a:a7"]  # fmt: skip
    # a3 does not fit after a1 + a2 and ends that batch; b1 waits for its own; three at most per batch;
    # the failed batch is computed again one input at a time
    assert [items for _, items in batches] == [["a1", "a2"], ["a3", "a4", "a5"], ["b1"], ["a6", "a7"],
                                               ["good", "bad"], ["good"], ["bad"]]  # fmt: skip
    assert failing[0].future.result() == "c:good"  # computed again alone: only the bad input fails
    with pytest.raises(ValueError, match="bad input"):
        failing[1].future.result()


def test_the_http_side_of_the_server_never_imports_torch():
    """The server's process only checks, counts and queues inputs; the model (and torch) live in
    the model's process. Checked in a fresh interpreter, as a deployment starts it."""
    code = (
        "import sys\n"
        "import albert.serve.server, albert.serve.app, albert.serve.served_model, albert.serve.worker\n"
        "from albert.pipelines.texts import encode_pieces\n"
        "from albert.pipelines import default_model\n"
        "print(sorted(name for name in sys.modules if name == 'torch' or name.startswith('torch.'))[:3])\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.strip() == "[]"
