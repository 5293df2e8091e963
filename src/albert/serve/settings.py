"""What ``albert serve`` is started with: the model, where to listen, and the limits (TEI's names)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError
from ..precision import check_precision


@dataclass(frozen=True)
class ServeSettings:
    """The service's settings; the defaults are ``albert serve``'s (those of text-embeddings-inference).

    Attributes:
        model: a folder, shipped model name or Hub id; None is the shipped model.
        host, port: where to listen (127.0.0.1 by default: only this machine can connect).
        max_batch_tokens: the most real tokens ([CLS] and [SEP] included, no padding) one batch holds.
        max_batch_requests: the most inputs one batch holds (None: only the token budget counts;
            1 turns batching off).
        max_concurrent_requests: requests accepted and not yet answered; one more gets 429 at once.
        max_client_batch_size: the most inputs one request may carry.
        payload_limit: the largest request body, in bytes.
        auto_truncate: cut inputs longer than the model's window to it, unless a request says
            ``truncate: false``; without it such inputs are refused (422).
        api_key: when set, every endpoint but ``/health`` and the API docs wants
            ``Authorization: Bearer <api_key>``.
        device, dtype, onnx, fast, precision: as for :func:`albert.pipeline` (``onnx`` None: single
            texts in ONNX Runtime when the extra is installed, batches in torch).
        threads: torch's intra-op threads in the model's process; None (default): the physical
            cores less one for the HTTP side (at least 1), or ``OMP_NUM_THREADS`` when set. Never
            more than the physical cores; the choice is logged at start-up.
        in_process: run the model in the server's process, not a process of its own (less
            memory; under load the model then waits on the event loop for Python's lock).
        graceful_timeout: seconds SIGTERM waits for the accepted requests to be answered; what is
            left then is refused (503). Below the 30 s most supervisors wait before SIGKILL.
        allow_untrained_head: serve a task head that the weights do not hold (newly initialised:
            random answers); without it such a model is refused at start-up.
    """

    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_tokens: int = 16384
    max_batch_requests: int | None = None
    max_concurrent_requests: int = 512
    max_client_batch_size: int = 32
    payload_limit: int = 2_000_000
    auto_truncate: bool = False
    api_key: str | None = None
    device: str | None = None
    dtype: str | None = None
    onnx: bool | None = None
    fast: bool | None = None
    precision: str = "exact"
    threads: int | None = None
    in_process: bool = False
    graceful_timeout: float = 25.0
    allow_untrained_head: bool = False

    def check(self, model_window: int) -> None:
        """Refuse limits that cannot work, naming the value and what to give instead.

        Raises:
            OptionError: a limit below 1, a negative --graceful-timeout, or a token budget smaller
                than the model's window (an input filling the window could never be batched).
        """
        check_precision(self.precision, "--precision")
        if self.threads is not None and self.threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.threads}")
        if not self.graceful_timeout >= 0:  # NaN too
            raise OptionError(f"--graceful-timeout must be 0 seconds or more, got {self.graceful_timeout}")
        for name in ("max_concurrent_requests", "max_client_batch_size", "payload_limit", "max_batch_requests"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_batch_tokens < model_window:
            raise OptionError(
                f"--max-batch-tokens {self.max_batch_tokens} is smaller than the model's window of {model_window} "
                f"tokens, so an input that fills the window could never be batched; give at least {model_window}"
            )
        if self.api_key is not None and not self.api_key.strip():
            raise OptionError("--api-key is empty; give a secret, or leave the option out to serve without one")
