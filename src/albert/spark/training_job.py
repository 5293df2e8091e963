"""albert's fine-tuning as one distributed job on Spark's ``TorchDistributor``.

The driver calls :func:`run_finetune`; ``TorchDistributor`` starts ``numProcesses`` processes
under ``torchrun`` (on the driver with ``local_mode``, else as one barrier task each on the
executors), and each calls :func:`finetune_process`: albert's own :func:`~albert.training.
finetuning.trainer.finetune`, which sees torchrun's environment and trains with DDP (gloo on
CPUs, NCCL on GPUs), each process on its part of every global batch. Both the Estimators
(:mod:`albert.spark.estimators`) and ``albert finetune --spark`` go through here.

A process that fails writes its error to ``<run>/failures/rank-N.json`` before it exits;
torchrun then stops the others, and the driver raises that error (the same AlbertError class,
with the worker's message), not TorchDistributor's page of logs.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import AlbertError, OptionError

logger = logging.getLogger("albert")

FAILURES_DIR = "failures"


class DistributedTrainingError(AlbertError, RuntimeError):
    """A process of a distributed fine-tuning failed with an error that is not albert's own
    (the message names its type and the process)."""


def run_finetune(
    model: str,
    train: str | os.PathLike[str],
    dev: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    settings: Any,
    *,
    num_processes: int = 1,
    use_gpu: bool = False,
    local_mode: bool = True,
    resume: bool = False,
) -> Any:
    """Fine-tune on ``num_processes`` processes under TorchDistributor; returns the
    ``FinetuneResult`` of the first process.

    ``train``/``dev`` are files (or Parquet folders) every process can read, and ``out`` a folder
    every process can reach (on a cluster: shared storage). With ``local_mode`` the processes run
    on the driver; otherwise on the executors, one barrier task each (``spark.task.cpus`` cores
    and, with ``use_gpu``, ``spark.task.resource.gpu.amount`` GPUs per task).

    Raises:
        OptionError: ``num_processes`` below 1.
        AlbertError: a process failed: its error, raised again here.
    """
    from pyspark.ml.torch.distributor import TorchDistributor

    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise OptionError(f"numProcesses must be a whole number of at least 1, got {num_processes!r}")
    run_dir = Path(out).resolve()
    failures = run_dir / FAILURES_DIR
    shutil.rmtree(failures, ignore_errors=True)  # a previous attempt's errors are not this one's
    settings = replace(settings, device="cuda" if use_gpu else "cpu")
    if settings.threads is None and not local_mode:  # each task gets the cores Spark gave it
        settings = replace(settings, threads=_task_cpus())
    distributor = TorchDistributor(num_processes=num_processes, local_mode=local_mode, use_gpu=use_gpu)
    logger.info("fine-tuning %s on %d process(es) %s", model, num_processes,
                "on the driver" if local_mode else "on the executors")
    try:
        return distributor.run(finetune_process, str(model), str(train), None if dev is None else str(dev),
                               str(run_dir), settings, resume)
    except RuntimeError as error:
        raised = read_failure(failures)
        if raised is None:
            raise
        raise raised from error


def finetune_process(model: str, train: str, dev: str | None, out: str, settings: Any, resume: bool) -> Any:
    """One process of the job (under torchrun): albert's fine-tuning, its error written down
    for the driver if it fails."""
    from ..training.finetuning.trainer import finetune

    try:
        return finetune(model, train, dev, out, settings, resume=resume)
    except BaseException as error:
        _write_failure(Path(out) / FAILURES_DIR, error)
        raise


def _write_failure(folder: Path, error: BaseException) -> None:
    rank = os.environ.get("RANK", "0")
    kind = type(error)
    record = {"rank": int(rank), "module": kind.__module__, "type": kind.__qualname__, "message": str(error)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rank-{rank}.json").write_text(json.dumps(record), encoding="utf-8")
    except OSError:  # the error itself may be a full disk: torchrun's log still has it
        pass


def read_failure(folder: Path) -> BaseException | None:
    """The error of the first failed process (lowest rank), as the class it was when that is an
    albert error, else a :class:`DistributedTrainingError` naming its type; None if none was written."""
    records = []
    for path in folder.glob("rank-*.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    if not records:
        return None
    # A process stopped because another failed reports a broken connection: the first cause is
    # an albert error where there is one.
    records.sort(key=lambda record: (not _is_albert_error(record), record.get("rank", 0)))
    record = records[0]
    kind = _albert_error_class(record)
    if kind is not None:
        try:
            return kind(record["message"])
        except Exception:  # an error class with another constructor: say what it was
            pass
    where = f"process {record.get('rank', '?')} of the fine-tuning failed"
    return DistributedTrainingError(f"{where} with {record.get('type', '?')}: {record.get('message', '')}")


def _albert_error_class(record: dict[str, Any]) -> type[BaseException] | None:
    module, name = str(record.get("module", "")), str(record.get("type", ""))
    if not module.startswith("albert.") or "." in name:
        return None
    try:
        kind = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return kind if isinstance(kind, type) and issubclass(kind, AlbertError) else None


def _is_albert_error(record: dict[str, Any]) -> bool:
    return _albert_error_class(record) is not None


def _task_cpus() -> int:
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    try:
        return max(1, int(session.conf.get("spark.task.cpus", "1") or 1)) if session is not None else 1
    except (ValueError, TypeError):
        return 1
