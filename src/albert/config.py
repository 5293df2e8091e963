"""ALBERT's configuration: the same fields, names and defaults as transformers' ``AlbertConfig``.

A config.json written here loads in transformers and the reverse; keys this class does not know
(``down_scale_factor``, ``gap_size``, ``transformers_version``, ...) are kept in ``extra`` and
written back, so nothing is lost in a round trip.
"""

from __future__ import annotations

import copy
import json
import numbers
import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .atomic_files import write_text_atomic

CONFIG_NAME = "config.json"

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

@dataclass
class AlbertConfig:
    """Hyper-parameters of an ALBERT network, named as in transformers and in the paper.

    ``num_hidden_layers`` layers are computed, but only ``num_hidden_groups * inner_group_num``
    layers have their own weights (cross-layer sharing, paper section 3.1); ``embedding_size``
    (E) may be smaller than ``hidden_size`` (H): the factorized embedding parameterization.
    Defaults are those of transformers' AlbertConfig (the xxlarge shape).
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
        known = {f.name for f in fields(self)}
        for spec in fields(self):
            if spec.name == "extra":
                continue
            if spec.name in kwargs:
                value = kwargs.pop(spec.name)
            elif spec.default_factory is not MISSING:
                value = spec.default_factory()  # type: ignore[misc]
            else:
                value = spec.default
            setattr(self, spec.name, value)
        self.extra = dict(kwargs.pop("extra", {}) or {})
        self.extra.update({key: value for key, value in kwargs.items() if key not in known})
        self._check_field_types()
        try:
            self.id2label = {int(index): str(label) for index, label in self.id2label.items()}
            self.label2id = {str(label): int(index) for label, index in self.label2id.items()}
        except (TypeError, ValueError):
            raise ValueError(
                f"id2label must map label ids (integers) to names and label2id names to ids, got "
                f"id2label={self.id2label!r}, label2id={self.label2id!r}"
            ) from None
        if num_labels is not None and num_labels != len(self.id2label):
            self.num_labels = num_labels
        self.validate()

    # -- labels -------------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        """Number of labels of a classification head (the length of ``id2label``)."""
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"num_labels must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"num_labels must be at least 1, got {value}")
        self.id2label = {index: f"LABEL_{index}" for index in range(value)}
        self.label2id = {label: index for index, label in self.id2label.items()}

    @property
    def layers_per_group(self) -> int:
        """How many consecutive layers reuse one group's weights."""
        return self.num_hidden_layers // self.num_hidden_groups

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def _check_field_types(self) -> None:
        """Reject values of the wrong kind (``"vocab_size": "30000"``, ``true``, a list), naming the field."""
        for spec in fields(self):
            value, kind = getattr(self, spec.name), str(spec.type)  # the annotation, as a string
            if value is None and kind.endswith("| None"):
                continue
            kind = kind.removesuffix(" | None")
            if kind == "int":
                good, wanted = isinstance(value, numbers.Integral) and not isinstance(value, bool), "an integer"
            elif kind == "float":
                good, wanted = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
            elif kind == "str":
                good, wanted = isinstance(value, str), "a string"
            elif kind.startswith("dict"):
                good, wanted = isinstance(value, dict), "a JSON object"
            else:
                continue
            if not good:
                raise ValueError(f"{spec.name} must be {wanted}, got {value!r}")

    def validate(self) -> None:
        """Reject values of the wrong kind and shapes the network cannot be built with, naming the values."""
        self._check_field_types()
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if not 1 <= self.num_hidden_groups <= self.num_hidden_layers:
            raise ValueError(
                f"num_hidden_groups ({self.num_hidden_groups}) must be between 1 and "
                f"num_hidden_layers ({self.num_hidden_layers})"
            )
        if self.num_hidden_layers % self.num_hidden_groups:
            raise ValueError(
                f"num_hidden_layers ({self.num_hidden_layers}) must be a multiple of num_hidden_groups "
                f"({self.num_hidden_groups}): each group serves the same number of layers"
            )
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "inner_group_num",
                     "intermediate_size", "max_position_embeddings"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.position_embedding_type not in ("absolute", "relative_key", "relative_key_query"):
            raise ValueError(
                f"position_embedding_type {self.position_embedding_type!r} is not one of "
                "'absolute', 'relative_key', 'relative_key_query'"
            )

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
            raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
        return cls(**{**copy.deepcopy(PRESETS[key]), **overrides})

    # -- dict and json ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AlbertConfig:
        """Build from a config.json-style dict (label keys may be strings, as JSON makes them)."""
        values = dict(values)
        model_type = values.get("model_type", "albert")
        if model_type != "albert":
            raise ValueError(f"this config is for model_type {model_type!r}, not 'albert'")
        num_labels = values.pop("num_labels", None)
        for key in ("id2label", "label2id"):
            if values.get(key) is not None and not isinstance(values[key], dict):
                raise ValueError(f"{key} must be a JSON object, got {values[key]!r}")
        if "id2label" in values and values["id2label"] is not None:
            try:
                values["id2label"] = {int(k): v for k, v in values["id2label"].items()}
            except ValueError:
                raise ValueError(f"id2label keys must be label ids (integers), got {values['id2label']!r}") from None
            if "label2id" not in values or values["label2id"] is None:
                values["label2id"] = {v: k for k, v in values["id2label"].items()}
        elif num_labels is not None:
            values.pop("label2id", None)
            return cls(num_labels=num_labels, **values)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A config.json-style dict that transformers reads (extras merged back at top level)."""
        values = asdict(self)
        extra = values.pop("extra")
        values["id2label"] = {str(k): v for k, v in self.id2label.items()}
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
    def from_json_file(cls, path: str | os.PathLike) -> AlbertConfig:
        """Read a config.json; a broken file is reported with its path."""
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object, found {type(values).__name__}")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} does not describe an ALBERT model: {error}") from None

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write ``config.json`` into ``save_directory`` (created if needed); returns its path."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(folder / CONFIG_NAME, self.to_json_string())

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> AlbertConfig:
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
        """Set fields (and ``num_labels``) from the keyword arguments of ``caller``, then validate.

        Args:
            keep_unknown: keep keys this class knows nothing of in ``extra``, as the keys of a
                config.json are kept; otherwise they are an error.
            caller: the call named in errors, e.g. ``"AlbertModel.from_pretrained()"``.

        Raises:
            TypeError: a key that names a method or property (``to_dict``, ``head_dim``) rather than
                a field, or an unknown key without ``keep_unknown``.
            ValueError: the changed config cannot be built (see :meth:`validate`).
        """
        names = {spec.name for spec in fields(self)}
        for key, value in overrides.items():
            if key == "num_labels":
                self.num_labels = value
            elif key in names:
                setattr(self, key, value)
            elif keep_unknown and not hasattr(type(self), key):
                self.extra[key] = value
            else:
                kind = "a method or property of AlbertConfig" if hasattr(type(self), key) else "not a config field"
                raise TypeError(
                    f"{caller} got an unexpected argument {key!r} ({kind}); config fields are num_labels, "
                    f"{', '.join(sorted(names - {'extra'}))}"
                )
        self.validate()

    def copy(self) -> AlbertConfig:
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlbertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"AlbertConfig {self.to_json_string()}"

