"""Names of the original TensorFlow checkpoints (google-research/albert) <-> transformers' names.

Google's checkpoints (``model.ckpt-best``) name variables like
``bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/kernel`` and store dense
kernels as (in, out); torch stores (out, in). :func:`tf_to_torch_name` and
:func:`torch_to_tf_name` translate one name each way, :func:`convert_tf_variables` turns a whole
{name: array} mapping into a torch state dict, and :func:`load_tf_checkpoint` reads a checkpoint
(it needs TensorFlow, which is not a dependency of this package).
"""

from __future__ import annotations

import os
import re

import numpy as np
import torch

# One table, read both ways: transformers name <-> TF name, for the fixed weights ...
_FIXED: dict[str, str] = {
    "albert.embeddings.word_embeddings.weight": "bert/embeddings/word_embeddings",
    "albert.embeddings.token_type_embeddings.weight": "bert/embeddings/token_type_embeddings",
    "albert.embeddings.position_embeddings.weight": "bert/embeddings/position_embeddings",
    "albert.embeddings.LayerNorm.weight": "bert/embeddings/LayerNorm/gamma",
    "albert.embeddings.LayerNorm.bias": "bert/embeddings/LayerNorm/beta",
    "albert.encoder.embedding_hidden_mapping_in.weight": "bert/encoder/embedding_hidden_mapping_in/kernel",
    "albert.encoder.embedding_hidden_mapping_in.bias": "bert/encoder/embedding_hidden_mapping_in/bias",
    "albert.pooler.weight": "bert/pooler/dense/kernel",
    "albert.pooler.bias": "bert/pooler/dense/bias",
    "predictions.dense.weight": "cls/predictions/transform/dense/kernel",
    "predictions.dense.bias": "cls/predictions/transform/dense/bias",
    "predictions.LayerNorm.weight": "cls/predictions/transform/LayerNorm/gamma",
    "predictions.LayerNorm.bias": "cls/predictions/transform/LayerNorm/beta",
    "predictions.bias": "cls/predictions/output_bias",
    "sop_classifier.classifier.weight": "cls/seq_relationship/output_weights",
    "sop_classifier.classifier.bias": "cls/seq_relationship/output_bias",
}
# ... and for the weights of one layer, relative to its group and inner-group prefixes.
_LAYER: dict[str, str] = {
    **{
        f"attention.{part}.{kind}": f"attention_1/self/{part}/{tf_kind}"
        for part in ("query", "key", "value")
        for kind, tf_kind in (("weight", "kernel"), ("bias", "bias"))
    },
    "attention.dense.weight": "attention_1/output/dense/kernel",
    "attention.dense.bias": "attention_1/output/dense/bias",
    "attention.LayerNorm.weight": "LayerNorm/gamma",
    "attention.LayerNorm.bias": "LayerNorm/beta",
    "ffn.weight": "ffn_1/intermediate/dense/kernel",
    "ffn.bias": "ffn_1/intermediate/dense/bias",
    "ffn_output.weight": "ffn_1/intermediate/output/dense/kernel",
    "ffn_output.bias": "ffn_1/intermediate/output/dense/bias",
    "full_layer_layer_norm.weight": "LayerNorm_1/gamma",
    "full_layer_layer_norm.bias": "LayerNorm_1/beta",
}
_TORCH_LAYER = re.compile(r"albert\.encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.(.+)")
_TF_LAYER = re.compile(r"bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/(.+)")
_FIXED_BY_TF = {tf: torch_name for torch_name, tf in _FIXED.items()}
_LAYER_BY_TF = {tf: torch_name for torch_name, tf in _LAYER.items()}
#: Optimizer slots and bookkeeping that checkpoints carry beside the weights.
_SKIPPED = re.compile(r"(adam_[mv]|global_step|AdamWeightDecayOptimizer|LAMB|lamb_[mv]|/Momentum)")


def tf_to_torch_name(tf_name: str) -> str | None:
    """The transformers name of a TF variable, or None for optimizer state and unknown names."""
    name = tf_name.removeprefix("module/").removesuffix(":0")
    if _SKIPPED.search(name):
        return None
    if name in _FIXED_BY_TF:
        return _FIXED_BY_TF[name]
    match = _TF_LAYER.fullmatch(name)
    if match and match.group(3) in _LAYER_BY_TF:
        group, inner, rest = match.groups()
        return f"albert.encoder.albert_layer_groups.{group}.albert_layers.{inner}.{_LAYER_BY_TF[rest]}"
    return None


def torch_to_tf_name(torch_name: str) -> str | None:
    """The TF variable name of a transformers weight name (the inverse of :func:`tf_to_torch_name`)."""
    if torch_name in _FIXED:
        return _FIXED[torch_name]
    match = _TORCH_LAYER.fullmatch(torch_name)
    if match and match.group(3) in _LAYER:
        group, inner, rest = match.groups()
        return f"bert/encoder/transformer/group_{group}/inner_group_{inner}/{_LAYER[rest]}"
    return None


def convert_tf_variables(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Turn {TF name: array} into a transformers-named state dict (kernels transposed).

    The MLM decoder needs nothing: it is tied to the word embeddings. The SOP weight is stored
    (out, in) already, like torch.
    """
    state: dict[str, torch.Tensor] = {}
    for tf_name, array in variables.items():
        name = tf_to_torch_name(tf_name)
        if name is None:
            continue
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if tf_name.removesuffix(":0").endswith("/kernel"):  # TF dense kernels are (in, out)
            tensor = tensor.T.contiguous()
        state[name] = tensor
    return state


def load_tf_checkpoint(checkpoint_prefix: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read an original TF checkpoint (e.g. ``.../model.ckpt-best``) into a state dict.

    Raises:
        ImportError: TensorFlow is not installed (``pip install tensorflow-cpu``).
    """
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(
            "reading an original TF checkpoint needs TensorFlow: pip install tensorflow-cpu "
            "(then save the converted model with save_pretrained and drop TensorFlow again)"
        ) from None
    reader = tf.train.load_checkpoint(str(checkpoint_prefix))
    names = reader.get_variable_to_shape_map()
    return convert_tf_variables({name: reader.get_tensor(name) for name in names})
