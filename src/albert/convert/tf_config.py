"""``albert_config.json`` (google-research/albert) -> :class:`albert.config.AlbertConfig`.

The keys are those of the original ``AlbertConfig`` (modeling.py) plus the flags its release
configs carry and nothing reads (``net_structure_type``, ``gap_size``, ``num_memory_blocks``,
``down_scale_factor``); those are kept as extras, as transformers' released config.json files keep
them. The one translation is the activation: the original ``"gelu"`` is the tanh approximation
(modeling.py's ``gelu``), which transformers calls ``"gelu_new"``; ``"gelu"`` there is the exact
erf form. The layer-norm epsilon is tf.contrib's fixed 1e-12, our default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import AlbertConfig
from ..errors import ConfigError, ModelNotFoundError
from ..json_files import read_json_file

#: The original get_activation's names -> ours (same functions).
HIDDEN_ACT = {"gelu": "gelu_new", "relu": "relu", "tanh": "tanh", "linear": "linear", "": "linear"}

_FIELDS = (
    "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups", "num_attention_heads",
    "intermediate_size", "inner_group_num", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "max_position_embeddings", "type_vocab_size", "initializer_range", "layer_norm_eps",
)  # fmt: skip
#: The original AlbertConfig's defaults (modeling.py), for keys a config leaves out.
_ORIGINAL_DEFAULTS: dict[str, Any] = {
    "embedding_size": 128, "hidden_size": 4096, "num_hidden_layers": 12, "num_hidden_groups": 1,
    "num_attention_heads": 64, "intermediate_size": 16384, "inner_group_num": 1, "down_scale_factor": 1,
    "hidden_act": "gelu", "hidden_dropout_prob": 0, "attention_probs_dropout_prob": 0,
    "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
}  # fmt: skip


def config_from_original(values: dict[str, Any], source: str = "albert_config.json") -> AlbertConfig:
    """Our config for an original ``albert_config.json`` dict.

    Raises:
        ConfigError: no ``vocab_size``, an activation the original code does not have, or values
            the network cannot be built with; the message names ``source``.
    """
    values = {**_ORIGINAL_DEFAULTS, **values}
    if "vocab_size" not in values:
        raise ConfigError(f"{source} has no vocab_size: it is not an ALBERT config (albert_config.json)")
    act = values.pop("hidden_act")
    if not isinstance(act, str) or act.lower() not in HIDDEN_ACT:
        raise ConfigError(
            f"{source}: hidden_act {act!r} is not one the original ALBERT code knows ({', '.join(HIDDEN_ACT)})"
        )
    known = {key: values.pop(key) for key in _FIELDS if key in values}
    try:
        return AlbertConfig(hidden_act=HIDDEN_ACT[act.lower()], **known, extra=values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source} does not describe a network albert can build: {error}") from None


def read_original_config(path: str | os.PathLike[str]) -> AlbertConfig:
    """Read an original ``albert_config.json`` (see :func:`config_from_original`).

    Raises:
        ModelNotFoundError: no such file (a ``FileNotFoundError``).
        ConfigError: not a small JSON object (:func:`albert.json_files.read_json_file`'s bounds),
            or not an ALBERT config.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"the config {path} does not exist: pass the albert_config.json of the release with --config"
        )
    values = read_json_file(path, error=ConfigError, what="an original albert_config.json")
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a JSON object, found {type(values).__name__}")
    return config_from_original(values, source=str(path))
