"""What the service's ASGI middlewares share: they look at HTTP requests, and let the rest (the
lifespan's start and end) through untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class HttpMiddleware:
    """An ASGI middleware that handles HTTP requests in :meth:`handle` and passes anything else on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        raise NotImplementedError
