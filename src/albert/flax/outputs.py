"""What the Flax models return: :mod:`albert.outputs`' classes (transformers' field names), the
same as the torch models', registered as JAX pytrees so that a ``jax.jit``-compiled forward can
return them whole (every field is a leaf; None fields are empty subtrees).
"""

from __future__ import annotations

import dataclasses

import jax

from ..outputs import ModelOutput

#: Every output class of :mod:`albert.outputs` (each a direct subclass of ``ModelOutput``), so a
#: new one is a pytree too without being listed here.
OUTPUT_CLASSES: tuple[type[ModelOutput], ...] = tuple(ModelOutput.__subclasses__())

for _output_class in OUTPUT_CLASSES:
    jax.tree_util.register_dataclass(
        _output_class, data_fields=[spec.name for spec in dataclasses.fields(_output_class)], meta_fields=[]
    )
