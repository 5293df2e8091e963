"""How to fine-tune: :class:`FinetuneSettings` and the task names, without torch.

Kept apart from :mod:`.trainer` (the loop) and :mod:`.tasks` (which need torch) so that
``albert finetune --help`` takes its defaults from here without importing torch; re-exported
from both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ...errors import OptionError
from .readers import ReadOptions

TASK_NAMES = ("text-classification", "regression", "token-classification", "question-answering", "multiple-choice")


@dataclass
class FinetuneSettings:
    """How to fine-tune. ``batch_size`` counts the examples of one optimizer step (split into
    ``accumulation_steps`` micro-batches); ``eval_every`` and ``checkpoint_every`` count steps
    (None: once per epoch, and at every evaluation)."""

    task: str
    epochs: int = 3
    learning_rate: float | None = None
    batch_size: int = 32
    eval_batch_size: int = 64
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    accumulation_steps: int = 1
    layerwise_lr_decay: float = 1.0
    seed: int = 42
    metric: str | None = None
    patience: int | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    log_every: int = 10
    max_train_examples: int | None = None
    max_dev_examples: int | None = None
    doc_stride: int = 128
    max_question_length: int = 64
    max_answer_length: int = 30
    divergence_factor: float = 4.0
    read_options: ReadOptions = field(default_factory=ReadOptions)
    device: str = "auto"
    bf16: bool = True
    fast: bool = True
    threads: int | None = None
    progress: bool = True

    def validate(self) -> None:
        """Raise OptionError naming the first setting that cannot work."""
        if self.task not in TASK_NAMES:
            raise OptionError(f"unknown task {self.task!r}; choose one of: {', '.join(TASK_NAMES)}")
        for name in ("epochs", "batch_size", "eval_batch_size", "max_length", "accumulation_steps", "keep_checkpoints",
                     "log_every", "doc_stride", "max_question_length", "max_answer_length"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "patience", "max_train_examples", "max_dev_examples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1 (or unset), got {getattr(self, name)}")
        if self.batch_size % self.accumulation_steps:
            raise OptionError(
                f"batch_size {self.batch_size} must be divisible by accumulation_steps {self.accumulation_steps} "
                "(the batch is split into that many micro-batches)"
            )
        if not 0 <= self.warmup_ratio < 1:
            raise OptionError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.layerwise_lr_decay <= 1:
            raise OptionError(f"layerwise_lr_decay must be in (0, 1] (1 = off), got {self.layerwise_lr_decay}")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise OptionError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.divergence_factor <= 1:
            raise OptionError(f"divergence_factor must be above 1, got {self.divergence_factor}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
