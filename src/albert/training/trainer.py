"""The one training loop that pretraining and fine-tuning both run, as torchtitan's Trainer.

Each caller feeds a :class:`Trainer` with an *objective* (a module: ``objective(**batch)`` returns
a dict of tensors with the ``loss`` to train) and a *data iterator* (one :class:`StepBatch` per
optimizer step), and says through :class:`Hooks` what to measure, log, evaluate and checkpoint.
The trainer owns what must be the same for both: the train step (micro-batches with gradient
accumulation, bf16 autocast, clipping, optimizer and scheduler), its state for exact resume
(model, optimizer, scheduler, random generators), DistributedDataParallel (gloo on CPU) and the
order of a step's duties: measure, log (which refuses a non-finite loss before anything is
saved), evaluate, checkpoint, stop.

Nothing here draws random numbers: the random generators are consumed only by the objective's
forward (dropout), so a run's weights depend on the seed and the data alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .checkpoints import capture_rng_state, restore_rng_state
from .loop import MetricsWindow, Reporter, autocast_for, logger

Batch = dict[str, torch.Tensor]
#: The model a :class:`Trainer` updates (what its callers get back from ``trainer.model``).
ModelT = TypeVar("ModelT", bound=nn.Module)


@dataclass
class Distributed:
    """Rank and world size from torchrun's environment (one process without it)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> Distributed:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world_size)

    def start(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def stop(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class StepBatch:
    """What one optimizer step trains on: its micro-batches (on the host; the trainer moves them)."""

    micro_batches: list[Batch]
    #: Each micro-batch's share of the step's loss; None: equal shares (the loss divided by their number).
    weights: list[float] | None = None
    #: The examples the step holds (for a throughput), and where the data stands after it (for a checkpoint).
    examples: int = 0
    position: Any = None


@dataclass
class StepOutput:
    """What one optimizer step gives back: the objective's outputs per micro-batch, the gradient
    norm before clipping (a tensor: no synchronisation per step) and the learning rate it used."""

    results: list[dict[str, torch.Tensor]]
    grad_norm: torch.Tensor
    learning_rate: float


@dataclass(frozen=True)
class Schedule:
    """When a run logs, evaluates and checkpoints (in optimizer steps); every one of them also
    happens at the last step, and a step that evaluates or checkpoints also logs."""

    total_steps: int
    log_every: int
    checkpoint_every: int
    eval_every: int | None = None  # None: no evaluation of its own (pretraining evaluates at checkpoints)


class Hooks(Protocol):
    """What pretraining or fine-tuning does around the trainer's steps (their metrics, their files)."""

    def measure(self, window: MetricsWindow, batch: StepBatch, output: StepOutput) -> None:
        """Add one step's values to the logging window."""

    def log(self, window: MetricsWindow, step: int, batch: StepBatch) -> str:
        """Make, check (raising on a non-finite or diverged loss) and write the record of the
        window ending at ``step``; return its status line."""

    def evaluate(self, step: int) -> None:
        """Evaluate at ``step`` (only with ``Schedule.eval_every``)."""

    def checkpoint(self, step: int, batch: StepBatch) -> None:
        """Save what resumes the run after ``step`` (called on every rank: it may gather)."""

    def should_stop(self) -> bool:
        """True when the run is over before its last step (early stopping)."""


class Trainer(Generic[ModelT]):
    """A model, its objective and what updates it: the train step, its state and the loop.

    ``distributed`` (pretraining's processes): the objective is wrapped in DistributedDataParallel
    and the random generators of every rank are saved; without it one process's are.
    """

    def __init__(
        self,
        model: ModelT,
        objective: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        *,
        device: torch.device,
        bf16: bool,
        max_grad_norm: float,
        distributed: Distributed | None = None,
    ) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.device, self.bf16, self.max_grad_norm = device, bf16, max_grad_norm
        self.distributed = distributed
        self.parallel = distributed is not None and distributed.enabled
        if self.parallel:
            objective = nn.parallel.DistributedDataParallel(
                objective, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.objective = objective

    # -- the step ---------------------------------------------------------------------------------

    def train_step(self, batch: StepBatch) -> StepOutput:
        """Forward and backward over the micro-batches (gradients averaged across processes once,
        on the last one), clip, update."""
        results = []
        count = len(batch.micro_batches)
        for index, micro_batch in enumerate(batch.micro_batches):
            micro_batch = {key: value.to(self.device, non_blocking=True) for key, value in micro_batch.items()}
            last = index == count - 1
            sync = contextlib.nullcontext() if last or not self.parallel else self._no_sync()
            with sync:
                with autocast_for(self.device, self.bf16):
                    result = self.objective(**micro_batch)
                loss = result["loss"] / count if batch.weights is None else result["loss"] * batch.weights[index]
                loss.backward()
            results.append(result)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        learning_rate = float(self.scheduler.get_last_lr()[0])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepOutput(results, grad_norm, learning_rate)

    def _no_sync(self) -> contextlib.AbstractContextManager:
        """DDP's context that keeps a micro-batch's gradients local (summed, not yet averaged)."""
        assert isinstance(self.objective, nn.parallel.DistributedDataParallel)
        return self.objective.no_sync()

    # -- state for exact resume -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, scheduler and random generators (every rank's, in rank order, with
        ``distributed``: a collective, so every rank calls it)."""
        rng: Any = capture_rng_state()
        if self.distributed is not None:
            rng = self.distributed.gather(rng)
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": rng}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`state_dict` saved; generators saved by another number of processes
        are left as they are, with a warning (training goes on, not bit for bit)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        if isinstance(rng, dict):  # one process's generators
            restore_rng_state(rng)
            return
        distributed = self.distributed or Distributed()
        if len(rng) == distributed.world_size:
            restore_rng_state(rng[distributed.rank])
        elif distributed.is_main:
            logger.warning(
                f"the checkpoint was written by {len(rng)} processes, this run has "
                f"{distributed.world_size}; training continues, but not bit-for-bit as the original run"
            )

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self, data: Iterator[StepBatch], start_step: int, schedule: Schedule, hooks: Hooks,
            reporter: Reporter, description: str) -> int:
        """Train from ``start_step`` to ``schedule.total_steps`` (or until ``hooks`` stop it);
        returns the number of steps done."""
        if hooks.should_stop():
            return start_step
        self.model.train()
        window = MetricsWindow(self.device)
        done = start_step
        with reporter.progress(description, schedule.total_steps, start_step) as bar:
            for step in range(start_step, schedule.total_steps):
                batch = next(data)
                hooks.measure(window, batch, self.train_step(batch))
                done = step + 1
                last = done == schedule.total_steps
                evaluation_due = schedule.eval_every is not None and (done % schedule.eval_every == 0 or last)
                checkpoint_due = done % schedule.checkpoint_every == 0 or last
                if done % schedule.log_every == 0 or last or evaluation_due or checkpoint_due:
                    status = hooks.log(window, done, batch)
                    window.reset()
                    bar.step(done, status)
                else:
                    bar.step(done)
                if evaluation_due:
                    hooks.evaluate(done)
                if checkpoint_due or hooks.should_stop():
                    hooks.checkpoint(done, batch)
                    if self.distributed is not None:
                        self.distributed.barrier()
                if evaluation_due or checkpoint_due:
                    window.restart_clock()  # evaluating and saving are not training throughput
                if hooks.should_stop():
                    break
        return done
