"""Running the service under uvicorn, with a graceful end: SIGTERM drains, then the server exits.

On the first SIGTERM (or Ctrl-C) the service stops taking work (503 for new requests and for
``/health``, so a load balancer moves away) but keeps listening, finishes the requests it has
accepted, and only then hands over to uvicorn's own shutdown (close the socket, let the last
responses go out, run the lifespan's end, which stops the batcher). The drain has a deadline,
``--graceful-timeout`` (25 s by default, under the 30 s that Kubernetes and most supervisors give
before SIGKILL): what has not been answered by then gets 503 ``shutting_down``, and the model's
process is stopped without waiting for the batch it computes. A second signal is uvicorn's: stop
(twice Ctrl-C: at once).

When the model's process dies, the server says so in one log line (how it stopped, and how many
inputs were answered 503 because of it), answers everything it holds with 503, and exits with
status 1 for its supervisor to start it again.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn

from .app import create_app
from .batcher import Batcher
from .errors import ShuttingDown, WorkerStopped
from .limits import Admission
from .served_model import ServedModel
from .settings import ServeSettings
from .worker import freeze_startup_objects

logger = logging.getLogger(__name__)

#: Seconds the model's process is given to exit once the drain ran out of time (it is killed then).
ABANDONED_EXIT_TIMEOUT = 1.0
#: Seconds uvicorn waits, once the drain is over, for connections still open (a client sending a
#: body slowly) before it closes them.
CONNECTIONS_TIMEOUT = 5


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that its first exit signal drains the service before it stops, for
    at most ``graceful_timeout`` seconds."""

    def __init__(self, config: uvicorn.Config, admission: Admission, batcher: Batcher, graceful_timeout: float) -> None:
        super().__init__(config)
        self.admission = admission
        self.batcher = batcher
        self.graceful_timeout = graceful_timeout
        #: How the model's process stopped, when it did while serving (the server then stops too).
        self.model_stopped: str | None = None
        #: Whether the drain ran out of time (what was left was refused).
        self.abandoned = False

    def stop_if_the_model_stops(self, served: ServedModel) -> None:
        """Watch the model's process; when it dies, fail what it held (503), log it once, and stop."""

        def watch() -> None:
            how = served.wait_stopped()  # None: closed on purpose, or no process of its own
            if how is None or self.should_exit:
                return
            self.model_stopped = how
            self.batcher.stop(WorkerStopped(
                f"the model's process stopped ({how}); the server cannot compute any more and is stopping: "
                "send the request again once it has restarted (or to another replica)"
            ))  # fmt: skip
            logger.error(
                "the model's process stopped (%s): %d input(s) queued or computing were answered 503 "
                "(worker_stopped); the server stops now, for its supervisor to start it again",
                how, self.batcher.stopped_inputs,
            )  # fmt: skip
            self.handle_exit(signal.SIGTERM, None)

        threading.Thread(target=watch, name="albert-model-watch", daemon=True).start()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.admission.draining:  # a second signal: uvicorn's way (stop; twice Ctrl-C: at once)
            super().handle_exit(sig, frame)
            return
        self.admission.drain()
        logger.info("draining: %d request(s) in flight, no new ones accepted (at most %g s: --graceful-timeout)",
                    self.admission.in_flight, self.graceful_timeout)  # fmt: skip
        threading.Thread(target=self._exit_when_drained, name="albert-drain", daemon=True).start()

    def _exit_when_drained(self) -> None:
        if self.admission.wait_drained(self.graceful_timeout):
            logger.info("every accepted request is answered; shutting down")
        else:
            self.abandoned = True
            refused = self.batcher.stop(ShuttingDown(
                f"the server is shutting down and its --graceful-timeout of {self.graceful_timeout:g} s has passed "
                "before this request was computed; send it again to another replica, or once this one has restarted"
            ))  # fmt: skip
            logger.warning(
                "--graceful-timeout of %g s passed with %d request(s) in flight: %d input(s) not yet computed were "
                "answered 503 (shutting_down); shutting down", self.graceful_timeout, self.admission.in_flight, refused,
            )  # fmt: skip
            self.admission.wait_drained(CONNECTIONS_TIMEOUT)  # their 503s go out (a /tokenize may finish)
        self.should_exit = True


def serve(settings: ServeSettings) -> None:
    """Load the model, then serve it until SIGTERM (or Ctrl-C) has drained the accepted requests
    (or ``settings.graceful_timeout`` has passed).

    Raises:
        ModelNotFoundError: no such model. UntrainedHeadError: the model's task head is not in its
            weights (and ``settings.allow_untrained_head`` is off). OptionError: settings that cannot
            work. ImportError: ``onnx`` without the onnx extra. WorkerStopped: the model's process
            died (the server answered what it held with 503, then stopped).
    """
    show_logs()
    served = ServedModel(settings.model, device=settings.device, dtype=settings.dtype, fast=settings.fast,
                         onnx=settings.onnx, in_process=settings.in_process,
                         allow_untrained_head=settings.allow_untrained_head, precision=settings.precision,
                         threads=settings.threads)  # fmt: skip
    server: DrainingServer | None = None
    try:
        app = create_app(served, settings)
        logger.info("serving %s (%s) on %s, dtype %s, precision %s, %d torch thread%s", served.name, ", ".join(served.tasks),
                    served.facts.device, served.facts.dtype, served.facts.precision, served.facts.threads,
                    "s" * (served.facts.threads != 1))  # fmt: skip
        # No access log: a line per request costs the event loop time under load; /metrics counts them.
        config = uvicorn.Config(app, host=settings.host, port=settings.port, access_log=False, log_config=None,
                                lifespan="on", timeout_graceful_shutdown=CONNECTIONS_TIMEOUT)  # fmt: skip
        service = app.state.service
        server = DrainingServer(config, service.admission, service.batcher, settings.graceful_timeout)
        server.stop_if_the_model_stops(served)
        freeze_startup_objects()
        server.run()
    finally:
        # After the drain the model's process is idle and exits at once; after a drain that ran out
        # of time it may be computing a batch nobody waits for.
        if server is not None and server.abandoned:
            served.close(ABANDONED_EXIT_TIMEOUT)
        else:
            served.close()
    if server.model_stopped is not None:
        raise WorkerStopped(f"the model's process stopped ({server.model_stopped}); start the server again")


def show_logs() -> None:
    """uvicorn's log lines on stderr, and albert's (model loading, draining) in the same format.

    Handlers are added to those loggers only, not through ``logging.config.dictConfig``, which
    closes every handler of the process (a host's, when the command runs inside another program).
    """
    from uvicorn.logging import DefaultFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s", use_colors=None))
    for name in ("uvicorn", "albert"):
        target = logging.getLogger(name)
        target.handlers[:] = [handler]
        target.setLevel(logging.INFO)
        target.propagate = False
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
