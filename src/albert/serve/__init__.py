"""``albert serve``: the pipelines behind an HTTP service, with dynamic batching, limits and metrics.

One process holds the model; requests from many clients are merged into batches by a token
budget (:mod:`.batcher`) and answered with exactly what the single-process pipeline returns.
The service needs the ``serve`` extra (FastAPI, uvicorn, prometheus_client):
``pip install 'albert-lm[serve]'``; its settings do not, so the command line can show them.

>>> from albert.serve import ServeSettings, serve
>>> serve(ServeSettings(port=8080))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from .settings import ServeSettings

#: What needs the serve extra, and the module it lives in (imported when first asked for).
_SERVICE = {"create_app": "app", "ServedModel": "served_model", "serve": "server"}

__all__ = ["ServeSettings", *_SERVICE]


def __getattr__(name: str) -> Any:
    if name not in _SERVICE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"albert serve needs FastAPI, uvicorn and prometheus_client ({error}); "
            "install them with: pip install 'albert-lm[serve]' (in a checkout: pip install -e '.[serve]')"
        ) from error
    return getattr(importlib.import_module(f".{_SERVICE[name]}", __name__), name)
