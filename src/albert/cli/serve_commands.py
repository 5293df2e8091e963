"""``albert serve``: the pipelines as an HTTP service (see docs/serve.md). Needs the ``serve`` extra."""

from __future__ import annotations

from functools import partial

import typer

from ..options import cli_option
from ..pipeline_options import LoadOptions
from ..serve.errors import WorkerStopped
from ..serve.settings import ServeSettings
from .app import app, settings_option

_setting = partial(settings_option, ServeSettings)


@app.command("serve")
def serve(
    model: str | None = cli_option(LoadOptions, "model"),
    host: str = _setting("--host", help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)."),
    port: int = _setting("--port", min=0, max=65535, help="Port to listen on."),
    max_batch_tokens: int = _setting("--max-batch-tokens", min=1, help="Most real tokens in one batch (no padding counted)."),
    max_batch_requests: int | None = _setting("--max-batch-requests", min=1, help="Most inputs in one batch (1: no batching)."),
    max_concurrent_requests: int = _setting(
        "--max-concurrent-requests", min=1, help="Requests in flight before new ones get 429."
    ),
    max_client_batch_size: int = _setting("--max-client-batch-size", min=1, help="Most inputs in one request."),
    payload_limit: int = _setting("--payload-limit", min=1, help="Largest request body, in bytes."),
    auto_truncate: bool = _setting("--auto-truncate", help="Cut inputs longer than the model's window instead of refusing them."),
    api_key: str | None = _setting(
        "--api-key", envvar="ALBERT_API_KEY", show_envvar=True,
        help="Require 'Authorization: Bearer KEY' (prefer the environment variable: ps shows arguments).",
    ),
    device: str | None = cli_option(LoadOptions, "device"),
    dtype: str | None = cli_option(LoadOptions, "dtype"),
    onnx: bool | None = cli_option(LoadOptions, "onnx"),
    precision: str = cli_option(LoadOptions, "precision"),
    threads: int | None = _setting(
        "--threads", min=1,
        help="torch threads in the model's process (default: the physical cores less one, kept for the HTTP side).",
    ),
    fast: bool | None = _setting("--fast/--no-fast", help="The packed (unpadded) encoder; default: on, as in every pipeline."),
    in_process: bool = _setting(
        "--in-process", help="Run the model in the server's process, not its own (less memory, slower under load)."
    ),
    graceful_timeout: float = _setting(
        "--graceful-timeout", min=0,
        help="Seconds SIGTERM waits for accepted requests; the rest then get 503 (keep it below the supervisor's stop timeout).",
    ),
    allow_untrained_head: bool = _setting(
        "--allow-untrained-head",
        help="Serve a task head the weights do not hold (newly initialised: random answers) instead of refusing the model.",
    ),
) -> None:
    """Serve the model over HTTP: embeddings (also OpenAI's /v1/embeddings) and the task of its head."""
    from ..serve import serve as run_service

    settings = ServeSettings(
        model=model, host=host, port=port, max_batch_tokens=max_batch_tokens, max_batch_requests=max_batch_requests,
        max_concurrent_requests=max_concurrent_requests, max_client_batch_size=max_client_batch_size,
        payload_limit=payload_limit, auto_truncate=auto_truncate, api_key=api_key, device=device, dtype=dtype,
        onnx=onnx, precision=precision, threads=threads, fast=fast, in_process=in_process, graceful_timeout=graceful_timeout,
        allow_untrained_head=allow_untrained_head,
    )  # fmt: skip
    try:
        run_service(settings)
    except WorkerStopped as error:  # the server answered what it held, stopped: say why, exit 1
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
