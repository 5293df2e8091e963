"""The model in a process of its own, so that the event loop and the model never share a GIL.

In one process, the batcher's thread runs the model's Python (a few hundred module calls per
forward) between torch kernels, and takes the GIL back after each one; while the event loop
parses requests and writes answers, each of those takes waits for it, and the model slows down
just when the load is highest. Here the pipelines run in a child process (``spawn``: no forked
torch state): the server sends it one merged batch at a time over a pipe and reads back the
results (or the exception the batch raised, which the batcher handles as before).

The child ignores SIGINT and SIGTERM: the server drains first, then closes the pipe, which is
how the child is told to exit; if the server dies, the pipe closes too and the child follows.
When the child dies (killed, out of memory), the batch in flight and every later one fail with
:class:`WorkerStopped` (503); :meth:`ModelWorker.wait_stopped` is how the server learns it at
once, to stop and exit with an error for its supervisor to restart it (the server logs the death,
once: this module logs nothing of it).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import signal
import threading
import time
from collections.abc import Hashable
from multiprocessing.connection import Connection
from typing import Any

from .errors import WorkerStopped
from .model_facts import ModelFacts

logger = logging.getLogger(__name__)

#: Seconds a closing server waits for the child to exit before it kills it.
EXIT_TIMEOUT = 30.0


class ModelWorker:
    """The pipelines of one model, loaded and run in a child process.

    Args:
        options: what :class:`~albert.serve.backend.Pipelines` is made with (model, device,
            dtype, fast, onnx).

    Raises:
        Whatever loading the model raised in the child (ModelNotFoundError, ImportError ...),
        raised again here; WorkerStopped: the child died while loading.
    """

    def __init__(self, **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve_batches, args=(child_end, options), name="albert-model",
                                        daemon=True)  # fmt: skip
        self._process.start()
        child_end.close()  # the child's copy is the only one left: its exit closes the pipe
        self._lock = threading.Lock()
        self._reaping = threading.Lock()
        self._closing = False
        #: What the child says about the model it loaded (:meth:`Pipelines.facts`).
        self.facts: ModelFacts = self._receive("loading the model")

    @property
    def alive(self) -> bool:
        """Whether the child runs."""
        with self._reaping:
            return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_stopped(self) -> str | None:
        """Block until the child exits: how it stopped (for people), or None when :meth:`close` stopped it."""
        multiprocessing.connection.wait([self._process.sentinel])
        return None if self._closing else self._how()

    def compute(self, key: Hashable, items: list[Any]) -> list[Any]:
        """One merged batch, computed in the child; its results, or the exception it raised there.

        Raises:
            WorkerStopped: the child is gone. Anything the pipeline raised on these inputs.
        """
        with self._lock:  # one batch at a time: the pipe carries one request, then its answer
            try:
                self._connection.send((key, items))
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
                raise self._stopped("sending it a batch") from None
            return self._receive("computing a batch")

    def close(self, timeout: float = EXIT_TIMEOUT) -> None:
        """Tell the child to exit (it finishes the batch it has), wait up to ``timeout`` seconds, and
        kill it if it has not exited by then."""
        self._closing = True
        deadline = time.monotonic() + timeout
        if self._lock.acquire(timeout=timeout):  # a batch in flight holds it until its answer comes
            try:
                self._connection.send(None)
            except OSError:
                pass  # already gone
            finally:
                self._lock.release()
        self._process.join(max(0.0, deadline - time.monotonic()))
        if self._process.is_alive():
            logger.warning("the model process did not exit within %.0f s; killing it", timeout)
            self._process.kill()
            self._process.join()
        self._connection.close()

    def _receive(self, doing: str) -> Any:
        try:
            outcome, value = self._connection.recv()
        except (EOFError, ConnectionResetError, OSError):
            raise self._stopped(doing) from None
        if outcome == "error":
            raise value
        return value

    def _how(self) -> str:
        with self._reaping:  # one thread at a time: two in waitpid at once, and the loser sees no exit code
            self._process.join(5.0)
            code = self._process.exitcode
        return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"

    def _stopped(self, doing: str) -> WorkerStopped:
        how = self._how()
        return WorkerStopped(
            f"the model process stopped while {doing} ({how}); the server cannot compute any more: restart it "
            "(its log says why the process stopped)"
        )


def freeze_startup_objects() -> None:
    """Leave what start-up made (the libraries, the tokenizer, the model) out of every later
    garbage collection: a full collection walks each tracked object, ~240,000 once torch, FastAPI
    and the model are loaded, and took 90-145 ms here, two or three times per 1,200 requests in
    each process, stalling every request in flight at once. Called by the server before it serves
    and by the model's process before its first batch."""
    gc.collect()
    gc.freeze()


def _serve_batches(connection: Connection, options: dict[str, Any]) -> None:
    """The child: load the pipelines, say what was loaded, then compute batches until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server drains first, then closes the pipe
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        from .backend import Pipelines  # here only: the server's side of the pipe never loads torch

        pipelines = Pipelines(**options)
    except Exception as error:  # noqa: BLE001 - the server raises it again
        _send(connection, "error", error)
        return
    freeze_startup_objects()
    _send(connection, "ok", pipelines.facts())
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if message is None:
            return
        key, items = message
        try:
            result: tuple[str, Any] = ("ok", pipelines.compute(key, items))
        except Exception as error:  # noqa: BLE001 - the batcher decides what a failed batch means
            result = ("error", error)
        _send(connection, *result)


def _send(connection: Connection, outcome: str, value: Any) -> None:
    try:
        connection.send((outcome, value))
    except (BrokenPipeError, OSError):
        return  # the server is gone
    except Exception as error:  # noqa: BLE001 - an exception (or result) that does not pickle
        connection.send(("error", RuntimeError(f"{type(value).__name__}: {value} ({error})")))
