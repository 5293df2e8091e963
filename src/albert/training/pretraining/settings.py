"""How to pretrain: :class:`PretrainSettings`, without torch.

Kept apart from :mod:`.trainer` (the loop, which needs torch) so that ``albert pretrain --help``
takes its defaults from here without importing torch; re-exported from :mod:`.trainer`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import OptionError
from ..recipes import DEFAULT_RECIPE, get_recipe


@dataclass
class PretrainSettings:
    """How to train (the model's shape is the AlbertConfig's business).

    ``batch_size`` is the global batch: summed over ranks and accumulation steps, as in the paper
    (4096). Unset fields (None) come from the recipe: ``learning_rate``, ``max_grad_norm`` ...;
    ``warmup_steps`` defaults to the recipe's warmup share of ``steps`` (2.5%).
    """

    steps: int
    batch_size: int
    max_seq_length: int = 128
    recipe: str = DEFAULT_RECIPE
    optimizer: str | None = None
    learning_rate: float | None = None
    warmup_steps: int | None = None
    weight_decay: float | None = None
    eps: float | None = None
    max_grad_norm: float | None = None
    short_seq_prob: float | None = None
    masked_lm_prob: float | None = None
    max_predictions_per_seq: int | None = None
    accumulation_steps: int = 1
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    eval_batches: int = 16
    activation_checkpointing: bool = False
    fast: bool = False
    #: torch.compile the dense part of each layer (implies ``fast``); see albert.fast.compile.
    compile: bool = False
    device: str = "auto"
    bf16: bool = True
    num_threads: int | None = None
    prefetch_steps: int = 4
    progress: bool = True
    #: A model folder whose weights replace the random initialisation (continued pretraining).
    init_from: str | None = None

    def resolved(self) -> PretrainSettings:
        """A copy with every recipe default filled in and the values checked."""
        recipe = get_recipe(self.recipe)
        values = dataclasses.asdict(self)
        for name in ("optimizer", "learning_rate", "weight_decay", "eps", "max_grad_norm", "short_seq_prob",
                     "masked_lm_prob", "max_predictions_per_seq"):
            if values[name] is None:
                values[name] = getattr(recipe, name)
        if values["warmup_steps"] is None:
            values["warmup_steps"] = round(recipe.warmup_fraction * self.steps)
        settings = PretrainSettings(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise OptionError naming the first setting that cannot work."""
        for name in ("steps", "batch_size", "accumulation_steps", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.checkpoint_every % self.log_every:
            raise OptionError(
                f"checkpoint_every ({self.checkpoint_every}) must be a multiple of log_every ({self.log_every}), "
                "so that a resumed run logs the same windows as an uninterrupted one"
            )
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.steps:
            raise OptionError(f"warmup_steps must be between 0 and steps ({self.steps}), got {self.warmup_steps}")
