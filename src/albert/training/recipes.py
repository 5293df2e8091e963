"""The pretraining recipes: the paper's hyper-parameters as a named default, without torch.

Kept apart from :mod:`albert.training.optim` (which builds the optimizers and needs torch) so that
``albert pretrain --help`` can show the recipe's values without importing torch. See
:mod:`albert.training.optim` for where each value comes from (paper section 4.1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import OptionError

OPTIMIZERS = ("lamb", "adamw")


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a pretraining run that are not the model's shape."""

    optimizer: str = "lamb"
    learning_rate: float = 0.00176
    batch_size: int = 4096
    steps: int = 125_000
    warmup_steps: int = 3_125
    weight_decay: float = 0.01
    eps: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    max_seq_length: int = 512
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20

    @property
    def warmup_fraction(self) -> float:
        """Warmup as a share of the run (2.5% in the paper), to scale it to shorter runs."""
        return self.warmup_steps / self.steps

    def to_dict(self) -> dict:
        return asdict(self)


#: The named recipes; ``albert pretrain --recipe NAME`` takes its defaults from one.
RECIPES: dict[str, Recipe] = {"albert-paper": Recipe()}
DEFAULT_RECIPE = "albert-paper"


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        OptionError: no recipe of that name (the message names the known ones).
    """
    try:
        return RECIPES[name]
    except KeyError:
        raise OptionError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None
