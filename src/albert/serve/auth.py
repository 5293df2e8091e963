"""The API key: with ``--api-key`` set, every request but the open paths needs ``Authorization: Bearer <key>``.

Checked in front of the application, before a body is read or parsed, so a client without the
key learns nothing but 401. The key is compared in constant time. ``/health`` stays open for load
balancers, and the API's description (``/docs``, ``/openapi.json``) for people.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from .asgi import HttpMiddleware
from .errors import Unauthorized

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


class ApiKeyCheck(HttpMiddleware):
    """ASGI middleware: refuse (401) a request without the right bearer key.

    ``reply(path, error)`` is the error's response (the app's one way of making one).
    """

    def __init__(self, app: Any, api_key: str, reply: Callable[..., Any]) -> None:
        super().__init__(app)
        self.expected = f"Bearer {api_key}".encode()
        self.reply = reply

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization")
            refusal = None
            if given is None:
                refusal = Unauthorized(
                    "this server wants an API key: send the header 'Authorization: Bearer <key>' "
                    "(with the openai client: api_key=<key>)"
                )
            elif not secrets.compare_digest(given, self.expected):
                refusal = Unauthorized(
                    "the API key is wrong: send 'Authorization: Bearer <key>' with the key the server was started with"
                )
            if refusal is not None:
                await self.reply(scope["path"], refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)
