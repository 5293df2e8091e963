"""ALBERT's configuration: the same fields, names and defaults as transformers' ``AlbertConfig``.

A config.json written here loads in transformers and the reverse; keys this class does not know
(``down_scale_factor``, ``gap_size``, ``transformers_version``, ...) are kept in ``extra`` and
written back, so nothing is lost in a round trip.

Every config is validated in one place, :meth:`AlbertConfig.validate`, before any tensor exists:
the kind and range of every field, the relations between fields, structural bounds that cap the
time a build takes, and the bytes of the largest model the config describes (estimated from the
config alone). Whatever is wrong is one :class:`~albert.errors.ConfigError` that names the file
(when there is one), the field, the value and what is allowed.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import re
import reprlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .atomic_files import write_text_atomic
from .errors import ConfigError, OptionError, OptionTypeError
from .json_files import MAX_JSON_DEPTH, nesting_depth, read_json_file

CONFIG_NAME = "config.json"

#: ``hidden_act`` values: the names of the activation tables of the torch and Flax models
#: (``albert.modeling.ACTIVATIONS``, ``albert.flax.modeling.ACTIVATIONS``; a test keeps the three
#: equal). Listed here so that a config is checked without importing torch or JAX.
HIDDEN_ACTS = (
    "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu", "swish", "mish", "tanh",
    "sigmoid", "linear",
)  # fmt: skip
POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")
#: transformers' ``problem_type`` values (None: inferred from num_labels and the labels).
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

#: The largest model a config may describe, in bytes of float32 parameters (the dtype a model is
#: built in), unless the environment variable :data:`MAX_MODEL_BYTES_VARIABLE` says otherwise.
#: 8 GiB is 2.1 billion parameters: the largest released ALBERT (xxlarge, 223M parameters,
#: 0.9 GB) passes 9 times over, and a model this size still fits, with its checkpoint being read
#: beside it, in the 24 GiB of memory of the machines albert is developed on, where a config of
#: 30.7 GB (vocab_size 60,000,000) used to reach torch's allocator and fail there, 70 lines deep.
MAX_MODEL_BYTES = 8 * 2**30
#: The environment variable that replaces :data:`MAX_MODEL_BYTES`: bytes, as an integer
#: (``17179869184``) or with a unit (``16GiB``, ``20GB``).
MAX_MODEL_BYTES_VARIABLE = "ALBERT_MAX_MODEL_BYTES"
#: Layers with weights of their own (num_hidden_groups x inner_group_num). Each is a dozen torch
#: modules built one after another; 256 build in 0.3 s at small sizes (measured), where
#: inner_group_num 1,000,000 took 146 s and 7.3 GB. ALBERT's releases have 1; the paper's
#: cross-layer sharing study (its section 4.5) at most 12 (all-not-shared, 12 layers).
MAX_DISTINCT_LAYERS = 256
#: Layers a forward pass computes (num_hidden_layers x inner_group_num): 20 times the deepest
#: network of the paper (48 layers, its appendix A.1).
MAX_COMPUTED_LAYERS = 1024
#: Labels of a classification head. Each costs two dict entries and a row of the classifier;
#: 100,000 labels take 24 MB and 0.2 s to make (measured), where num_labels 10^9 used to grow
#: memory for minutes.
MAX_NUM_LABELS = 100_000
#: Bytes per parameter in the estimate: float32, the dtype every model is built in.
_PARAMETER_BYTES = 4

_INTEGER_SIZES = (
    "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups",
    "num_attention_heads", "intermediate_size", "inner_group_num", "max_position_embeddings", "type_vocab_size",
)  # fmt: skip
_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id")
_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob")
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip

#: What every released checkpoint's config.json carries beyond the architecture (Google's TF
#: flags that transformers keeps but does not use).
_RELEASED_EXTRAS: dict[str, Any] = {
    "architectures": ["AlbertForMaskedLM"],
    "down_scale_factor": 1,
    "gap_size": 0,
    "net_structure_type": 0,
    "num_memory_blocks": 0,
}

_SIZES: dict[str, dict[str, int]] = {
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    "xlarge": {"hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 8192},
    "xxlarge": {
        "hidden_size": 4096,
        "num_hidden_layers": 12,
        "num_attention_heads": 64,
        "intermediate_size": 16384,
    },
}


def _released_config(size: str, version: str) -> dict[str, Any]:
    """The config.json of ``albert-{size}-{version}`` as released on the Hub.

    v1 configs on the Hub say exact GELU ("gelu") and 0.1 dropout (xxlarge already trained without
    dropout); v2 configs say the tanh GELU ("gelu_new") and no dropout. Google's TF code computes the
    tanh form for both (``albert convert tf`` maps its "gelu" to "gelu_new"); these presets keep the
    Hub's values, which transformers' checkpoints were converted with.
    """
    v1 = version == "v1"
    dropout = 0.1 if v1 and size != "xxlarge" else 0
    values: dict[str, Any] = {
        **_SIZES[size],
        "embedding_size": 128,
        "vocab_size": 30000,
        "hidden_act": "gelu" if v1 else "gelu_new",
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        **copy.deepcopy(_RELEASED_EXTRAS),
    }
    if size == "xxlarge":
        values["layers_to_keep"] = []
    return values


PRESETS: dict[str, dict[str, Any]] = {
    f"albert-{size}-{version}": _released_config(size, version)
    for version in ("v1", "v2")
    for size in _SIZES
}



class _ShortRepr(reprlib.Repr):
    """``repr`` for messages: bounded in length and depth, and safe for integers too long to print."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple, self.maxset = 3, 4, 4, 4, 4
        self.maxstring, self.maxother, self.maxlong = 60, 60, 40

    def repr_int(self, value: int, level: int) -> str:
        return show(value)


_SHORT_REPR = _ShortRepr()


def show(value: Any) -> str:
    """``value`` as a message shows it: integers with thousands separators (an integer too long to
    print by its number of digits), anything else as a bounded ``repr``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
        if number.bit_length() > 128:
            return f"an integer of about {int(number.bit_length() * math.log10(2)) + 1:,} digits"
        return f"{number:,}"
    return _SHORT_REPR.repr(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except (OverflowError, TypeError, ValueError):  # an integer too large for a float
        return False


def _size(count: int) -> str:
    """Bytes for a message: ``30.7 GB``; beyond exabytes, the number of digits."""
    if count >= 10**21:
        return f"about 10^{int(count.bit_length() * math.log10(2)):,} bytes"
    for unit, scale in (("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count / 10**6:,.1f} MB"


def max_model_bytes() -> int:
    """The bound on a model's float32 parameter bytes: ``$ALBERT_MAX_MODEL_BYTES`` when set, else
    :data:`MAX_MODEL_BYTES`.

    Raises:
        OptionError: the variable is set to something other than a positive size.
    """
    raw = os.environ.get(MAX_MODEL_BYTES_VARIABLE, "").strip()
    if not raw:
        return MAX_MODEL_BYTES
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([a-zA-Z]*)", raw)
    if match and match.group(2).lower() in _UNITS:
        value = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if 0 < value < 2**80:  # "1e999" is infinite
            return int(value)
    raise OptionError(
        f"{MAX_MODEL_BYTES_VARIABLE}={raw[:40]!r} is not a size: give the largest model albert may build in "
        "bytes, e.g. 17179869184 or 16GiB"
    )


@dataclass
class AlbertConfig:
    """Hyper-parameters of an ALBERT network, named as in transformers and in the paper.

    ``num_hidden_layers`` layers are computed, but only ``num_hidden_groups * inner_group_num``
    layers have their own weights (cross-layer sharing, paper section 3.1); ``embedding_size``
    (E) may be smaller than ``hidden_size`` (H): the factorized embedding parameterization.
    Defaults are those of transformers' AlbertConfig (the xxlarge shape).

    Every config is checked by :meth:`validate` when it is made, when fields are overridden and
    when a model is built from it; a bad one raises :class:`~albert.errors.ConfigError` (a
    ``ValueError``). Beyond the kind and range of each field, it bounds:

    - the model's size: the float32 bytes of the largest model the config describes
      (:meth:`parameter_bytes`) must not exceed :data:`MAX_MODEL_BYTES` (8 GiB), or the value of
      the environment variable ``ALBERT_MAX_MODEL_BYTES`` when set (``16GiB``, ``20000000000``);
      set it, or ``albert.config.MAX_MODEL_BYTES``, to build a larger model;
    - the layers with weights of their own, ``num_hidden_groups * inner_group_num``
      (:data:`MAX_DISTINCT_LAYERS`), the layers computed, ``num_hidden_layers * inner_group_num``
      (:data:`MAX_COMPUTED_LAYERS`), and the labels (:data:`MAX_NUM_LABELS`).
    """

    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout_prob: float | None = 0.1
    position_embedding_type: str = "absolute"
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    id2label: dict[int, str] = field(default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"})
    label2id: dict[str, int] = field(default_factory=lambda: {"LABEL_0": 0, "LABEL_1": 1})
    problem_type: str | None = None
    model_type: str = "albert"
    #: Keys of a config.json that this class has no field for; written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict)

    def __init__(self, num_labels: int | None = None, **kwargs: Any) -> None:
        """Fields by keyword (unknown keywords are kept in ``extra``); ``num_labels`` makes
        ``LABEL_0``... labels, and an ``id2label`` without ``label2id`` gets its inverse.

        Raises:
            ConfigError: a field of the wrong kind or out of range (see :meth:`validate`).
        """
        known = {f.name for f in fields(self)}
        labels_given = "id2label" in kwargs, "label2id" in kwargs
        for spec in fields(self):
            if spec.name == "extra":
                continue
            if spec.name in kwargs:
                value = kwargs.pop(spec.name)
            elif spec.default_factory is not MISSING:
                value = spec.default_factory()
            else:
                value = spec.default
            setattr(self, spec.name, value)
        extra = kwargs.pop("extra", None) or {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"extra must be a dict of config.json keys, got {show(extra)}")
        self.extra = dict(extra)
        self.extra.update({key: value for key, value in kwargs.items() if key not in known})
        self._set_labels(self.id2label, self.label2id if labels_given[1] or not labels_given[0] else None)
        if num_labels is not None:
            _check_num_labels(num_labels)
            if num_labels != len(self.id2label):
                self.num_labels = num_labels
        self.validate()

    # -- labels -------------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        """Number of labels of a classification head (the length of ``id2label``)."""
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        _check_num_labels(value)  # before a dict of that size is built
        self.id2label = {index: f"LABEL_{index}" for index in range(value)}
        self.label2id = {label: index for index, label in self.id2label.items()}

    def _set_labels(self, id2label: Any, label2id: Any | None) -> None:
        """Set both label maps from what a caller or a config.json gave: ids may be strings of
        digits (JSON keys), names may be integers; ``label2id`` None (or transformers' untouched
        ``LABEL_i`` default beside a real ``id2label``) becomes the inverse of ``id2label``."""
        for name, value in (("id2label", id2label), ("label2id", label2id)):
            if value is None and name == "label2id":
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"{name} must be a JSON object, got {show(value)}")
            if len(value) > MAX_NUM_LABELS:
                raise ConfigError(
                    f"{name} has {len(value):,} labels; albert builds at most {MAX_NUM_LABELS:,} (MAX_NUM_LABELS)"
                )
        ids: dict[int, str] = {}
        for key, label in id2label.items():
            ids[_label_id(key, "id2label key")] = _label_name(label, f"id2label[{show(key)}]")
        self.id2label = dict(sorted(ids.items()))
        if label2id is None or _is_placeholder(label2id) and not _is_placeholder(self.id2label):
            self.label2id = {label: index for index, label in self.id2label.items()}
        else:
            self.label2id = {
                _label_name(label, "label2id key"): _label_id(index, f"label2id[{show(label)}]")
                for label, index in label2id.items()
            }

    @property
    def layers_per_group(self) -> int:
        """How many consecutive layers reuse one group's weights."""
        return self.num_hidden_layers // self.num_hidden_groups

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field, the relations between them and the model's size, before any tensor
        exists. Runs when a config is made, after overrides, and when a model is built from it.

        Raises:
            ConfigError: naming the field, its value and what is allowed; the first problem found.
            OptionError: ``ALBERT_MAX_MODEL_BYTES`` is set to something other than a size.
        """
        self._check_field_types()
        self._check_ranges()
        self._check_relations()
        self._check_labels()
        self._check_extra()
        self._check_size()

    def _check_field_types(self) -> None:
        """Reject values of the wrong kind (``"vocab_size": "30000"``, ``true``, a list), naming the field."""
        for spec in fields(self):
            value, kind = getattr(self, spec.name), str(spec.type)  # the annotation, as a string
            if value is None and kind.endswith("| None"):
                continue
            kind = kind.removesuffix(" | None")
            if kind == "int":
                good, wanted = _is_integer(value), "an integer"
            elif kind == "float":
                good, wanted = _is_number(value), "a number"
            elif kind == "str":
                good, wanted = isinstance(value, str), "a string"
            else:  # the dicts
                good, wanted = isinstance(value, dict), "a JSON object"
            if not good:
                raise ConfigError(f"{spec.name} must be {wanted}, got {show(value)}")

    def _check_ranges(self) -> None:
        """Each field on its own: sizes positive, ids in the vocabulary, probabilities, names."""
        for name in _INTEGER_SIZES:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {show(getattr(self, name))}")
        for name in _TOKEN_IDS:
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ConfigError(
                    f"{name} must be a token id of the vocabulary (0 to vocab_size - 1 = {self.vocab_size - 1:,}) "
                    f"or null, got {show(value)}"
                )
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if value is not None and not (_finite(value) and 0 <= value < 1):
                raise ConfigError(f"{name} is a dropout probability: it must be in [0, 1), got {show(value)}")
        if not (_finite(self.layer_norm_eps) and self.layer_norm_eps > 0):
            raise ConfigError(f"layer_norm_eps must be a finite number above 0 (e.g. 1e-12), got {show(self.layer_norm_eps)}")
        if not (_finite(self.initializer_range) and self.initializer_range >= 0):
            raise ConfigError(
                f"initializer_range (the weights' standard deviation at initialisation) must be a finite number >= 0, "
                f"got {show(self.initializer_range)}"
            )
        if self.hidden_act not in HIDDEN_ACTS:
            raise ConfigError(f"unknown hidden_act {show(self.hidden_act)}; choose one of: {', '.join(HIDDEN_ACTS)}")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ConfigError(
                f"position_embedding_type {show(self.position_embedding_type)} is not one of "
                f"{', '.join(map(repr, POSITION_EMBEDDING_TYPES))}"
            )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(
                f"problem_type {show(self.problem_type)} is not one of {', '.join(map(repr, PROBLEM_TYPES))} "
                "(or null: inferred from num_labels)"
            )
        if self.model_type != "albert":
            raise ConfigError(f"this config is for model_type {show(self.model_type)}, not 'albert'")

    def _check_relations(self) -> None:
        """Fields that must agree: heads divide the hidden size, groups divide the layers, and the
        structural bounds on layers."""
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({show(self.hidden_size)}) must be a multiple of num_attention_heads "
                f"({show(self.num_attention_heads)})"
            )
        if not 1 <= self.num_hidden_groups <= self.num_hidden_layers:
            raise ConfigError(
                f"num_hidden_groups ({show(self.num_hidden_groups)}) must be between 1 and "
                f"num_hidden_layers ({show(self.num_hidden_layers)})"
            )
        if self.num_hidden_layers % self.num_hidden_groups:
            raise ConfigError(
                f"num_hidden_layers ({show(self.num_hidden_layers)}) must be a multiple of num_hidden_groups "
                f"({show(self.num_hidden_groups)}): each group serves the same number of layers"
            )
        distinct = self.num_hidden_groups * self.inner_group_num
        if distinct > MAX_DISTINCT_LAYERS:
            raise ConfigError(
                f"num_hidden_groups {show(self.num_hidden_groups)} x inner_group_num {show(self.inner_group_num)} = "
                f"{show(distinct)} layers with weights of their own; albert builds at most {MAX_DISTINCT_LAYERS} "
                "(MAX_DISTINCT_LAYERS; released ALBERTs have 1)"
            )
        computed = self.num_hidden_layers * self.inner_group_num
        if computed > MAX_COMPUTED_LAYERS:
            raise ConfigError(
                f"num_hidden_layers {show(self.num_hidden_layers)} x inner_group_num {show(self.inner_group_num)} = "
                f"{show(computed)} layers computed per token; albert runs at most {MAX_COMPUTED_LAYERS} "
                "(MAX_COMPUTED_LAYERS; released ALBERTs compute 12 or 24)"
            )

    def _check_labels(self) -> None:
        """id2label numbers its labels 0..n-1 with distinct names, and label2id is its inverse."""
        _check_num_labels(len(self.id2label), field_name="the number of labels in id2label")
        if len(self.label2id) > MAX_NUM_LABELS:
            raise ConfigError(f"label2id has {len(self.label2id):,} labels; albert builds at most {MAX_NUM_LABELS:,}")
        exact = all(type(index) is int for index in self.id2label) and all(type(n) is str for n in self.id2label.values())
        for index, label in () if exact else self.id2label.items():  # the fast path checks 100,000 labels in ms
            if not _is_integer(index) or not isinstance(label, str):
                raise ConfigError(
                    f"id2label must map label ids (integers) to names (strings), got {show(index)}: {show(label)}"
                )
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise ConfigError(
                f"id2label must number its labels 0 to {len(self.id2label) - 1} (the classifier's outputs), "
                f"got the ids {show(sorted(self.id2label))}"
            )
        inverse = {label: index for index, label in self.id2label.items()}
        if len(inverse) < len(self.id2label):
            twice = Counter(self.id2label.values()).most_common(1)[0][0]
            raise ConfigError(f"id2label names two labels {show(twice)}: each label needs a name of its own")
        if self.label2id != inverse:
            raise ConfigError(
                f"label2id {show(self.label2id)} is not the inverse of id2label {show(self.id2label)}: it must map "
                "each name back to its id (or leave label2id out: it is made from id2label)"
            )

    def _check_extra(self) -> None:
        """The keys kept for config.json must be JSON that can be written back, and the ones albert
        reads must have the kind it reads."""
        if not all(isinstance(key, str) for key in self.extra):
            raise ConfigError(f"config keys must be strings, got {show([k for k in self.extra if not isinstance(k, str)])}")
        if nesting_depth(self.extra) > MAX_JSON_DEPTH:
            raise ConfigError(f"a config value nests deeper than {MAX_JSON_DEPTH} levels; albert refuses it")
        for key, value in self.extra.items():
            if not _is_json(value):
                raise ConfigError(
                    f"{key} must be a JSON value (null, true, false, a finite number, a string, a list, or an object "
                    f"with string keys: it is written back to config.json), got {show(value)}"
                )
        architectures = self.extra.get("architectures")
        if architectures is not None and not (
            isinstance(architectures, list) and all(isinstance(name, str) for name in architectures)
        ):
            raise ConfigError(
                f"architectures must be a list of model class names (e.g. [\"AlbertForMaskedLM\"]), got {show(architectures)}"
            )

    def _check_size(self) -> None:
        """The float32 bytes of the largest model this config describes, against the bound."""
        needed, bound = self.parameter_bytes(), max_model_bytes()
        if needed <= bound:
            return
        part, formula, count = max(self._parameter_parts(), key=lambda item: item[2])
        raise ConfigError(
            f"this config describes a model of {_size(needed)} of float32 parameters ({part}: {formula} = "
            f"{show(count)} parameters, {_size(count * _PARAMETER_BYTES)}), above albert's bound of {_size(bound)} "
            f"({bound:,} bytes); check the sizes"
            + (f", or set {MAX_MODEL_BYTES_VARIABLE}={needed} to allow it" if needed < 2**50 else
               ": no machine holds a model of that size")
        )

    # -- size ---------------------------------------------------------------------------------
    def _parameter_parts(self) -> list[tuple[str, str, int]]:
        """(part, formula, parameters) of every weight a model class may have, shared ones once."""
        vocab, embed, hidden = self.vocab_size, self.embedding_size, self.hidden_size
        inner, positions, labels = self.intermediate_size, self.max_position_embeddings, self.num_labels
        layer = 4 * (hidden * hidden + hidden) + 2 * hidden  # query, key, value, dense; LayerNorm
        layer += hidden * inner + inner + inner * hidden + hidden + 2 * hidden  # ffn, ffn_output; LayerNorm
        if self.position_embedding_type != "absolute":
            layer += (2 * positions - 1) * self.head_dim  # relative distance embeddings
        distinct = self.num_hidden_groups * self.inner_group_num
        return [
            ("word embeddings", f"vocab_size {show(vocab)} x embedding_size {show(embed)}", vocab * embed),
            ("position embeddings", f"max_position_embeddings {show(positions)} x embedding_size {show(embed)}",
             positions * embed),
            ("token type embeddings", f"type_vocab_size {show(self.type_vocab_size)} x embedding_size {show(embed)}",
             self.type_vocab_size * embed),
            ("embedding LayerNorm", f"2 x embedding_size {show(embed)}", 2 * embed),
            ("embedding projection", f"(embedding_size {show(embed)} + 1) x hidden_size {show(hidden)}",
             embed * hidden + hidden),
            ("layers", f"{show(distinct)} layer(s) with weights of their own x {show(layer)} parameters each "
             f"(hidden_size {show(hidden)}, intermediate_size {show(inner)})", distinct * layer),
            ("pooler", f"(hidden_size {show(hidden)} + 1) x hidden_size {show(hidden)}", hidden * hidden + hidden),
            ("masked-LM head", f"hidden_size {show(hidden)} x embedding_size {show(embed)} + vocab_size {show(vocab)} "
             "bias", hidden * embed + 3 * embed + vocab),
            ("classifier", f"(hidden_size {show(hidden)} + 1) x num_labels {show(labels)}", hidden * labels + labels),
            ("multiple-choice classifier", f"hidden_size {show(hidden)} + 1", hidden + 1),
        ]  # fmt: skip

    def parameter_count(self, architecture: str = "AlbertForPreTraining") -> int:
        """The parameters of the model class ``architecture`` (``"AlbertModel"``,
        ``"AlbertForMaskedLM"``, ...) built from this config, shared weights counted once (the
        MLM decoder is the word embeddings): computed from the config, with nothing built.

        Raises:
            OptionError: an unknown class name.
        """
        parts = {name: count for name, _, count in self._parameter_parts()}
        encoder = sum(parts[name] for name in ("word embeddings", "position embeddings", "token type embeddings",
                                               "embedding LayerNorm", "embedding projection", "layers"))
        heads = {
            "AlbertModel": ("pooler",),
            "AlbertForPreTraining": ("pooler", "masked-LM head", "classifier"),
            "AlbertForMaskedLM": ("masked-LM head",),
            "AlbertForSequenceClassification": ("pooler", "classifier"),
            "AlbertForTokenClassification": ("classifier",),
            "AlbertForQuestionAnswering": ("classifier",),
            "AlbertForMultipleChoice": ("pooler", "multiple-choice classifier"),
        }
        if architecture not in heads:
            raise OptionError(f"unknown model class {architecture!r}; choose one of: {', '.join(heads)}")
        return encoder + sum(parts[name] for name in heads[architecture])

    def parameter_bytes(self) -> int:
        """Bytes of float32 parameters of the largest model this config describes (the pretraining
        model: encoder, pooler, masked-LM head and a classifier of num_labels outputs)."""
        return _PARAMETER_BYTES * self.parameter_count("AlbertForPreTraining")

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> AlbertConfig:
        """The config of a released checkpoint, e.g. ``AlbertConfig.preset("albert-xxlarge-v2")``.

        Accepts ``albert-base-v2``, ``albert/albert-base-v2`` and ``base-v2``; ``overrides``
        replace fields (e.g. ``num_labels=3``).
        """
        key = name.split("/")[-1]
        if not key.startswith("albert-"):
            key = f"albert-{key}"
        if key not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
        return cls(**{**copy.deepcopy(PRESETS[key]), **overrides})

    # -- dict and json ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AlbertConfig:
        """Build from a config.json-style dict (label keys may be strings, as JSON makes them).

        Raises:
            ConfigError: see :meth:`validate`.
        """
        values = dict(values)
        if values.get("model_type", "albert") != "albert":
            raise ConfigError(f"this config is for model_type {show(values['model_type'])}, not 'albert'")
        num_labels = values.pop("num_labels", None)
        for key in ("id2label", "label2id"):
            if values.get(key) is None:
                values.pop(key, None)  # null: the default
        if "id2label" in values:
            if num_labels is not None:
                _check_num_labels(num_labels)  # id2label decides, as in transformers
            return cls(**values)
        if num_labels is not None:
            values.pop("label2id", None)
        return cls(num_labels=num_labels, **values)

    def to_dict(self) -> dict[str, Any]:
        """A config.json-style dict that transformers reads (extras merged back at top level)."""
        # Not dataclasses.asdict: it copies a label map entry by entry, 4 s for 100,000 labels.
        values = {spec.name: getattr(self, spec.name) for spec in fields(self) if spec.name != "extra"}
        extra = copy.deepcopy(self.extra)
        values["id2label"] = {str(k): v for k, v in self.id2label.items()}
        values["label2id"] = dict(self.label2id)
        # Like transformers, leave out what equals the implicit default, so a released config
        # reads back as released.
        if self.id2label == {0: "LABEL_0", 1: "LABEL_1"} and self.label2id == {"LABEL_0": 0, "LABEL_1": 1}:
            del values["id2label"], values["label2id"]
        for key, default in (("problem_type", None), ("position_embedding_type", "absolute")):
            if values[key] == default:
                del values[key]
        merged = {**extra, **values}
        return dict(sorted(merged.items()))

    @classmethod
    def from_json_file(cls, path: str | os.PathLike[str]) -> AlbertConfig:
        """Read a config.json (bounded in size and nesting: :func:`albert.json_files.read_json_file`).

        Raises:
            ConfigError: the file is not JSON, too large, too deep, not an object, or does not
                describe a model albert can build; the message names the file.
        """
        values = read_json_file(path, error=ConfigError, what="a model config")
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must hold a JSON object, found {type(values).__name__}")
        try:
            return cls.from_dict(values)
        except ConfigError as error:
            raise ConfigError(f"{path} does not describe an ALBERT model: {error}") from None

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` into ``save_directory`` (created if needed); returns its path."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(folder / CONFIG_NAME, self.to_json_string())

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], **kwargs: Any) -> AlbertConfig:
        """Load ``config.json`` of a folder, a shipped model, or a Hub id; ``kwargs`` override fields.

        A preset name (``albert-base-v2``) that is neither a folder nor reachable online still
        gives its released config.
        """
        from .hub import ModelNotFoundError, resolve_file

        hub_kwargs = {
            key: kwargs.pop(key)
            for key in ("revision", "cache_dir", "local_files_only", "token")
            if key in kwargs
        }
        try:
            config = cls.from_json_file(resolve_file(name_or_path, CONFIG_NAME, **hub_kwargs))
        except ModelNotFoundError:
            if str(name_or_path).split("/")[-1] not in PRESETS:
                raise
            config = cls.preset(str(name_or_path))
        config.apply_overrides(kwargs, keep_unknown=True, caller="AlbertConfig.from_pretrained()")
        return config

    def apply_overrides(self, overrides: Mapping[str, Any], *, keep_unknown: bool, caller: str) -> None:
        """Set fields (and ``num_labels``) from the keyword arguments of ``caller``, then validate;
        on any error the config is left as it was.

        Args:
            keep_unknown: keep keys this class knows nothing of in ``extra``, as the keys of a
                config.json are kept; otherwise they are an error.
            caller: the call named in errors, e.g. ``"AlbertModel.from_pretrained()"``.

        Raises:
            OptionTypeError: a key that names a method or property (``to_dict``, ``head_dim``) rather than
                a field, or an unknown key without ``keep_unknown``.
            ConfigError: the changed config cannot be built (see :meth:`validate`).
        """
        names = {spec.name for spec in fields(self)}
        changed = self.copy()
        for key, value in overrides.items():
            if key == "num_labels":
                changed.num_labels = value
            elif key in names - {"id2label", "label2id"}:
                setattr(changed, key, value)
            elif key in names:
                continue  # the label maps: set together below
            elif keep_unknown and not hasattr(type(self), key):
                changed.extra[key] = value
            else:
                kind = "a method or property of AlbertConfig" if hasattr(type(self), key) else "not a config field"
                raise OptionTypeError(
                    f"{caller} got an unexpected argument {key!r} ({kind}); config fields are num_labels, "
                    f"{', '.join(sorted(names - {'extra'}))}"
                )
        if "id2label" in overrides or "label2id" in overrides:
            changed._set_labels(
                overrides.get("id2label", changed.id2label),
                overrides.get("label2id", changed.label2id if "id2label" not in overrides else None),
            )
        changed.validate()
        self.__dict__.update(changed.__dict__)

    def copy(self) -> AlbertConfig:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlbertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"AlbertConfig {self.to_json_string()}"


def _is_json(value: Any) -> bool:
    """Whether ``value`` is made of what JSON writes and reads back unchanged (an integer of at most
    100 digits, the most albert's reader reads; no tuples, no non-string keys), walked without
    recursion (the caller has bounded its depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (bool, str)):
            continue
        if isinstance(item, int):
            if item.bit_length() > 330:
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        else:
            return False
    return True


def _check_num_labels(value: Any, field_name: str = "num_labels") -> None:
    if not _is_integer(value):
        raise ConfigError(f"{field_name} must be an integer, got {show(value)}")
    if value < 1:
        raise ConfigError(f"{field_name} must be at least 1, got {show(value)}")
    if value > MAX_NUM_LABELS:
        raise ConfigError(
            f"{field_name} must be at most {MAX_NUM_LABELS:,} (albert's bound on a classifier's labels, "
            f"MAX_NUM_LABELS), got {show(value)}"
        )


def _label_id(value: Any, where: str) -> int:
    """A label id: an integer, or its digits as a JSON key writes it."""
    if _is_integer(value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value):
        return int(value)
    raise ConfigError(f"{where} must be a label id (an integer from 0), got {show(value)}")


def _label_name(value: Any, where: str) -> str:
    """A label name: a string (an integer is taken as its digits, e.g. ratings 1..5)."""
    if isinstance(value, str):
        return value
    if _is_integer(value) and abs(value) < 10**18:
        return str(value)
    raise ConfigError(f"{where} must be a label name (a string), got {show(value)}")


def _is_placeholder(labels: Mapping[Any, Any]) -> bool:
    """Whether a label map is transformers' default ``LABEL_i`` naming (it says nothing of the
    labels: a ``label2id`` left so beside a real ``id2label`` is remade from it)."""
    if all(isinstance(key, str) for key in labels):  # label2id
        return all(labels.get(f"LABEL_{index}") == index for index in range(len(labels)))
    return all(labels.get(index) == f"LABEL_{index}" for index in range(len(labels)))
