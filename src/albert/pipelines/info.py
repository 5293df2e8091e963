"""What a model is made of: parameters by part, shared layers, memory per dtype, vocabulary.

Used by ``albert info MODEL``. The network is built on the meta device from config.json, so
describing even xxlarge reads no weights and allocates nothing.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..config import AlbertConfig
from ..hub import ModelNotFoundError
from ..modeling import MODEL_CLASSES, AlbertModel

BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}


def model_info(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Describe the model at ``name_or_path`` (folder, shipped name or Hub id).

    Returns:
        A dict: ``architecture``; ``parameters`` (total, embeddings, encoder, heads: distinct
        weights, shared ones counted once as the paper counts them); ``layers`` (the config's
        num_hidden_layers), ``layers_computed`` (each of those runs a group of inner_group_num
        layers) and ``distinct_layers`` (groups x layers per group, the ones with weights);
        ``memory_bytes`` of the weights at each dtype; ``vocab_size`` and ``special_tokens``
        (from the tokenizer when it has files); and ``config``, the whole config.json.

    Raises:
        ModelNotFoundError: no config.json for that name.
    """
    config = AlbertConfig.from_pretrained(name_or_path)
    architecture = (config.extra.get("architectures") or ["AlbertModel"])[0]
    model_class = MODEL_CLASSES.get(architecture, AlbertModel)
    with torch.device("meta"):
        model = model_class(config)
    parts = {"embeddings": 0, "encoder": 0, "heads": 0}
    for name, parameter in model.named_parameters():  # shared parameters are listed once
        part = "embeddings" if "embeddings." in name else "encoder" if "encoder." in name else "heads"
        parts[part] += parameter.numel()
    total = sum(parts.values())
    info: dict[str, Any] = {
        "model": str(name_or_path),
        "architecture": model_class.__name__,
        "parameters": {"total": total, **parts},
        "layers": config.num_hidden_layers,
        # each of the num_hidden_layers steps runs a whole group of inner_group_num layers
        "layers_computed": config.num_hidden_layers * config.inner_group_num,
        "distinct_layers": config.num_hidden_groups * config.inner_group_num,
        "hidden_groups": config.num_hidden_groups,
        "inner_group_num": config.inner_group_num,
        "memory_bytes": {dtype: total * size for dtype, size in BYTES_PER_PARAMETER.items()},
        "vocab_size": config.vocab_size,
        "special_tokens": {},
        "config": config.to_dict(),
    }
    try:
        from ..tokenizer import AlbertTokenizer

        tokenizer = AlbertTokenizer.from_pretrained(name_or_path)
    except (ModelNotFoundError, OSError, ValueError):
        return info  # a model without tokenizer files is still worth describing
    info["vocab_size"] = tokenizer.vocab_size
    info["special_tokens"] = {
        token: tokenizer.convert_tokens_to_ids(token) for token in tokenizer.all_special_tokens
    }
    return info
