"""The FastAPI application: the endpoints, and how a request becomes batched inputs and an answer.

An inference request is admitted (429 when ``--max-concurrent-requests`` are in flight, 503 while
draining), its inputs are checked and counted (a large body off the event loop), queued in the
batcher, and awaited while the client is watched: when it disconnects, its inputs still queued
are dropped.
The answer carries ``x-compute-time`` and ``x-queue-time`` (milliseconds: the model's time on the
batches its inputs were in, the longest wait of one of them) and ``x-compute-tokens``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydantic_core
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..errors import AlbertError
from ..version import __version__
from . import schemas
from .auth import ApiKeyCheck
from .batcher import Batcher, Entry
from .body import JsonContentType, not_json, unreadable_body
from .errors import (
    ClientDisconnected,
    InvalidRequest,
    NotServed,
    ServeError,
    ShuttingDown,
    WorkerStopped,
    error_body,
)
from .limits import Admission, PayloadLimit, check_input_count, payload_too_large
from .metrics import Metrics, RequestMetrics
from .model_facts import HEAD_TASKS, ModelFacts
from .served_model import Ready, ServedModel
from .settings import ServeSettings

logger = logging.getLogger(__name__)

#: The endpoint of each task that has a head of its own.
TASK_ENDPOINTS = dict(zip(HEAD_TASKS, ("/fill-mask", "/classify", "/tag", "/answer", "/choose")))
ALWAYS = ("/embed", "/embed_all", "/v1/embeddings", "/tokenize", "/health", "/info", "/metrics")
#: The endpoints served whatever the model, that take a JSON body.
ALWAYS_POSTED = ("/embed", "/embed_all", "/v1/embeddings", "/tokenize")
ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": schemas.ErrorBody} for status in (400, 401, 404, 413, 415, 422, 429, 503)}
#: Bodies up to this size are tokenized on the event loop (well under a millisecond); a larger
#: one in a thread, so that one big request never holds up the others (or /health).
INLINE_BODY_BYTES = 16 * 1024


class JSONAnswer(JSONResponse):
    """JSON written by pydantic-core: one request's vector of 384 floats in ~17 microseconds,
    against ~166 through the standard library (what :class:`JSONResponse` uses), on the event
    loop that every request shares. Non-ASCII text stays UTF-8, as there."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


@dataclass
class Service:
    """What the endpoints share: the model, the settings, the batcher, admission and metrics."""

    served: ServedModel
    settings: ServeSettings
    batcher: Batcher
    admission: Admission
    metrics: Metrics

    def truncate(self, asked: bool | None) -> bool:
        return self.settings.auto_truncate if asked is None else asked


@dataclass
class Batched:
    """A request's results, one per input, and the entries they came from (for the headers)."""

    results: list[Any]
    entries: list[Entry]
    #: The inputs' own real tokens after any cut (``x-compute-tokens``, and OpenAI's ``usage``).
    tokens: int

    def response(self, content: Any) -> JSONAnswer:
        batches = {id(entry.batch): entry.batch for entry in self.entries if entry.batch is not None}
        headers = {
            "x-compute-time": f"{1000 * sum(batch.compute_seconds for batch in batches.values()):.3f}",
            "x-queue-time": f"{1000 * max(entry.queue_seconds for entry in self.entries):.3f}",
            "x-compute-tokens": str(self.tokens),
        }
        return JSONAnswer(content, headers=headers)


def batch_key(task: str, **options: Any) -> Hashable:
    """What a pipeline call is: inputs with equal keys can share one call (options sorted)."""
    return task, tuple(sorted(options.items()))


def as_list(inputs: Any) -> list[Any]:
    return inputs if isinstance(inputs, list) else [inputs]


def vector(values: np.ndarray, normalize: bool) -> np.ndarray:
    """An embedding as float32, scaled to length 1 when ``normalize`` (a zero vector stays zero)."""
    values = np.asarray(values, dtype=np.float32)
    if not normalize:
        return values
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 0 else values


def unit(record: dict[str, Any], normalize: bool = False, dimension: int | None = None) -> dict[str, Any]:
    """A pipeline record as JSON: its embedding (its first ``dimension`` values) as a list, and no
    ``document`` (the input's index)."""
    fields = {name: value for name, value in record.items() if name != "document"}
    fields["embedding"] = vector(record["embedding"][:dimension], normalize).tolist()
    return fields


def embedding_dimension(requested: int | None, facts: ModelFacts) -> int | None:
    """How many values of each vector to send: ``requested`` when the model allows it, else a
    sentence-embedding model's saved dimension; None sends them all.

    Raises:
        InvalidRequest: more than the hidden size; for a sentence-embedding model that is not
            Matryoshka-trained, a size it was not saved with.
    """
    sentence = facts.sentence
    if requested is None:
        return sentence.dimension if sentence is not None else None
    if requested > facts.dimension:
        raise InvalidRequest(
            f"dimensions {requested} is more than the model's {facts.dimension}; ask for at most "
            f"{facts.dimension} (or leave dimensions out)"
        )
    if sentence is not None and not sentence.allowed_dimension(requested, facts.dimension):
        sizes = sorted({facts.dimension, *([sentence.dimension] if sentence.dimension else [])}, reverse=True)
        raise InvalidRequest(
            f"dimensions {requested} is not a size this model was trained to give (it was not trained with "
            f"Matryoshka dimensions): ask for {' or '.join(map(str, sizes))} (or leave dimensions out)"
        )
    return requested


def embeddings_key(facts: ModelFacts, level: str, pooling: str, split_sentences: bool) -> Hashable:
    """The pipeline call of /embed and /v1/embeddings: the pooled vectors as they are (the HTTP side
    cuts and normalises them), whatever a sentence-embedding model's pipeline does by default."""
    raw = {"normalize": False, "dimension": None} if facts.sentence is not None else {}
    return batch_key("embeddings", level=level, sentence_pooling=pooling, split_sentences=split_sentences,
                     output="records", **raw)  # fmt: skip


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects (the body is read: the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def run_batched(
    request: Request, service: Service, key: Hashable, make_ready: Callable[[], list[Ready]]
) -> Batched:
    """Admit the request, encode its inputs (a large body off the event loop), queue the ids (the
    batch budget counts their features), await the results.

    Raises:
        Overloaded, ShuttingDown: not admitted. EmptyInput, InvalidRequest: a bad input.
        ClientDisconnected: the client went away first (its queued inputs are dropped).
    """
    service.admission.admit()
    try:
        small = len(await request.body()) <= INLINE_BODY_BYTES
        ready = make_ready() if small else await run_in_threadpool(make_ready)
        entries = service.batcher.submit(key, [(each.item, each.tokens) for each in ready])
        tokens = sum(each.counted for each in ready)
        results: asyncio.Future[list[Any]] = asyncio.gather(*(asyncio.wrap_future(entry.future) for entry in entries))
        watcher: asyncio.Future[Any] = asyncio.ensure_future(_client_gone(request))
        try:
            await asyncio.wait({results, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if not results.done():
            results.cancel()  # cancels the entries' futures: the batcher drops those still queued
            with contextlib.suppress(asyncio.CancelledError):
                await results
            raise ClientDisconnected("the client disconnected before its answer was ready")
        try:
            return Batched(results.result(), entries, tokens)
        except AlbertError as error:  # an input the pipeline refused, alone (anything else is a bug: 500)
            raise InvalidRequest(" ".join(str(error).split())) from None
    finally:
        service.admission.release()


# -- the application ----------------------------------------------------------------------------


def create_app(served: ServedModel, settings: ServeSettings) -> FastAPI:
    """The service for ``served`` under ``settings``: routes, limits, metrics, the batcher's lifespan.

    Raises:
        OptionError: settings that cannot work with this model (:meth:`ServeSettings.check`).
    """
    settings.check(served.facts.window)
    endpoints = [*ALWAYS, *(TASK_ENDPOINTS[task] for task in served.tasks if task in TASK_ENDPOINTS)]
    metrics = Metrics([*ALWAYS, *TASK_ENDPOINTS.values()])
    batcher = Batcher(
        served.compute, settings.max_batch_tokens, settings.max_batch_requests, on_batch=metrics.observe_batch
    )
    admission = Admission(settings.max_concurrent_requests)
    metrics.watch(lambda: batcher.queued, lambda: admission.in_flight)
    service = Service(served, settings, batcher, admission, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        # Every accepted request is answered by now: the thread has nothing left to compute, unless
        # the drain ran out of time while it computed a batch that nobody waits for.
        batcher.close(timeout=1.0)

    app = FastAPI(
        title="albert serve",
        version=__version__,
        summary=f"The ALBERT model {served.name}: {', '.join(served.tasks)} and tokenization.",
        lifespan=lifespan,
        responses=ERRORS,
        default_response_class=JSONAnswer,
    )
    app.state.service = service
    _add_error_handlers(app, service)
    _add_embedding_routes(app, service)
    _add_task_routes(app, service)
    _add_service_routes(app, service, endpoints)
    reply = functools.partial(_reply, service)
    app.add_middleware(PayloadLimit, limit=settings.payload_limit, reply=reply)
    posted = [*ALWAYS_POSTED, *(TASK_ENDPOINTS[task] for task in served.tasks if task in TASK_ENDPOINTS)]
    app.add_middleware(JsonContentType, paths=posted, reply=reply)  # before the body is read
    if settings.api_key is not None:  # outside the payload limit: no key, no word on the body
        app.add_middleware(ApiKeyCheck, api_key=settings.api_key, reply=reply)
    app.add_middleware(RequestMetrics, metrics=metrics)  # added last: outermost, so it sees every request
    return app


def _reply(service: Service, path: str, error: ServeError) -> Response:
    """The one way an error leaves: its JSON body and status, counted by endpoint and cause."""
    service.metrics.failed(path, error.cause)
    headers = {}
    if error.status == 401:
        headers["www-authenticate"] = "Bearer"
    if error.retry_after is not None:
        headers["retry-after"] = str(error.retry_after)
    return Response(error_body(error.message, error.cause), error.status, headers, media_type="application/json")


#: How pydantic names the member of a union an error is about (``str``, ``list[str]``,
#: ``TextPair``, ``function-after[...]``): a step of an error's location that is no field.
_UNION_MEMBERS = frozenset({"str", "int", "float", "bool", "none"} | {
    name for name, value in vars(schemas).items() if isinstance(value, type) and issubclass(value, schemas.BaseModel)
})  # fmt: skip


def _where(location: tuple[Any, ...], keep_last: bool) -> tuple[Any, ...]:
    """A pydantic error location as the request's own path: no "body", no union members."""
    steps = [step for step in location if step != "body"]
    last = steps[-1:] if keep_last else []
    kept = [step for step in (steps[:-1] if keep_last else steps) if isinstance(step, int)
            or (step not in _UNION_MEMBERS and "[" not in step)]  # fmt: skip
    return tuple(kept + last)


def _shown(path: tuple[Any, ...]) -> str:
    text = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")
    return text or "the body"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's errors as one sentence. A field that is a union (a text or a list of texts) gets
    an error from each member; only the deepest are shown (the member that matched the JSON's
    shape), and among those a broken rule (a lone surrogate) before a wrong type."""
    located = [(_where(tuple(error.get("loc", ())), error.get("type") == "extra_forbidden"), error) for error in errors]
    by_field: dict[Any, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
    for path, error in located:
        by_field.setdefault(path[:1], []).append((path, error))
    parts: dict[str, list[str]] = {}
    for found in by_field.values():
        deepest = max(len(path) for path, _ in found)
        found = [(path, error) for path, error in found if len(path) == deepest]
        rules = [(path, error) for path, error in found if not str(error.get("type", "")).endswith("_type")]
        for path, error in rules or found:
            kind = error.get("type")
            if kind == "value_error":  # ours (schemas): a sentence about the field
                message = f"{_shown(path)} {error.get('ctx', {}).get('error', error.get('msg'))}"
            elif kind == "extra_forbidden":
                message = f"{_shown(path)} is not a field of this endpoint"
            elif kind == "missing":
                message = f"{_shown(path)} is required"
            elif not path and str(kind).endswith("_type"):  # null, a list, a string: not an object
                message = "the body must be a JSON object of the endpoint's fields"
            else:
                message = f"{_shown(path)}: {error.get('msg', 'invalid')}"
            parts.setdefault(_shown(path), []).append(message)
    sentences = ["; or ".join(dict.fromkeys(messages)) for messages in parts.values()]
    more = f" (and {len(sentences) - 4} more)" if len(sentences) > 4 else ""
    return "invalid request: " + "; ".join(sentences[:4]) + more + "; see /docs for the fields each endpoint takes"


def _add_error_handlers(app: FastAPI, service: Service) -> None:
    limit = service.settings.payload_limit

    @app.exception_handler(ServeError)
    async def serve_error(request: Request, error: ServeError) -> Response:
        return _reply(service, request.url.path, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        errors = list(error.errors())
        syntax = [each for each in errors if each.get("type") == "json_invalid"]
        if syntax:  # the body is not JSON: FastAPI says where the parser stopped
            location = syntax[0].get("loc", ("body", "?"))
            return _reply(service, request.url.path, not_json(location[-1], syntax[0].get("ctx", {}).get("error", "")))
        return _reply(service, request.url.path, InvalidRequest(_validation_message(errors)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        path, method = request.url.path, request.method
        if error.status_code == 413:  # a body without a declared length, past the limit
            served_error: ServeError = payload_too_large(limit)
        elif error.status_code == 400 and error.__cause__ is not None:  # FastAPI's "error parsing the body"
            served_error = unreadable_body(error.__cause__)  # the parser's own error is its cause
        elif error.status_code == 404:
            served_error = NotServed(f"there is no endpoint {path}; GET /docs lists the endpoints this server has")
        elif error.status_code == 405:
            served_error = InvalidRequest(f"{path} does not take {method}; GET /docs says how to call it", 405)
        elif error.status_code < 500:
            served_error = InvalidRequest(f"{error.detail}", error.status_code)
        else:
            served_error = ServeError(f"{error.detail}", error.status_code)
        return _reply(service, path, served_error)

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> Response:
        logger.exception("an error while answering %s %s", request.method, request.url.path)
        return _reply(service, request.url.path, ServeError(
            f"internal error ({type(error).__name__}: {error}); the server's log has the traceback: please report it"
        ))  # fmt: skip


# -- embeddings -------------------------------------------------------------------------------------


def _add_embedding_routes(app: FastAPI, service: Service) -> None:
    served, limit = service.served, service.settings.max_client_batch_size

    @app.post("/embed", response_model=list[list[float]] | list[list[schemas.SentenceEmbedding]], tags=["embeddings"])
    async def embed(request: Request, body: schemas.EmbedRequest) -> Response:
        """A vector per input (level document, or text: as sentence-transformers encodes) or per
        sentence of each input (level sentence); a sentence-embedding model's saved level, pooling,
        normalisation and dimension are the defaults."""
        texts = as_list(body.inputs)
        check_input_count(texts, limit)
        sentence, sent = served.facts.sentence, body.model_fields_set
        level = "text" if sentence is not None and "level" not in sent else body.level
        pooling = sentence.pooling if sentence is not None and "pooling" not in sent else body.pooling
        normalize = sentence.normalize if sentence is not None and "normalize" not in sent else body.normalize
        dimension = embedding_dimension(body.dimensions, served.facts)
        key = embeddings_key(served.facts, level, pooling, body.split_sentences)
        truncate = service.truncate(body.truncate)
        batched = await run_batched(
            request, service, key, lambda: served.embeddings(texts, truncate, level, body.split_sentences)
        )
        if level != "sentence":
            return batched.response(
                [vector(records[0]["embedding"][:dimension], normalize).tolist() for records in batched.results]
            )
        return batched.response([[unit(record, normalize, dimension) for record in records] for records in batched.results])

    @app.post("/embed_all", response_model=list[list[schemas.TokenEmbedding]], tags=["embeddings"])
    async def embed_all(request: Request, body: schemas.EmbedAllRequest) -> Response:
        """A vector per piece or word of each input, with its text and character span."""
        texts = as_list(body.inputs)
        check_input_count(texts, limit)
        pooling = {"word_pooling": body.word_pooling} if body.level == "word" else {}
        key = batch_key("embeddings", level=body.level, split_sentences=body.split_sentences, output="records", **pooling)
        truncate = service.truncate(body.truncate)
        batched = await run_batched(
            request, service, key, lambda: served.embeddings(texts, truncate, body.level, body.split_sentences)
        )
        return batched.response([[unit(record) for record in records] for records in batched.results])

    @app.post("/v1/embeddings", response_model=schemas.OpenAIEmbeddingList, tags=["embeddings"])
    async def openai_embeddings(request: Request, body: schemas.OpenAIEmbeddingRequest) -> Response:
        """OpenAI's embeddings API: unit-length vectors as /embed gives them by default (mean-pooled
        documents; for a sentence-embedding model, its texts with its pooling and dimension).
        ``dimensions`` cuts each vector to a prefix and scales it to length 1 again."""
        texts = as_list(body.input)
        check_input_count(texts, limit)
        sentence = served.facts.sentence
        dimension = embedding_dimension(body.dimensions, served.facts)
        level, pooling = ("text", sentence.pooling) if sentence is not None else ("document", "mean")
        key = embeddings_key(served.facts, level, pooling, split_sentences=sentence is None)
        batched = await run_batched(
            request, service, key, lambda: served.embeddings(texts, service.truncate(None), level, sentence is None)
        )
        data = []
        for index, records in enumerate(batched.results):
            values = vector(records[0]["embedding"][:dimension], normalize=True)
            encoded = base64.b64encode(values.astype("<f4").tobytes()).decode() if body.encoding_format == "base64" else values.tolist()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        usage = {"prompt_tokens": batched.tokens, "total_tokens": batched.tokens}
        return batched.response({"object": "list", "data": data, "model": served.name, "usage": usage})


# -- the tasks with heads -------------------------------------------------------------------------


def _add_task_routes(app: FastAPI, service: Service) -> None:
    served, settings = service.served, service.settings
    limit = settings.max_client_batch_size
    routes: dict[str, tuple[Callable[..., Any], Any]] = {}

    def fits_one_batch(index: int, tokens: int, advice: str) -> int:
        """An input's tokens when one batch holds them (the pipeline runs it as one piece of work).

        Raises:
            InvalidRequest: more than ``--max-batch-tokens``.
        """
        if tokens > settings.max_batch_tokens:
            raise InvalidRequest(
                f"inputs[{index}] is {tokens} tokens, more than one batch holds (--max-batch-tokens "
                f"{settings.max_batch_tokens}); {advice}"
            )
        return tokens

    async def fill_mask(request: Request, body: schemas.FillMaskRequest) -> Response:
        """The most likely pieces behind each [MASK]: one list per mask where a text has several."""
        texts = as_list(body.inputs)
        check_input_count(texts, limit)
        key = batch_key("fill-mask", top_k=body.top_k, targets=tuple(body.targets) if body.targets is not None else None)
        truncate = service.truncate(body.truncate)
        batched = await run_batched(request, service, key, lambda: served.fill_mask(texts, truncate))
        return batched.response(batched.results)

    async def classify(request: Request, body: schemas.ClassifyRequest) -> Response:
        """A score for every label of each text or text pair, best first."""
        inputs = as_list(body.inputs)
        check_input_count(inputs, limit)
        pairs = [(item, None) if isinstance(item, str) else (item.text, item.text_pair) for item in inputs]
        truncate = service.truncate(body.truncate)
        key = batch_key("text-classification", top_k=body.top_k, function_to_apply=body.function_to_apply)
        batched = await run_batched(request, service, key, lambda: served.text_classification(pairs, truncate))
        return batched.response(batched.results)

    async def tag(request: Request, body: schemas.TagRequest) -> Response:
        """The entities of each text, with their character spans."""
        texts = as_list(body.inputs)
        check_input_count(texts, limit)
        ignore = tuple(body.ignore_labels) if body.ignore_labels is not None else None
        key = batch_key("token-classification", aggregation_strategy=body.aggregation_strategy, ignore_labels=ignore)
        truncate = service.truncate(body.truncate)
        batched = await run_batched(request, service, key, lambda: served.token_classification(texts, truncate))
        return batched.response(batched.results)

    async def answer(request: Request, body: schemas.AnswerRequest) -> Response:
        """The span of each context that answers its question (contexts of any length, in windows)."""
        questions = as_list(body.inputs)
        check_input_count(questions, limit)

        def make_ready() -> list[Ready]:
            ready = served.question_answering([item.question for item in questions],
                                              [item.context for item in questions], body.doc_stride)  # fmt: skip
            for index, item in enumerate(ready):  # each runs as one piece of work, whatever its windows
                fits_one_batch(index, item.counted, "shorten its context or split it")
            return ready

        key = batch_key("question-answering", top_k=body.top_k, max_answer_len=body.max_answer_len,
                        doc_stride=body.doc_stride, handle_impossible_answer=body.handle_impossible_answer)  # fmt: skip
        batched = await run_batched(request, service, key, make_ready)
        return batched.response(batched.results)

    async def choose(request: Request, body: schemas.ChooseRequest) -> Response:
        """How well each choice continues or answers its prompt (scores of one prompt sum to 1)."""
        prompts = as_list(body.inputs)
        check_input_count(prompts, limit)
        truncate = service.truncate(body.truncate)

        def make_ready() -> list[Ready]:
            ready = []
            for index, item in enumerate(prompts):
                ready.append(served.multiple_choice(index, item.prompt, item.choices, truncate))
                fits_one_batch(index, ready[-1].tokens, "give it fewer or shorter choices")  # its choices run as one
            return ready

        batched = await run_batched(request, service, batch_key("multiple-choice"), make_ready)
        return batched.response(batched.results)

    routes.update({
        "fill-mask": (fill_mask, list[list[schemas.Prediction] | list[list[schemas.Prediction]]]),
        "text-classification": (classify, list[list[schemas.LabelScore]]),
        "token-classification": (tag, list[list[schemas.Entity]]),
        "question-answering": (answer, list[schemas.Answer | list[schemas.Answer]]),
        "multiple-choice": (choose, list[list[schemas.ChoiceScore]]),
    })  # fmt: skip
    for task, path in TASK_ENDPOINTS.items():
        endpoint, response_model = routes[task]
        if task in served.tasks:
            app.post(path, response_model=response_model, tags=["tasks"])(endpoint)
        else:
            app.post(path, include_in_schema=False)(_not_served(served, task, path))


def _not_served(served: ServedModel, task: str, path: str) -> Callable[..., Any]:
    async def not_served() -> Response:
        has = f"its head serves {served.facts.head_task}" if served.facts.head_task else "it is an encoder without a head"
        raise NotServed(
            f"{path} needs a model with a {task} head, and {served.name} has none ({has}); start the server with "
            f"--model pointing at such a model (a folder written by albert finetune --task {task}, say)"
        )

    return not_served


# -- tokenize, health, info, metrics --------------------------------------------------------------


def _add_service_routes(app: FastAPI, service: Service, endpoints: list[str]) -> None:
    served, settings = service.served, service.settings

    @app.post("/tokenize", response_model=list[list[schemas.Token]], tags=["service"])
    async def tokenize(body: schemas.TokenizeRequest) -> Response:
        """The pieces of each text as the model reads them, with their ids and character spans."""
        texts = as_list(body.inputs)
        check_input_count(texts, settings.max_client_batch_size)
        service.admission.admit()
        try:
            return JSONAnswer(await run_in_threadpool(served.tokenize, texts, body.add_special_tokens))
        finally:
            service.admission.release()

    @app.get("/health", response_model=schemas.Health, tags=["service"])
    async def health() -> Response:
        """200 while the server takes requests; 503 while it drains after SIGTERM, or if its model stopped."""
        if service.admission.draining:
            raise ShuttingDown("the server is shutting down: it finishes the requests it has accepted, then exits")
        if not service.batcher.alive:
            raise ServeError("the inference worker has stopped (the server's log says why); restart the server")
        if not served.alive:
            raise WorkerStopped("the model's process has stopped (the server's log says why); restart the server")
        return JSONAnswer({"status": "ok"})

    @app.get("/info", response_model=schemas.Info, tags=["service"])
    async def info() -> Response:
        """The model, its tasks, the vectors' dimension, the longest input, the limits, the version."""
        limits = {name: getattr(settings, name) for name in schemas.Limits.model_fields}
        return JSONAnswer({
            "model": served.name, "tasks": served.tasks, "endpoints": endpoints, "dimension": served.facts.dimension,
            "max_input_length": served.facts.window, "device": served.facts.device, "dtype": served.facts.dtype, "limits": limits,
            "version": __version__, "sentence_embedding": _sentence_info(served.facts),
        })  # fmt: skip

    @app.get("/metrics", tags=["service"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus' text format: requests, failures by cause, queue, batches, latencies."""
        content, media_type = service.metrics.render()
        return Response(content, media_type=media_type)


def _sentence_info(facts: ModelFacts) -> dict[str, Any] | None:
    """/info's ``sentence_embedding``: the settings saved with a sentence-embedding model."""
    sentence = facts.sentence
    if sentence is None:
        return None
    return {
        "pooling": sentence.pooling, "normalize": sentence.normalize, "max_length": sentence.max_length,
        "dimension": sentence.dimension or facts.dimension, "matryoshka_dimensions": list(sentence.matryoshka_dimensions),
    }  # fmt: skip
