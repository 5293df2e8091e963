"""ALBERT in JAX: the base model and every head as Flax NNX modules, on the same checkpoints.

Install the extra (``pip install "albert-lm[jax]"``). The classes mirror the torch ones (same
config, argument and output names, the same cross-layer sharing) and load the same folders,
shipped model and Hub ids; the numbers agree with the torch models to float32 rounding::

    import jax.numpy as jnp
    from flax import nnx
    from albert.flax import FlaxAlbertModel

    model = FlaxAlbertModel.from_pretrained("albert-small-en")
    forward = nnx.jit(lambda model, batch: model(**batch))
    states = forward(model, {"input_ids": jnp.array([[2, 48, 3]])}).last_hidden_state

Nothing here imports torch; see docs/flax.md for jit, bf16, sharding and fine-tuning with optax.
"""

from .checkpoint import CheckpointError, LoadingInfo
from .modeling import (
    MODEL_CLASSES,
    FlaxAlbertForMaskedLM,
    FlaxAlbertForMultipleChoice,
    FlaxAlbertForPreTraining,
    FlaxAlbertForQuestionAnswering,
    FlaxAlbertForSequenceClassification,
    FlaxAlbertForTokenClassification,
    FlaxAlbertModel,
    FlaxAlbertPreTrainedModel,
)

__all__ = [
    "MODEL_CLASSES",
    "CheckpointError",
    "FlaxAlbertForMaskedLM",
    "FlaxAlbertForMultipleChoice",
    "FlaxAlbertForPreTraining",
    "FlaxAlbertForQuestionAnswering",
    "FlaxAlbertForSequenceClassification",
    "FlaxAlbertForTokenClassification",
    "FlaxAlbertModel",
    "FlaxAlbertPreTrainedModel",
    "LoadingInfo",
]
