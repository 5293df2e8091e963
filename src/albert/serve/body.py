"""What a request body must be: JSON (``Content-Type: application/json``), as UTF-8 text, that a
JSON parser can read; and the client error for each way it is not.

FastAPI reads a body with the standard library's parser and answers anything that parser raises
besides a syntax error with a bare 400 "There was an error parsing the body", the parser's own
exception chained as its cause. :func:`unreadable_body` names that cause for people: a byte that
is not UTF-8, nesting deeper than the parser's recursion, an integer longer than Python converts.
A body sent as something else than JSON is refused (415) before it is read, whatever FastAPI's
version does with it.
"""

from __future__ import annotations

import email.message
import re
import sys
from collections.abc import Callable, Collection
from typing import Any

from .asgi import HttpMiddleware, Receive, Scope, Send
from .errors import MalformedBody, UnsupportedMediaType

#: What every malformed-body message ends with.
SEND_JSON = "send a JSON object encoded as UTF-8 (GET /docs shows each endpoint's fields)"


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` value is JSON (``application/json``, or any ``application/*+json``)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class JsonContentType(HttpMiddleware):
    """ASGI middleware: a POST to one of ``paths`` must say its body is JSON, or it is refused
    (415) before its body is read. ``reply(path, error)`` is the error's response."""

    def __init__(self, app: Any, paths: Collection[str], reply: Callable[..., Any]) -> None:
        super().__init__(app)
        self.paths = frozenset(paths)
        self.reply = reply

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST" and scope["path"] in self.paths:
            given = dict(scope["headers"]).get(b"content-type")
            shown = given.decode("latin-1") if given is not None else None
            if shown is None or not is_json(shown):
                said = f"this request's is {shown!r}" if shown is not None else "this request has none"
                refusal = UnsupportedMediaType(
                    f"the body must be JSON, sent with the header 'Content-Type: application/json' ({said}; "
                    "curl -d sends application/x-www-form-urlencoded unless told -H 'content-type: application/json')"
                )
                await self.reply(scope["path"], refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def unreadable_body(cause: BaseException | None) -> MalformedBody:
    """The client error for a body the JSON parser raised ``cause`` on (FastAPI's 400's cause)."""
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start : cause.start + 1].hex()
        return MalformedBody(f"the body is not valid UTF-8: byte 0x{byte} at position {cause.start} ({cause.reason}); {SEND_JSON}")
    if isinstance(cause, RecursionError):
        return MalformedBody(
            f"the body's JSON is nested too deeply to read (no request of this API nests more than a few levels); {SEND_JSON}"
        )
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):  # Python's bound on int(str)
        size = re.search(r"value has (\d+) digits", str(cause))
        digits = f"of {size.group(1)} digits" if size else "too long"
        return MalformedBody(
            f"the body holds an integer {digits}, more than the {sys.get_int_max_str_digits()} digits Python reads; "
            f"no field takes one that large; {SEND_JSON}"
        )
    what = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return MalformedBody(f"the body could not be read as JSON{what}; {SEND_JSON}")


def not_json(position: Any, problem: str) -> MalformedBody:
    """The client error for a body that is not JSON: where the parser stopped, and why."""
    return MalformedBody(f"the body is not valid JSON: {problem} at character {position}; {SEND_JSON}")
