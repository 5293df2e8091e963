"""The service's errors: each an HTTP status, a cause (the metrics' label) and a message for people.

Every error leaves as the same JSON body, text-embeddings-inference's shape:
``{"error": "<what was wrong and what to do>", "error_type": "<cause>"}``.
"""

from __future__ import annotations

import json


class ServeError(Exception):
    """A request the service cannot answer; ``status`` and ``cause`` say how it is reported
    (each kind below sets them: ``class EmptyInput(ServeError, status=400, cause="empty_input")``)."""

    status = 500
    cause = "internal"

    def __init_subclass__(cls, status: int, cause: str, **options: object) -> None:
        super().__init_subclass__(**options)
        cls.status, cls.cause = status, cause

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class EmptyInput(ServeError, status=400, cause="empty_input"):
    """No inputs, or an input with nothing to read."""


class Unauthorized(ServeError, status=401, cause="unauthorized"):
    """A missing or wrong API key."""


class NotServed(ServeError, status=404, cause="not_served"):
    """A task endpoint the model has no head for."""


class PayloadTooLarge(ServeError, status=413, cause="payload_too_large"):
    """A request body over ``--payload-limit``."""


class InvalidRequest(ServeError, status=422, cause="invalid_request"):
    """A request that breaks a rule: a wrong field, too many inputs, an input too long."""


class Overloaded(ServeError, status=429, cause="overloaded"):
    """``--max-concurrent-requests`` are in flight already."""


class ClientDisconnected(ServeError, status=499, cause="client_disconnected"):
    """The client went away before its answer was ready (nginx's 499; nobody reads it)."""


class ShuttingDown(ServeError, status=503, cause="shutting_down"):
    """The service is draining after SIGTERM and takes no new work."""


class WorkerStopped(ServeError, status=503, cause="worker_stopped"):
    """The model's process is gone (killed, out of memory): nothing more is computed until a restart."""


def error_body(message: str, cause: str) -> bytes:
    """The JSON body every error is sent with."""
    return json.dumps({"error": message, "error_type": cause}).encode("utf-8")
