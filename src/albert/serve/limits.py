"""The service's limits: the body size, the requests in flight (and draining after SIGTERM), the
inputs per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from starlette.exceptions import HTTPException

from .asgi import HttpMiddleware, Message, Receive, Scope, Send
from .errors import EmptyInput, InvalidRequest, Overloaded, PayloadTooLarge, ShuttingDown


def payload_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than the payload limit of {limit} bytes; send fewer or shorter inputs "
        "per request (or start the server with a larger --payload-limit)"
    )


class BodyTooLarge(HTTPException):
    """Raised while a body is read, past the limit: FastAPI passes an HTTPException on to the
    app's handler (any other error reading a body becomes its own 400)."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class PayloadLimit(HttpMiddleware):
    """ASGI middleware: a request body over ``limit`` bytes is answered 413, at once when its
    ``Content-Length`` says so, else as soon as the bytes received pass the limit.

    (FastAPI's own ``max_body_size`` answers a declared size with a plain-text 413 of its own,
    not the service's JSON error.) ``reply(path, error)`` is the error's response.
    """

    def __init__(self, app: Any, limit: int, reply: Callable[..., Any]) -> None:
        super().__init__(app)
        self.limit = limit
        self.reply = reply

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.reply(scope["path"], payload_too_large(self.limit))(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, counted_receive, send)


class Admission:
    """Requests in flight, at most ``limit``; none at all once draining (after SIGTERM).

    Used from the event loop (:meth:`admit`, :meth:`release`), the signal handler (:meth:`drain`)
    and the thread that ends the server (:meth:`wait_drained`), hence the lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.draining = False
        self._changed = threading.Condition()

    def admit(self) -> None:
        """Count one more request in flight.

        Raises:
            ShuttingDown: the service is draining.
            Overloaded: ``limit`` requests are in flight already.
        """
        with self._changed:
            if self.draining:
                raise ShuttingDown(
                    "the server is shutting down: it finishes the requests it has accepted and takes no new "
                    "ones; send this one to another replica, or again once it has restarted"
                )
            if self.in_flight >= self.limit:
                raise Overloaded(
                    f"the server is at its limit of {self.limit} concurrent requests (--max-concurrent-requests); "
                    "retry shortly, send fewer requests at once, or put more inputs in each request"
                )
            self.in_flight += 1

    def release(self) -> None:
        """One request in flight is answered."""
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def drain(self) -> None:
        """Take no new requests from now on."""
        with self._changed:
            self.draining = True
            self._changed.notify_all()

    def wait_drained(self, timeout: float | None = None) -> bool:
        """Block until draining with nothing in flight; whether that happened within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self.draining and self.in_flight == 0, timeout)


def check_input_count(inputs: Sequence[Any], max_client_batch_size: int) -> None:
    """A request carries at least one input and at most ``max_client_batch_size``.

    Raises:
        EmptyInput: no inputs.
        InvalidRequest: more than ``max_client_batch_size``.
    """
    if not inputs:
        raise EmptyInput("inputs is empty: give a text, or a list of at least one")
    if len(inputs) > max_client_batch_size:
        raise InvalidRequest(
            f"the request has {len(inputs)} inputs, more than the limit of {max_client_batch_size} per request "
            f"(--max-client-batch-size); split it into requests of at most {max_client_batch_size}"
        )
