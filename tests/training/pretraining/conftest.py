"""Pretraining (``albert.training.pretraining``): data, n-gram masking, sentence order, the objective, LAMB,
DDP, runs and resume.

Run alone: ``pytest tests/training/pretraining``."""

from support.pretrain import tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401  (the folder's fixtures)
