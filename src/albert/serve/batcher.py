"""The token-budget dynamic batcher: many requests' inputs, one pipeline call.

Every input of every request is queued as an :class:`Entry`. One worker thread takes the oldest
entry and, first-in first-out, the entries after it that the same pipeline call can take (the
same task and options: its ``key``) while their real tokens fit ``max_batch_tokens`` (and their
number ``max_batch_requests``), runs the pipeline once on the merged list and hands each entry
its own result. An idle worker starts a batch the moment an entry arrives, never waiting for
more; while it computes, the next batch fills. Entries whose client went away (their future
cancelled) are dropped before they are computed.

The pipelines compute every input on its own (packed, unpadded rows), so an input's result does
not depend on the batch it joined, to float rounding (``tests/test_serve.py`` checks 1e-5).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

#: ``compute(key, items) -> one result per item``: the pipeline call a batch is.
Compute = Callable[[Hashable, list[Any]], Sequence[Any]]


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
            RuntimeError: the batcher was closed.
        """
        entries = [Entry(key=key, item=item, tokens=tokens) for item, tokens in items]
        with self._changed:
            if self._closed:
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

    # -- the worker's side ----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if not self._queue:
                    return  # closed, and nothing left to compute
                batch = self._take_batch()
            if batch:
                self._run(batch)

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
            results = list(self.compute(batch[0].key, [entry.item for entry in batch]))
            if len(results) != len(batch):  # pragma: no cover - a pipeline that lost inputs is a bug
                raise RuntimeError(f"a batch of {len(batch)} inputs gave {len(results)} results")
            outcomes: list[tuple[Any, BaseException | None]] = [(result, None) for result in results]
        except Exception as error:  # noqa: BLE001 - one bad input must not fail the others
            outcomes = self._one_by_one(batch, error)
        stats = BatchStats(
            inputs=len(batch), tokens=sum(entry.tokens for entry in batch),
            compute_seconds=time.perf_counter() - start, queue_seconds=[entry.queue_seconds for entry in batch],
        )  # fmt: skip
        for entry, (result, error) in zip(batch, outcomes):
            entry.batch = stats
            if error is None:
                entry.future.set_result(result)
            else:
                entry.future.set_exception(error)
        if self.on_batch is not None:
            self.on_batch(stats)

    def _one_by_one(self, batch: list[Entry], error: Exception) -> list[tuple[Any, BaseException | None]]:
        """After a failed batch, each entry alone: only the inputs that fail get an error."""
        if len(batch) == 1:
            return [(None, error)]
        logger.info("a batch of %d inputs failed (%s); computing them one by one", len(batch), error)
        outcomes: list[tuple[Any, BaseException | None]] = []
        for entry in batch:
            try:
                (result,) = self.compute(entry.key, [entry.item])
                outcomes.append((result, None))
            except Exception as alone:  # noqa: BLE001
                outcomes.append((None, alone))
        return outcomes
