"""Names of the original TensorFlow checkpoints (google-research/albert) <-> transformers' names.

Google's checkpoints (``model.ckpt-best``) name variables like
``bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/kernel`` and store dense
kernels as (in, out); torch stores (out, in). :func:`tf_to_torch_name` and :func:`torch_to_tf_name`
translate one name each way; :func:`match_variables` sorts every variable of a checkpoint into
used, skipped (optimizer state, bookkeeping) and unknown for a given model, and finds the model
weights nothing fills. Nothing here needs TensorFlow.

The layout is that of ``modeling.py`` in google-research/albert, identical in every version of
that file (v1 and v2 releases alike): per inner group, the attention's layer norm is the scope's
first ``LayerNorm`` and the feed-forward's is ``LayerNorm_1``; ``embedding_hidden_mapping_in``
exists only when ``embedding_size != hidden_size``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
    # (2, H) already: run_pretraining.py multiplies with transpose_b=True, as torch's Linear does.
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

#: Every optimizer-slot naming known, as the path component that marks a slot (name -> who
#: writes it). google-research/bert's and albert's optimizers make their slots with
#: ``tf.get_variable(param_name + "/adam_m")``; every ``tf.compat.v1.train.Optimizer`` that keeps
#: slots makes them with ``_zeros_slot(var, ..., self._name)``, which names a slot after the
#: optimizer (``<var>/Adam``) and its second and later slots ``Adam_1``, ``Adam_2``, ...: those
#: names are in :data:`OPTIMIZER_NAMED_SLOTS` and match with any ``_<n>`` suffix.
OPTIMIZER_SLOTS: dict[str, str] = {
    "adam_m": "AdamWeightDecayOptimizer and LAMBOptimizer of google-research/bert and albert (optimization.py, "
              "lamb_optimizer.py): first moment",
    "adam_v": "the same optimizers: second moment",
    "lamb_m": "LAMBOptimizer of NVIDIA's BERT (DeepLearningExamples): first moment",
    "lamb_v": "the same optimizer: second moment",
}
OPTIMIZER_NAMED_SLOTS: dict[str, str] = {
    "AdamWeightDecayOptimizer": "AdamWeightDecayOptimizer written as a tf.train.Optimizer with slots "
                                "(transformers' load_tf_weights_in_albert skips these too)",
    "LAMBOptimizer": "LAMBOptimizer written as a tf.train.Optimizer with slots",
    "Adam": "tf.compat.v1.train.AdamOptimizer (also LazyAdam and Nadam of tf.contrib.opt)",
    "AdamW": "tf.contrib.opt.AdamWOptimizer",
    "Momentum": "tf.compat.v1.train.MomentumOptimizer",
    "MomentumW": "tf.contrib.opt.MomentumWOptimizer",
    "RMSProp": "tf.compat.v1.train.RMSPropOptimizer",
    "Adagrad": "tf.compat.v1.train.AdagradOptimizer",
    "AdagradDA": "tf.compat.v1.train.AdagradDAOptimizer",
    "ProximalAdagrad": "tf.compat.v1.train.ProximalAdagradOptimizer",
    "Adadelta": "tf.compat.v1.train.AdadeltaOptimizer",
    "Ftrl": "tf.compat.v1.train.FtrlOptimizer",
    "Adafactor": "tensor2tensor's and mesh-tensorflow's AdafactorOptimizer",
}
#: Whole names (or last components) of training bookkeeping: the step counter,
#: tf.train.AdamOptimizer's beta powers, the loss scale of mixed-precision training, and what TF2's
#: object-based checkpoints add (the object graph, tf.train.Checkpoint's save counter; their
#: optimizer's objects are keyed under ``optimizer/`` or ``.OPTIMIZER_SLOT``).
BOOKKEEPING: dict[str, str] = {
    "global_step": "the training step (tf.train.get_or_create_global_step)",
    "beta1_power": "tf.compat.v1.train.AdamOptimizer: beta1 to the power of the step",
    "beta2_power": "tf.compat.v1.train.AdamOptimizer: beta2 to the power of the step",
    "loss_scale": "mixed-precision training's loss scale (tf.contrib.mixed_precision)",
    "current_loss_scale": "mixed-precision training's loss scale (tf.compat.v1.mixed_precision)",
    "good_steps": "mixed-precision training: steps since the loss scale last changed",
    "bad_steps": "mixed-precision training: overflowing steps (tf.contrib.mixed_precision)",
    "_CHECKPOINTABLE_OBJECT_GRAPH": "TF2 object-based checkpoints: the object graph",
    "save_counter": "tf.train.Checkpoint: how many times it was saved",
}
_NAMED_SLOT = re.compile("(?:" + "|".join(map(re.escape, OPTIMIZER_NAMED_SLOTS)) + r")(?:_\d+)?")
#: The prefix of the base model's weights (``AlbertModel`` itself has none).
BASE_PREFIX = "albert."
EMBEDDING_PROJECTION = "albert.encoder.embedding_hidden_mapping_in."
POOLER = "albert.pooler."


def normalize_tf_name(tf_name: str) -> str:
    """The checkpoint name of a variable as a TF-Hub module or a graph shows it (``module/...:0``)."""
    name = tf_name.removeprefix("module/")
    return re.sub(r":\d+$", "", name)


def skip_kind(tf_name: str) -> str | None:
    """What an optimizer slot or a piece of bookkeeping is (``adam_m``, ``Adam_1``,
    ``global_step``, ...), or None for a variable that is neither.

    A slot is marked by any path component in :data:`OPTIMIZER_SLOTS` or
    :data:`OPTIMIZER_NAMED_SLOTS` (partitioned variables put ``part_<n>`` after it); bookkeeping
    by its last component in :data:`BOOKKEEPING` (it may sit under a name scope).
    """
    name = normalize_tf_name(tf_name)
    if name.startswith("optimizer/") or "/.OPTIMIZER_SLOT/" in name:  # TF2 object-based checkpoints
        return "optimizer"
    parts = name.split("/")
    if parts[-1] in BOOKKEEPING:
        return parts[-1]
    return next((part for part in parts if part in OPTIMIZER_SLOTS or _NAMED_SLOT.fullmatch(part)), None)


def is_skipped(tf_name: str) -> bool:
    """True for optimizer slots and training bookkeeping: saved beside the weights, never weights."""
    return skip_kind(tf_name) is not None


def tf_to_torch_name(tf_name: str) -> str | None:
    """The transformers name of a TF variable, or None for optimizer state and unknown names."""
    name = normalize_tf_name(tf_name)
    if is_skipped(name):
        return None
    if name in _FIXED_BY_TF:
        return _FIXED_BY_TF[name]
    match = _TF_LAYER.fullmatch(name)
    if match and match.group(3) in _LAYER_BY_TF:
        group, inner, rest = match.groups()
        return f"albert.encoder.albert_layer_groups.{int(group)}.albert_layers.{int(inner)}.{_LAYER_BY_TF[rest]}"
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


def tf_to_torch_tensor(tf_name: str, array: np.ndarray) -> torch.Tensor:
    """A TF variable's value in torch's layout: dense kernels (in, out) become (out, in)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if normalize_tf_name(tf_name).endswith("/kernel"):
        tensor = tensor.T.contiguous()
    return tensor


def convert_tf_variables(variables: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Turn {TF name: array} into a transformers-named state dict (kernels transposed).

    Optimizer state and names that are not ALBERT weights are left out; the MLM decoder needs
    nothing, as it is tied to the word embeddings. :func:`match_variables` says what was left out.
    """
    state: dict[str, torch.Tensor] = {}
    for tf_name, array in variables.items():
        name = tf_to_torch_name(tf_name)
        if name is not None:
            state[name] = tf_to_torch_tensor(tf_name, array)
    return state


def architecture_for(tf_names: Iterable[str]) -> str:
    """The model class whose weights a checkpoint holds: both pretraining heads -> AlbertForPreTraining,
    the masked-LM head alone -> AlbertForMaskedLM, neither -> AlbertModel."""
    torch_names = {tf_to_torch_name(name) or "" for name in tf_names}
    has_mlm = any(name.startswith("predictions.") for name in torch_names)
    has_sop = any(name.startswith("sop_classifier.") for name in torch_names)
    if has_mlm and has_sop:
        return "AlbertForPreTraining"
    return "AlbertForMaskedLM" if has_mlm else "AlbertModel"


@dataclass
class VariableMatch:
    """How the variables of a checkpoint fill the weights of one model.

    ``used`` maps TF names to the model weights they fill; ``skipped`` are optimizer slots and
    bookkeeping; ``unknown`` are neither ALBERT weights nor known-skippable; ``no_pooler`` are the
    pooler's weights when the model has none (AlbertForMaskedLM, as in transformers): left out on
    purpose; ``unplaced`` are other ALBERT weights the model has no place for (another group or
    inner-group count, another head); ``identity`` are model weights set to an exact identity because TF has no such variable
    (the embedding projection when E == H); ``missing`` are model weights nothing fills and
    ``mismatched`` (TF name, TF shape in torch's layout, model shape) those of another shape.
    """

    used: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    no_pooler: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    identity: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every variable used or skipped, every weight filled, every shape right."""
        return not (self.unknown or self.unplaced or self.missing or self.mismatched)


def match_variables(
    tf_shapes: Mapping[str, Iterable[int]],
    model_shapes: Mapping[str, Iterable[int]],
    embedding_size: int,
    hidden_size: int,
) -> VariableMatch:
    """Sort the variables of a checkpoint (name -> shape) against a model's weights (name -> shape).

    ``model_shapes`` are the weights to fill (tied aliases left out); names without the ``albert.``
    prefix are those of ``AlbertModel``. When E == H the original network has no embedding
    projection (google-research/albert modeling.py, ``transformer_model``); its weights then go in
    ``identity``, to be set to an exact identity (weight = I, bias = 0).
    """
    prefixed = any(name.startswith(BASE_PREFIX) for name in model_shapes)
    model = {name if prefixed else BASE_PREFIX + name: tuple(shape) for name, shape in model_shapes.items()}
    has_pooler = any(name.startswith(POOLER) for name in model)
    match = VariableMatch()
    for tf_name, tf_shape in sorted(tf_shapes.items()):
        if is_skipped(tf_name):
            match.skipped.append(tf_name)
            continue
        torch_name = tf_to_torch_name(tf_name)
        if torch_name is None:
            match.unknown.append(tf_name)
            continue
        if torch_name not in model:
            pooler_left_out = torch_name.startswith(POOLER) and not has_pooler
            (match.no_pooler if pooler_left_out else match.unplaced).append(tf_name)
            continue
        shape = tuple(int(size) for size in tf_shape)
        if normalize_tf_name(tf_name).endswith("/kernel"):
            shape = shape[::-1]
        if shape != model[torch_name]:
            match.mismatched.append((tf_name, shape, model[torch_name]))
            continue
        match.used[tf_name] = torch_name if prefixed else torch_name.removeprefix(BASE_PREFIX)
    filled = {BASE_PREFIX + name if not prefixed else name for name in match.used.values()}
    filled |= {tf_to_torch_name(name) or "" for name, *_ in match.mismatched}
    for name in sorted(set(model) - filled):
        local = name if prefixed else name.removeprefix(BASE_PREFIX)
        if name.startswith(EMBEDDING_PROJECTION) and embedding_size == hidden_size:
            match.identity.append(local)
        else:
            match.missing.append(local)
    return match


def identity_weight(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The exact identity for an embedding-projection weight (I) or bias (0) of ``shape``."""
    if name.endswith(".weight"):
        return torch.eye(shape[0], shape[1], dtype=torch.float32)
    return torch.zeros(shape, dtype=torch.float32)
