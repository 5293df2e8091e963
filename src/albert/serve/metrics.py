"""The service's Prometheus metrics (``GET /metrics``), in a registry of its own.

Requests and their latency by endpoint, failures by endpoint and cause, the queue and the
requests in flight, and per batch its inputs, real tokens, compute time and its inputs' waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from .asgi import HttpMiddleware, Receive, Scope, Send
from .batcher import BatchStats

#: Latency buckets in seconds, from a short sentence on a GPU to a full batch on a CPU.
SECONDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
POWERS_OF_TWO = tuple(float(2**power) for power in range(0, 11))
TOKEN_BUCKETS = tuple(float(2**power) for power in range(4, 17))


class Metrics:
    """The instruments, and the text ``/metrics`` answers with; ``endpoints`` are the paths served
    (the endpoint label of any other path is "other", so stray paths add no series)."""

    def __init__(self, endpoints: Collection[str]) -> None:
        self.endpoints = frozenset(endpoints)
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter("albert_requests", "HTTP requests, by endpoint", ["endpoint"], registry=registry)
        self.failures = Counter(
            "albert_request_failures", "Requests answered with an error, by endpoint and cause", ["endpoint", "cause"],
            registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "albert_request_duration_seconds", "Time from a request's arrival to its answer, by endpoint",
            ["endpoint"], buckets=SECONDS, registry=registry,
        )  # fmt: skip
        self.queue_size = Gauge("albert_queue_size", "Inputs waiting for a batch", registry=registry)
        self.in_flight = Gauge("albert_requests_in_flight", "Requests accepted and not yet answered", registry=registry)
        self.batch_inputs = Histogram(
            "albert_batch_inputs", "Inputs per batch", buckets=POWERS_OF_TWO, registry=registry
        )
        self.batch_tokens = Histogram(
            "albert_batch_tokens", "Real tokens per batch ([CLS] and [SEP] included, no padding)",
            buckets=TOKEN_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "albert_batch_compute_seconds", "Time the pipeline took for one batch", buckets=SECONDS, registry=registry
        )
        self.queue_seconds = Histogram(
            "albert_queue_seconds", "Time an input waited before its batch started", buckets=SECONDS, registry=registry
        )

    def endpoint(self, path: str) -> str:
        """The endpoint label of a request path."""
        return path if path in self.endpoints else "other"

    def failed(self, path: str, cause: str) -> None:
        """Count a request answered with an error."""
        self.failures.labels(self.endpoint(path), cause).inc()

    def watch(self, queued: Callable[[], int], in_flight: Callable[[], int]) -> None:
        """Read the queue's and the in-flight counts when scraped."""
        self.queue_size.set_function(queued)
        self.in_flight.set_function(in_flight)

    def observe_batch(self, stats: BatchStats) -> None:
        """Record one batch (the batcher calls this from its worker thread)."""
        self.batch_inputs.observe(stats.inputs)
        self.batch_tokens.observe(stats.tokens)
        self.batch_seconds.observe(stats.compute_seconds)
        for seconds in stats.queue_seconds:
            self.queue_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics(HttpMiddleware):
    """ASGI middleware: count every request and time it, by endpoint (paths not served: "other")."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.metrics.endpoint(scope["path"])
        self.metrics.requests.labels(endpoint).inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
