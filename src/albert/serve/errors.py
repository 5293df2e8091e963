"""The service's errors: each an HTTP status, a cause (the metrics' label) and a message for people.

Every error leaves as the same JSON body, text-embeddings-inference's shape:
``{"error": "<what was wrong and what to do>", "error_type": "<cause>"}``. A client's mistake is
a 4xx with a cause of its own; ``internal`` (500) is kept for albert's bugs. An error a client
should simply send again later (429, 503) says when, in ``Retry-After``.
"""

from __future__ import annotations

import json


class ServeError(Exception):
    """A request the service cannot answer; ``status`` and ``cause`` say how it is reported, and
    ``retry_after`` (seconds) whether the answer carries ``Retry-After`` (each kind below sets
    them: ``class Overloaded(ServeError, status=429, cause="overloaded", retry_after=1)``)."""

    status = 500
    cause = "internal"
    retry_after: int | None = None

    def __init_subclass__(cls, status: int, cause: str, retry_after: int | None = None, **options: object) -> None:
        super().__init_subclass__(**options)
        cls.status, cls.cause, cls.retry_after = status, cause, retry_after

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class MalformedBody(ServeError, status=400, cause="malformed_body"):
    """A body that cannot be read as JSON: not UTF-8, not JSON, nested too deeply, a number too long."""


class EmptyInput(ServeError, status=400, cause="empty_input"):
    """No inputs, or an input with nothing to read."""


class Unauthorized(ServeError, status=401, cause="unauthorized"):
    """A missing or wrong API key."""


class NotServed(ServeError, status=404, cause="not_served"):
    """A task endpoint the model has no head for."""


class PayloadTooLarge(ServeError, status=413, cause="payload_too_large"):
    """A request body over ``--payload-limit``."""


class UnsupportedMediaType(ServeError, status=415, cause="unsupported_media_type"):
    """A body sent as something other than JSON (its ``Content-Type``)."""


class InvalidRequest(ServeError, status=422, cause="invalid_request"):
    """A request that breaks a rule: a wrong field, too many inputs, an input too long or not valid text."""


class Overloaded(ServeError, status=429, cause="overloaded", retry_after=1):
    """``--max-concurrent-requests`` are in flight already (a slot frees as soon as one is answered)."""


class ClientDisconnected(ServeError, status=499, cause="client_disconnected"):
    """The client went away before its answer was ready (nginx's 499; nobody reads it)."""


#: Seconds a 503 asks a client to wait: time for a load balancer to move away, or a supervisor to
#: start the server again.
UNAVAILABLE_RETRY_AFTER = 5


class ShuttingDown(ServeError, status=503, cause="shutting_down", retry_after=UNAVAILABLE_RETRY_AFTER):
    """The service is draining after SIGTERM and takes no new work (or its --graceful-timeout passed)."""


class WorkerStopped(ServeError, status=503, cause="worker_stopped", retry_after=UNAVAILABLE_RETRY_AFTER):
    """The model's process is gone (killed, out of memory): nothing more is computed until a restart."""


def error_body(message: str, cause: str) -> bytes:
    """The JSON body every error is sent with."""
    return json.dumps({"error": message, "error_type": cause}).encode("utf-8")
