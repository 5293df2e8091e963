"""Running the service under uvicorn, with a graceful end: SIGTERM drains, then the server exits.

On the first SIGTERM (or Ctrl-C) the service stops taking work (503 for new requests and for
``/health``, so a load balancer moves away) but keeps listening, finishes every request it has
accepted, and only then hands over to uvicorn's own shutdown (close the socket, let the last
responses go out, run the lifespan's end, which stops the batcher). A second signal is
uvicorn's: stop (twice Ctrl-C: at once).
"""

from __future__ import annotations

import copy
import logging
import logging.config
import signal
import threading
from types import FrameType

import uvicorn
import uvicorn.config

from .app import create_app
from .errors import WorkerStopped
from .limits import Admission
from .served_model import ServedModel
from .settings import ServeSettings
from .worker import freeze_startup_objects

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that its first exit signal drains the service before it stops."""

    def __init__(self, config: uvicorn.Config, admission: Admission) -> None:
        super().__init__(config)
        self.admission = admission
        #: How the model's process stopped, when it did while serving (the server then stops too).
        self.model_stopped: str | None = None

    def stop_if_the_model_stops(self, served: ServedModel) -> None:
        """Watch the model's process; when it dies, drain (requests get 503) and stop the server."""

        def watch() -> None:
            how = served.wait_stopped()  # None: closed on purpose, or no process of its own
            if how is not None and not self.should_exit:
                self.model_stopped = how
                logger.error("the model's process stopped (%s): answering what is held with 503, then exiting", how)
                self.handle_exit(signal.SIGTERM, None)

        threading.Thread(target=watch, name="albert-model-watch", daemon=True).start()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.admission.draining:  # a second signal: uvicorn's way (stop; twice Ctrl-C: at once)
            super().handle_exit(sig, frame)
            return
        self.admission.drain()
        logger.info("draining: %d request(s) in flight, no new ones accepted", self.admission.in_flight)
        threading.Thread(target=self._exit_when_drained, name="albert-drain", daemon=True).start()

    def _exit_when_drained(self) -> None:
        self.admission.wait_drained()
        logger.info("every accepted request is answered; shutting down")
        self.should_exit = True


def serve(settings: ServeSettings) -> None:
    """Load the model, then serve it until SIGTERM (or Ctrl-C) has drained the accepted requests.

    Raises:
        ModelNotFoundError: no such model. ValueError: settings that cannot work.
        ImportError: ``onnx`` without the onnx extra. WorkerStopped: the model's process died
            (the server answered what it held with 503, then stopped).
    """
    show_logs()
    served = ServedModel(settings.model, device=settings.device, dtype=settings.dtype, fast=settings.fast,
                         onnx=settings.onnx, in_process=settings.in_process)  # fmt: skip
    try:
        app = create_app(served, settings)
        logger.info("serving %s (%s) on %s, dtype %s", served.name, ", ".join(served.tasks), served.facts.device, served.facts.dtype)
        # No access log: a line per request costs the event loop time under load; /metrics counts them.
        config = uvicorn.Config(app, host=settings.host, port=settings.port, access_log=False, log_config=None,
                                lifespan="on")  # fmt: skip
        server = DrainingServer(config, app.state.service.admission)
        server.stop_if_the_model_stops(served)
        freeze_startup_objects()
        server.run()
    finally:
        served.close()  # after the drain: the model's process finishes what it has, then exits
    if server.model_stopped is not None:
        raise WorkerStopped(f"the model's process stopped ({server.model_stopped}); start the server again")


def show_logs() -> None:
    """uvicorn's log lines on stderr, and albert's (model loading, draining) in the same format."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["albert"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    logging.config.dictConfig(config)
