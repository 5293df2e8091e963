"""Fine-tuning (``albert.training.finetuning``): the five task kinds, readers, metrics, the loop, learning on
held-out data, the CLI.

Run alone: ``pytest tests/training/finetuning``."""

from support.finetune import one_thread  # noqa: F401  (autouse: every test here runs on one thread)
