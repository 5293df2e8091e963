"""The one Trainer that pretraining and fine-tuning share: exact resume from its state, the
micro-batch weighting of its step, and the order of a step's duties in its loop."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from albert.training.loop import MetricsWindow, Reporter
from albert.training.trainer import Schedule, StepBatch, StepOutput, Trainer


class _Objective(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": nn.functional.mse_loss(self.model(x).squeeze(-1), y)}


def _trainer(seed: int = 0) -> Trainer:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))  # dropout draws from torch's generator
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return Trainer(model, _Objective(model), optimizer, scheduler, device=torch.device("cpu"), bf16=False,
                   max_grad_norm=1.0)


def _batch(step: int, parts: int = 2) -> StepBatch:
    generator = torch.Generator().manual_seed(step)
    x, y = torch.randn(6, 4, generator=generator), torch.randn(6, generator=generator)
    return StepBatch([{"x": x[i::parts], "y": y[i::parts]} for i in range(parts)], examples=6)


def _weights(trainer: Trainer) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in trainer.model.parameters()]


def test_a_run_resumed_from_its_state_dict_ends_with_the_same_weights_bit_for_bit():
    straight = _trainer()
    for step in range(4):
        straight.train_step(_batch(step))

    first = _trainer()
    for step in range(2):
        first.train_step(_batch(step))
    state = first.state_dict()
    torch.manual_seed(123)  # another process's generators: the state must put them back
    random.seed(5)
    np.random.seed(5)
    resumed = _trainer(seed=7)
    resumed.load_state_dict(state)
    for step in range(2, 4):
        resumed.train_step(_batch(step))
    assert all(torch.equal(a, b) for a, b in zip(_weights(straight), _weights(resumed)))


def test_equal_shares_divide_the_loss_and_weights_multiply_it():
    batch = _batch(0, parts=3)
    plain = _trainer()
    output = plain.train_step(batch)
    assert len(output.results) == 3 and output.learning_rate == 1e-2
    weighted = _trainer()
    weighted.train_step(StepBatch(batch.micro_batches, weights=[1 / 3] * 3))
    # the same step, up to the rounding of x / 3 against x * (1 / 3)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(_weights(plain), _weights(weighted)))
    heavy = _trainer()
    heavy.train_step(StepBatch(batch.micro_batches, weights=[1.0, 0.0, 0.0]))
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(_weights(plain), _weights(heavy)))


class _Hooks:
    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.stop_at, self.stopped = stop_at, False

    def measure(self, window: MetricsWindow, batch: StepBatch, output: StepOutput) -> None:
        window.add(loss=output.results[0]["loss"])

    def log(self, window: MetricsWindow, step: int, batch: StepBatch) -> str:
        self.calls.append(("log", step))
        assert window.steps >= 1
        return "status"

    def evaluate(self, step: int) -> None:
        self.calls.append(("evaluate", step))
        self.stopped = step == self.stop_at

    def checkpoint(self, step: int, batch: StepBatch) -> None:
        self.calls.append(("checkpoint", step))

    def should_stop(self) -> bool:
        return self.stopped


def _data() -> Iterator[StepBatch]:
    step = 0
    while True:
        yield _batch(step)
        step += 1


def test_the_loop_logs_evaluates_then_checkpoints_and_always_at_the_last_step():
    hooks = _Hooks()
    done = _trainer().fit(_data(), 0, Schedule(5, log_every=2, checkpoint_every=4, eval_every=3), hooks,
                          Reporter(False), "test")
    assert done == 5
    assert hooks.calls == [("log", 2), ("log", 3), ("evaluate", 3), ("log", 4), ("checkpoint", 4),
                           ("log", 5), ("evaluate", 5), ("checkpoint", 5)]


def test_an_early_stop_is_checkpointed_and_a_stopped_run_does_not_train_again():
    hooks = _Hooks(stop_at=2)
    trainer = _trainer()
    done = trainer.fit(_data(), 0, Schedule(8, log_every=1, checkpoint_every=4, eval_every=2), hooks,
                       Reporter(False), "test")
    assert done == 2 and hooks.calls[-2:] == [("evaluate", 2), ("checkpoint", 2)]
    before = _weights(trainer)
    assert trainer.fit(_data(), 2, Schedule(8, 1, 4, 2), hooks, Reporter(False), "test") == 2
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(trainer)))
