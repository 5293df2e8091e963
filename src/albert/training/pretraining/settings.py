"""How to pretrain: :class:`PretrainSettings`, without torch.

Kept apart from :mod:`.trainer` (the loop, which needs torch) so that ``albert pretrain --help``
takes its defaults from here without importing torch; re-exported from :mod:`.trainer`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from ...errors import OptionError
from ...options import check_fields, option
from ..recipes import DEFAULT_RECIPE, OPTIMIZERS, get_recipe

#: The default recipe, whose values the help shows for the settings it fills in.
_RECIPE = get_recipe(DEFAULT_RECIPE)

_T = TypeVar("_T")


@dataclass(frozen=True)
class PretrainSettings:
    """How to train (the model's shape is the AlbertConfig's business). Each field is declared
    once: ``albert pretrain`` derives its options from here (:mod:`albert.options`).

    ``batch_size`` is the global batch: summed over ranks and accumulation steps, as in the paper
    (4096). Unset fields (None) come from the recipe: ``learning_rate``, ``max_grad_norm`` ...;
    ``warmup_steps`` defaults to the recipe's warmup share of ``steps`` (2.5%).

    Raises:
        OptionError, OptionTypeError: a setting that cannot work, named with its value.
    """

    steps: int = option(help="Optimizer steps.", at_least=1)
    batch_size: int = option(help="Global batch (all processes and accumulation steps).", at_least=1)
    max_seq_length: int = option(128, flag="--seq-len", help="Maximum sequence length.")
    recipe: str = option(DEFAULT_RECIPE, help="Named defaults for everything not given.")
    optimizer: Literal[OPTIMIZERS] | None = option(  # type: ignore[valid-type]
        None, help=f"{' or '.join(OPTIMIZERS)} (recipe: {_RECIPE.optimizer})."
    )
    learning_rate: float | None = option(None, flag="--lr", help=f"Peak learning rate (recipe: {_RECIPE.learning_rate}).")
    warmup_steps: int | None = option(None, help=f"Linear warmup (recipe: {_RECIPE.warmup_fraction:.1%} of steps).")
    weight_decay: float | None = option(None, help=f"Decoupled weight decay (recipe: {_RECIPE.weight_decay}).")
    eps: float | None = option(None, cli=False)
    max_grad_norm: float | None = option(None, help=f"Gradient clipping (recipe: {_RECIPE.max_grad_norm}).")
    short_seq_prob: float | None = option(None, help=f"Share of shorter pairs (recipe: {_RECIPE.short_seq_prob}).")
    masked_lm_prob: float | None = option(None, cli=False)
    max_predictions_per_seq: int | None = option(
        None, flag="--max-predictions",
        help=f"Masked tokens per sequence at most (recipe: {_RECIPE.max_predictions_per_seq}).",
    )
    accumulation_steps: int = option(1, help="Micro-batches per optimizer step.", at_least=1)
    seed: int = option(0, help="Seed of the initialisation, the pairs and the masks.")
    checkpoint_every: int = option(1000, help="Steps between checkpoints.", at_least=1)
    keep_checkpoints: int = option(3, help="Checkpoints kept (the last ones).", at_least=1)
    log_every: int = option(10, help="Steps between metrics lines.", at_least=1)
    eval_batches: int = option(16, help="Held-out batches evaluated at each checkpoint.")
    activation_checkpointing: bool = option(
        False, help="Recompute activations in backward: less memory, ~30% slower."
    )
    fast: bool = option(
        False, help="The packed (unpadded) encoder, attn_implementation='packed' (same weights and checkpoints)."
    )
    #: torch.compile the dense part of each layer (implies ``fast``); see albert.fast.compile.
    compile: bool = option(False, help="Also torch.compile each layer's dense part (implies --fast; pays on a GPU).")
    device: str = option("auto", help="cpu, cuda, cuda:N, mps or auto.")
    bf16: bool = option(True, flag="--bf16/--no-bf16", help="bf16 autocast on GPU.")
    num_threads: int | None = option(
        None, flag="--threads", help="CPU threads per process (default: cores / processes)."
    )
    prefetch_steps: int = option(4, cli=False)
    progress: bool = option(True, flag="--progress/--no-progress", help="Progress bar on a terminal.")
    #: A model folder whose weights replace the random initialisation (continued pretraining).
    init_from: str | None = option(
        None, cli_type=Path | None,
        help="Start from this model folder's weights (continued pretraining; a fresh schedule).",
    )

    def __post_init__(self) -> None:
        check_fields(self)
        self.validate()

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
        """Raise OptionError naming the first setting that cannot work (each field's own bounds
        are checked by :func:`~albert.options.check_fields`; here, how they go together)."""
        if self.checkpoint_every % self.log_every:
            raise OptionError(
                f"checkpoint_every ({self.checkpoint_every}) must be a multiple of log_every ({self.log_every}), "
                "so that a resumed run logs the same windows as an uninterrupted one"
            )
        if self.warmup_steps is not None and not 0 <= self.warmup_steps <= self.steps:
            raise OptionError(f"warmup_steps must be between 0 and steps ({self.steps}), got {self.warmup_steps}")


def filled(value: _T | None, name: str) -> _T:
    """A setting the recipe fills in (``learning_rate``, ``max_grad_norm`` ...), read from
    settings that went through :meth:`PretrainSettings.resolved`.

    Raises:
        OptionError: the setting is still None (the settings were not resolved).
    """
    if value is None:
        raise OptionError(f"the setting {name} is unset: resolve the settings first (PretrainSettings.resolved() "
                          "fills it in from the recipe)")
    return value
