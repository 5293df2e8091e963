"""What the service knows of its model without loading it: the tasks with a head of their own,
and the facts the model's process reports (``/info``, and what inputs are checked against).
Torch-free, for the server's HTTP side, which holds no model."""

from __future__ import annotations

from dataclasses import dataclass

from ..sentence_folder import SentenceEmbeddingConfig

#: Tasks with a head of their own, in the order they are looked for.
HEAD_TASKS = ("fill-mask", "text-classification", "token-classification", "question-answering", "multiple-choice")


@dataclass(frozen=True)
class ModelFacts:
    """What the service says about its model (``/info``) and needs to check inputs."""

    tasks: tuple[str, ...]
    head_task: str | None
    window: int
    dimension: int
    device: str
    dtype: str
    #: The model process's torch intra-op threads, and the precision asked for.
    threads: int = 0
    precision: str = "exact"
    #: What loading the model warned of (an untrained head served as asked ...), for the log.
    warnings: tuple[str, ...] = ()
    #: The sentence-embedding settings saved with the model (None: a plain model folder).
    sentence: SentenceEmbeddingConfig | None = None
