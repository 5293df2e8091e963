"""The API key: with ``--api-key`` set, every request but the open paths needs ``Authorization: Bearer <key>``.

Checked in front of the application, before a body is read or parsed, so a client without the
key learns nothing but 401. The scheme is case-insensitive, as HTTP's are (RFC 9110, 11.1:
``bearer KEY`` and ``BEARER KEY`` are ``Bearer KEY``); the key is not, and is compared in constant
time. ``/health`` stays open for load balancers, and the API's description (``/docs``,
``/openapi.json``) for people.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from .asgi import HttpMiddleware, Receive, Scope, Send
from .errors import Unauthorized

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


class ApiKeyCheck(HttpMiddleware):
    """ASGI middleware: refuse (401) a request without the right bearer key.

    ``reply(path, error)`` is the error's response (the app's one way of making one).
    """

    def __init__(self, app: Any, api_key: str, reply: Callable[..., Any]) -> None:
        super().__init__(app)
        self.expected = api_key.encode()
        self.reply = reply

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization")
            refusal = None
            scheme, _, key = (given or b"").strip().partition(b" ")
            if given is None:
                refusal = Unauthorized(
                    "this server wants an API key: send the header 'Authorization: Bearer <key>' "
                    "(with the openai client: api_key=<key>)"
                )
            elif scheme.lower() != b"bearer":
                shown = scheme[:20].decode("latin-1")
                refusal = Unauthorized(
                    f"the Authorization header's scheme is {shown!r}: this server takes 'Authorization: Bearer <key>'"
                )
            elif not secrets.compare_digest(key.strip(), self.expected):
                refusal = Unauthorized(
                    "the API key is wrong: send 'Authorization: Bearer <key>' with the key the server was started with"
                )
            if refusal is not None:
                await self.reply(scope["path"], refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)
