"""How to fine-tune: :class:`FinetuneSettings` and the task names, without torch.

Kept apart from :mod:`.trainer` (the loop) and :mod:`.tasks` (which need torch) so that
``albert finetune --help`` takes its defaults from here without importing torch; re-exported
from both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ...errors import OptionError
from ...options import check_fields, option
from .readers import ReadOptions

TASK_NAMES = ("text-classification", "regression", "token-classification", "question-answering", "multiple-choice",
              "sentence-embeddings")
#: The poolings a sentence-embedding model is trained with (the embeddings pipeline's names).
POOLINGS = ("mean", "cls", "max")


@dataclass(frozen=True)
class FinetuneSettings:
    """How to fine-tune. ``batch_size`` counts the examples of one optimizer step (split into
    ``accumulation_steps`` micro-batches); ``eval_every`` and ``checkpoint_every`` count steps
    (None: once per epoch, and at every evaluation). Each field is declared once: ``albert
    finetune`` derives its options from here (:mod:`albert.options`).

    Raises:
        OptionError, OptionTypeError: a setting that cannot work, named with its value.
    """

    task: Literal[TASK_NAMES] = option(help="What the model learns to do.")  # type: ignore[valid-type]
    epochs: int = option(3, help="Passes over the training data.", at_least=1)
    learning_rate: float | None = option(
        None, flag="--lr",
        help="Peak learning rate (default by model width: 1e-4 small, 3e-5 base, 2e-5 large, 1e-5 xlarge+).",
    )
    batch_size: int = option(32, help="Examples per optimizer step.", at_least=1)
    eval_batch_size: int = option(64, help="Examples per batch when evaluating.", at_least=1)
    max_length: int = option(128, help="Longest input in pieces (longer ones are cut or windowed).", at_least=1)
    warmup_ratio: float = option(0.1, help="Share of the steps with a rising learning rate.")
    weight_decay: float = option(0.01, help="Decoupled weight decay (not on LayerNorm/biases).")
    max_grad_norm: float = option(1.0, help="Gradient clipping norm.")
    accumulation_steps: int = option(1, help="Micro-batches per optimizer step.", at_least=1)
    layerwise_lr_decay: float = option(1.0, help="Scale the lr by this per level below the head (1 = off; try 0.9).")
    dropout: float | None = option(
        None, help="Dropout of the encoder's hidden states and attention while training (default: the model's own; "
        "0 in ALBERT v2 and albert-small-en)."
    )
    seed: int = option(42, help="Seed of the head's initialisation, the data order and dropout.")
    metric: str | None = option(None, help="Dev metric that picks the best model (default: accuracy, pearson, or f1).")
    patience: int | None = option(
        None, help="Stop after this many evaluations without improvement (default: never).", at_least=1
    )
    eval_every: int | None = option(None, help="Steps between evaluations (default: each epoch).", at_least=1)
    checkpoint_every: int | None = option(
        None, help="Steps between checkpoints (default: at every evaluation).", at_least=1
    )
    keep_checkpoints: int = option(2, help="Checkpoints kept (the last ones).", at_least=1)
    log_every: int = option(10, help="Steps between lines of metrics.jsonl.", at_least=1)
    max_train_examples: int | None = option(
        None, help="Train on a seeded sample of this many examples.", at_least=1
    )
    max_dev_examples: int | None = option(None, help="Evaluate the first N dev examples.", at_least=1)
    doc_stride: int = option(128, help="Question answering: pieces shared by context windows.", at_least=1)
    max_question_length: int = option(64, cli=False, at_least=1)
    max_answer_length: int = option(30, help="Question answering: longest answer in pieces.", at_least=1)
    pooling: Literal[POOLINGS] = option(  # type: ignore[valid-type]
        "mean", help="Sentence embeddings: token vectors to one vector (mean, cls or max)."
    )
    matryoshka: str | None = option(
        None, help="Sentence embeddings: dimensions whose prefixes are trained to work alone, e.g. 384,256,128,64."
    )
    scale: float = option(20.0, help="Sentence embeddings: similarity scale of the contrastive losses.")
    divergence_factor: float = option(4.0, cli=False)
    read_options: ReadOptions = option(default_factory=ReadOptions, cli=False)
    device: str = option("auto", help="cpu, cuda, cuda:N, mps or auto.")
    bf16: bool = option(True, flag="--bf16/--no-bf16", help="bf16 autocast on GPU.")
    fast: bool = option(
        True, flag="--fast/--no-fast",
        help="The packed (unpadded) encoder, attn_implementation='packed', on every device.",
    )
    threads: int | None = option(None, help="CPU threads (default: torch's).")
    progress: bool = option(True, flag="--progress/--no-progress", help="Progress and status lines on stderr.")

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:  # before the type check, with the message users know
            raise OptionError(f"unknown task {self.task!r}; choose one of: {', '.join(TASK_NAMES)}")
        check_fields(self)
        self.validate()

    def validate(self) -> None:
        """Raise OptionError naming the first setting that cannot work (each field's own bounds
        are checked by :func:`~albert.options.check_fields`; here, how they go together)."""
        if self.batch_size % self.accumulation_steps:
            raise OptionError(
                f"batch_size {self.batch_size} must be divisible by accumulation_steps {self.accumulation_steps} "
                "(the batch is split into that many micro-batches)"
            )
        if not 0 <= self.warmup_ratio < 1:
            raise OptionError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.layerwise_lr_decay <= 1:
            raise OptionError(f"layerwise_lr_decay must be in (0, 1] (1 = off), got {self.layerwise_lr_decay}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise OptionError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise OptionError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.divergence_factor <= 1:
            raise OptionError(f"divergence_factor must be above 1, got {self.divergence_factor}")
        if self.scale <= 0:
            raise OptionError(f"scale must be above 0, got {self.scale}")
        if self.matryoshka is not None and self.task != "sentence-embeddings":
            raise OptionError(f"matryoshka applies to the sentence-embeddings task, not {self.task}")
        self.matryoshka_dimensions()

    def matryoshka_dimensions(self) -> tuple[int, ...]:
        """The Matryoshka dimensions, largest first (empty: the whole vector only).

        Raises:
            OptionError: an entry that is not a whole number of at least 1, or one given twice.
        """
        if not self.matryoshka:
            return ()
        entries = [entry.strip() for entry in self.matryoshka.split(",") if entry.strip()]
        if not all(entry.isdigit() and int(entry) >= 1 for entry in entries) or not entries:
            raise OptionError(f"matryoshka must list whole numbers of at least 1 such as 384,256,128,64, got {self.matryoshka!r}")
        sizes = [int(entry) for entry in entries]
        if len(set(sizes)) != len(sizes):
            raise OptionError(f"matryoshka lists a dimension twice: {self.matryoshka!r}")
        return tuple(sorted(sizes, reverse=True))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
