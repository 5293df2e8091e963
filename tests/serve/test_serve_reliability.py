"""``albert serve``'s failure handling, in process (no server, no model): how the batcher retries a
failed batch (halves, never one call per input), how it stops when the model's process is gone
(once, for the batch and the whole queue) or when the drain runs out of time, and the settings
that bound the drain. The same behaviours through real servers are in ``tests/serve/test_serve.py``.
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("fastapi", reason="albert serve needs the serve extra: pip install -e '.[serve]'")

from albert.errors import OptionError  # noqa: E402
from albert.serve.batcher import Batcher  # noqa: E402
from albert.serve.errors import ShuttingDown, WorkerStopped  # noqa: E402
from albert.serve.settings import ServeSettings  # noqa: E402


class Model:
    """A stand-in for the model's process: doubles its inputs, raises on the ones in ``bad``, and
    counts its calls."""

    def __init__(self, bad: set[int] = frozenset()) -> None:
        self.bad = bad
        self.calls: list[list[int]] = []

    def __call__(self, key: object, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        poisoned = self.bad.intersection(items)
        if poisoned:
            raise ValueError(f"input {min(poisoned)} is bad")
        return [2 * item for item in items]


def run(batcher: Batcher) -> None:
    """Compute everything queued, then stop the batcher's thread."""
    batcher.start()
    batcher.close(timeout=10)
    assert not batcher.alive


def test_a_failed_batch_is_halved_until_the_bad_input_is_alone():
    """One bad input in 64: 13 calls (the batch, then two halves per level), not 65 (each alone)."""
    model = Model(bad={37})
    batcher = Batcher(model, max_batch_tokens=1000)
    entries = batcher.submit("embed", [(item, 1) for item in range(64)])
    run(batcher)
    for item, entry in enumerate(entries):
        if item == 37:
            with pytest.raises(ValueError, match="input 37 is bad"):
                entry.future.result()
        else:
            assert entry.future.result() == 2 * item
    assert len(model.calls) == 1 + 2 * 6
    assert sum(len(items) for items in model.calls) == 64 + 64 + 32 + 16 + 8 + 4 + 2


def test_several_bad_inputs_are_each_found_and_only_they_fail():
    model = Model(bad={0, 5, 6, 63})
    batcher = Batcher(model, max_batch_tokens=1000)
    entries = batcher.submit("embed", [(item, 1) for item in range(64)])
    run(batcher)
    failed = {item for item, entry in enumerate(entries) if entry.future.exception() is not None}
    assert failed == {0, 5, 6, 63}
    assert len(model.calls) < 64


def test_a_stopped_model_fails_the_batch_and_the_queue_at_once_without_retrying():
    """The model's process is gone: one call, and every input queued (in ten batches' worth) fails
    with that error; so does any input submitted later."""
    calls = []

    def gone(key: object, items: list[int]) -> list[int]:
        calls.append(list(items))
        raise WorkerStopped("the model process stopped while computing a batch (killed by signal 9)")

    batcher = Batcher(gone, max_batch_tokens=1000, max_batch_requests=10)
    entries = [entry for start in range(0, 100, 4) for entry in batcher.submit("embed", [(n, 1) for n in range(4)])]
    run(batcher)
    assert len(calls) == 1 and len(calls[0]) == 10
    for entry in entries:
        with pytest.raises(WorkerStopped, match="killed by signal 9"):
            entry.future.result()
    assert batcher.stopped_inputs == 100
    with pytest.raises(WorkerStopped):
        batcher.submit("embed", [(1, 1)])


def test_stopping_fails_the_batch_in_flight_and_the_queue_and_drops_the_late_results():
    """The drain ran out of time while a batch computes: it and everything queued fail now; the
    batch's results, when they come, are dropped; closing does not wait for them."""
    started, release = threading.Event(), threading.Event()

    def slow(key: object, items: list[int]) -> list[int]:
        started.set()
        release.wait(10)
        return items

    batcher = Batcher(slow, max_batch_tokens=1000, max_batch_requests=2)
    entries = batcher.submit("embed", [(n, 1) for n in range(6)])
    batcher.start()
    assert started.wait(10)
    refusal = ShuttingDown("the server is shutting down and its --graceful-timeout of 1 s has passed")
    assert batcher.stop(refusal) == 6
    for entry in entries:
        with pytest.raises(ShuttingDown, match="graceful-timeout"):
            entry.future.result(timeout=1)
    release.set()
    batcher.close(timeout=10)
    assert not batcher.alive and batcher.stopped_inputs == 6


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
def test_a_graceful_timeout_below_zero_is_refused(seconds):
    with pytest.raises(OptionError, match="--graceful-timeout must be 0 seconds or more"):
        ServeSettings(graceful_timeout=seconds).check(128)


def test_the_default_graceful_timeout_ends_before_a_supervisor_s_30_s():
    assert 0 < ServeSettings().graceful_timeout < 30
