"""The token-budget dynamic batcher: many requests' inputs, one pipeline call.

Every input of every request is queued as an :class:`Entry`. One worker thread takes the oldest
entry and, first-in first-out, the entries after it that the same pipeline call can take (the
same task and options: its ``key``) while their real tokens fit ``max_batch_tokens`` (and their
number ``max_batch_requests``), runs the pipeline once on the merged list and hands each entry
its own result. An idle worker starts a batch the moment an entry arrives, never waiting for
more; while it computes, the next batch fills. Entries whose client went away (their future
cancelled) are dropped before they are computed.

A batch that fails is split in halves, and each half computed again (a half that fails, split
again), so that only the inputs that fail get an error, for about 2 log2(n) more calls when one
input of n is bad, never one call per input. An error that means nothing more can be computed
(:class:`~albert.serve.errors.WorkerStopped`: the model's process is gone) is not retried: the
batch and every queued input fail with it at once, and so does every input submitted later
(:meth:`Batcher.stop`, which the server also calls when its drain runs out of time).

The pipelines compute every input on its own (packed, unpadded rows), so an input's result does
not depend on the batch it joined, to float rounding (``tests/serve/test_serve.py`` checks 1e-5).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from .errors import ServeError, WorkerStopped

logger = logging.getLogger(__name__)

#: ``compute(key, items) -> one result per item``: the pipeline call a batch is.
Compute = Callable[[Hashable, list[Any]], Sequence[Any]]
#: An entry's result, or the exception computing it raised.
Outcome = tuple[Any, BaseException | None]


@dataclass
class BatchStats:
    """What one batch was: its size, real tokens, compute time, and how long its entries waited."""

    inputs: int
    tokens: int
    compute_seconds: float
    queue_seconds: list[float]


@dataclass(eq=False)
class Entry:
    """One input in the queue; ``future`` gets its result (or the exception computing it raised)."""

    key: Hashable
    item: Any
    tokens: int
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)
    #: Set when its batch is taken: seconds waited, and the batch (for its compute time).
    queue_seconds: float = 0.0
    batch: BatchStats | None = None


class Batcher:
    """Queue inputs and compute them in merged batches on one worker thread.

    Args:
        compute: runs one batch (see :data:`Compute`).
        max_batch_tokens: the most real tokens a batch holds (an entry larger than that runs alone).
        max_batch_requests: the most entries a batch holds; None for no limit but the tokens.
        on_batch: called with each batch's :class:`BatchStats` after it is computed (metrics).
    """

    def __init__(
        self,
        compute: Compute,
        max_batch_tokens: int,
        max_batch_requests: int | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.compute = compute
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_requests = max_batch_requests
        self.on_batch = on_batch
        self._queue: deque[Entry] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._stopped: ServeError | None = None
        self._running: list[Entry] = []
        #: Inputs failed by :meth:`stop` (queued, or in the batch being computed) rather than computed.
        self.stopped_inputs = 0
        self._thread = threading.Thread(target=self._work, name="albert-batcher", daemon=True)

    # -- the callers' side ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the worker runs (it stops only after :meth:`close`, or on a bug)."""
        return self._thread.is_alive()

    @property
    def queued(self) -> int:
        """Entries waiting for a batch."""
        return len(self._queue)

    def submit(self, key: Hashable, items: Sequence[tuple[Any, int]]) -> list[Entry]:
        """Queue ``(item, real tokens)`` pairs for the pipeline call ``key``; their entries, in order.

        Raises:
            RuntimeError: the batcher was closed. ServeError: it was stopped (the error it was stopped with).
        """
        entries = [Entry(key=key, item=item, tokens=tokens) for item, tokens in items]
        with self._changed:
            if self._stopped is not None:
                raise copy.copy(self._stopped)
            if self._closed:
                # a bug, not a user's error: the service refuses new requests (503) before the lifespan closes it
                raise RuntimeError("the batcher is closed and takes no more inputs")
            self._queue.extend(entries)
            self._changed.notify()
        return entries

    def close(self, timeout: float | None = None) -> None:
        """Compute what is queued, then stop the worker (and wait for it up to ``timeout`` seconds)."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stop(self, error: ServeError) -> int:
        """Compute nothing more: fail every queued input, the batch being computed (its results,
        if they come, are dropped) and every input submitted later with ``error``.

        Returns:
            How many inputs this call failed (:attr:`stopped_inputs` counts them all).
        """
        with self._changed:
            if self._stopped is None:
                self._stopped = error
            pending = [*self._running, *self._queue]
            self._queue.clear()
            failed = sum(_settle(entry, None, copy.copy(error)) for entry in pending)
            self.stopped_inputs += failed
            self._changed.notify_all()
        return failed

    # -- the worker's side ----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if not self._queue:
                    return  # closed, and nothing left to compute
                batch = self._running = self._take_batch()
            if batch:
                self._run(batch)
            with self._changed:
                self._running = []

    def _take_batch(self) -> list[Entry]:
        """The oldest live entry, then, in queue order, the live entries of its key while they fit.

        An entry of the key that does not fit ends the batch (no later, smaller one overtakes it);
        entries of other keys stay queued, in order, for the batches after. Called with the lock.
        """
        batch: list[Entry] = []
        kept: deque[Entry] = deque()
        tokens = 0
        full = False
        now = time.perf_counter()
        while self._queue:
            entry = self._queue.popleft()
            if entry.future.cancelled():
                continue  # its client went away: drop it before it costs anything
            if full or (batch and entry.key != batch[0].key):
                kept.append(entry)
                continue
            fits = not batch or (
                tokens + entry.tokens <= self.max_batch_tokens
                and (self.max_batch_requests is None or len(batch) < self.max_batch_requests)
            )
            if not fits:
                full = True
                kept.append(entry)
                continue
            if not entry.future.set_running_or_notify_cancel():
                continue  # cancelled between the check and now
            entry.queue_seconds = now - entry.queued_at
            batch.append(entry)
            tokens += entry.tokens
        self._queue = kept
        return batch

    def _run(self, batch: list[Entry]) -> None:
        start = time.perf_counter()
        try:
            outcomes = self._outcomes(batch)
        except WorkerStopped as error:  # the model is gone: retrying would fail the same way
            self.stop(error)
            return
        stats = BatchStats(
            inputs=len(batch), tokens=sum(entry.tokens for entry in batch),
            compute_seconds=time.perf_counter() - start, queue_seconds=[entry.queue_seconds for entry in batch],
        )  # fmt: skip
        for entry, (result, failure) in zip(batch, outcomes):
            entry.batch = stats
            _settle(entry, result, failure)
        if self.on_batch is not None:
            self.on_batch(stats)

    def _compute(self, entries: list[Entry]) -> list[Outcome]:
        """One pipeline call on ``entries``: their results (or whatever it raised)."""
        results = list(self.compute(entries[0].key, [entry.item for entry in entries]))
        if len(results) != len(entries):  # pragma: no cover - a pipeline that lost inputs
            raise RuntimeError(  # a bug, not a user's error
                f"a batch of {len(entries)} inputs gave {len(results)} results"
            )
        return [(result, None) for result in results]

    def _outcomes(self, batch: list[Entry]) -> list[Outcome]:
        """The batch's outcomes; when it fails, its halves' (see the module's docstring).

        Raises:
            WorkerStopped: the model's process is gone (nothing is retried).
        """
        try:
            return self._compute(batch)
        except WorkerStopped:
            raise
        except Exception as error:  # noqa: BLE001 - one bad input must not fail the others
            if len(batch) == 1:
                return [(None, error)]
            logger.info("a batch of %d inputs failed (%s); computing its halves to find the inputs that fail",
                        len(batch), error)  # fmt: skip
            return self._halves(batch)

    def _halves(self, entries: list[Entry]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for half in (entries[: len(entries) // 2], entries[len(entries) // 2 :]):
            try:
                outcomes += self._compute(half)
            except WorkerStopped:
                raise
            except Exception as error:  # noqa: BLE001
                outcomes += [(None, error)] if len(half) == 1 else self._halves(half)
        return outcomes


def _settle(entry: Entry, result: Any, error: BaseException | None) -> bool:
    """Give ``entry`` its result or error, unless it has one already (stopped, or its client left);
    whether this did."""
    try:
        if error is None:
            entry.future.set_result(result)
        else:
            entry.future.set_exception(error)
    except InvalidStateError:
        return False
    return True
