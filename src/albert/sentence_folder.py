"""A sentence-embedding model's saved settings, in the folder format sentence-transformers reads.

A model folder (config.json, weights, tokenizer) becomes a sentence-embedding folder when it also
holds the files of a ``sentence_transformers.SentenceTransformer``::

    modules.json                      Transformer at "", Pooling at "1_Pooling", Normalize at "2_Normalize"
    sentence_bert_config.json         max_seq_length (pieces, [CLS] and [SEP] included), do_lower_case,
                                      tokenizer_args {"use_fast": false} (SentencePiece's own pieces)
    1_Pooling/config.json             word_embedding_dimension and one pooling_mode_* flag
    2_Normalize/                      present when the vectors are scaled to length 1
    config_sentence_transformers.json model_type, similarity_fn_name "cosine", truncate_dim (the
                                      default dimension) and albert's own key "albert":
                                      {"matryoshka_dimensions": [...]}, which sentence-transformers
                                      ignores on load and drops when it saves the model again

:func:`read_sentence_config` reads those settings (from albert's folders and from
sentence-transformers' own, with the Transformer module at "" or in "0_Transformer/"), so that the
embeddings pipeline, ``albert embed``, ``albert serve`` and ``albert.spark`` use them by default;
:func:`write_sentence_config` writes them. Torch-free.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic_files import write_text_atomic
from .errors import OptionError, SentenceFolderError
from .json_files import read_json_file
from .version import __version__

#: The poolings albert runs, by sentence-transformers' flag in 1_Pooling/config.json.
POOLING_FLAGS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens"}
#: sentence-transformers' poolings albert does not run: a folder using one is refused, naming it.
UNSUPPORTED_POOLING_FLAGS = ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
#: The module types albert runs, by the last part of their Python name in modules.json.
MODULE_KINDS = ("Transformer", "Pooling", "Normalize")

MODULES_FILE = "modules.json"
SENTENCE_BERT_FILE = "sentence_bert_config.json"
POOLING_FOLDER = "1_Pooling"
NORMALIZE_FOLDER = "2_Normalize"
MODEL_CONFIG_FILE = "config_sentence_transformers.json"
#: What sentence-transformers passes its tokenizer (sentence_bert_config.json's ``tokenizer_args``):
#: transformers' SentencePiece ("slow") AlbertTokenizer gives albert's pieces on every text; the
#: converted fast one differs on some (a '▁' piece for trailing whitespace, some digit and hyphen
#: splits: docs/embeddings.md). transformers 5 has fast tokenizers only and ignores it.
SLOW_TOKENIZER = {"use_fast": False}
#: albert's key in config_sentence_transformers.json.
ALBERT_KEY = "albert"


@dataclass(frozen=True)
class SentenceEmbeddingConfig:
    """How a sentence-embedding model turns a text into one vector.

    Args:
        pooling: "mean" over the text's tokens ([CLS] and [SEP] included, as sentence-transformers
            pools), "cls" (the [CLS] vector) or "max" (per dimension, over the tokens).
        normalize: scale the vector to length 1 (after cutting it to ``dimension``).
        max_length: each text is cut to this many pieces, [CLS] and [SEP] included
            (sentence_bert_config.json's ``max_seq_length``); None: the model's window.
        dimension: the default output size, a prefix of the vector (Matryoshka); None: the hidden size.
        matryoshka_dimensions: the prefixes trained to work alone, largest first.

    Raises:
        OptionError: a pooling albert does not run, a size below 1, dimensions not largest first.
    """

    pooling: str = "mean"
    normalize: bool = True
    max_length: int | None = None
    dimension: int | None = None
    matryoshka_dimensions: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_FLAGS:
            raise OptionError(f"pooling must be one of {', '.join(POOLING_FLAGS)}, got {self.pooling!r}")
        if not isinstance(self.normalize, bool):
            raise OptionError(f"normalize must be true or false, got {self.normalize!r}")
        if self.max_length is not None and (not _is_int(self.max_length) or self.max_length < 3):
            raise OptionError(f"max_length must be at least 3 ([CLS], one piece, [SEP]), got {self.max_length!r}")
        if self.dimension is not None and (not _is_int(self.dimension) or self.dimension < 1):
            raise OptionError(f"dimension must be a whole number of at least 1, got {self.dimension!r}")
        dimensions = tuple(self.matryoshka_dimensions)
        if any(not _is_int(size) or size < 1 for size in dimensions):
            raise OptionError(f"matryoshka_dimensions must be whole numbers of at least 1, got {list(dimensions)}")
        if list(dimensions) != sorted(set(dimensions), reverse=True):
            raise OptionError(
                f"matryoshka_dimensions must be distinct and largest first, got {list(dimensions)}"
                f" (say {sorted(set(dimensions), reverse=True)})"
            )
        object.__setattr__(self, "matryoshka_dimensions", dimensions)

    def check_hidden_size(self, hidden_size: int) -> None:
        """Check the sizes against a model whose vectors have ``hidden_size`` entries.

        Raises:
            OptionError: a ``dimension`` or a Matryoshka dimension larger than ``hidden_size``.
        """
        larger = [size for size in (self.dimension, *self.matryoshka_dimensions) if size is not None and size > hidden_size]
        if larger:
            raise OptionError(
                f"dimension(s) {larger} are larger than the model's hidden size {hidden_size}: a prefix of a "
                f"vector cannot be longer than the vector"
            )

    def allowed_dimension(self, requested: int, hidden_size: int) -> bool:
        """Whether a caller may ask for vectors of ``requested`` entries: the hidden size, the saved
        ``dimension`` and the Matryoshka dimensions always; for a Matryoshka model (one with
        ``matryoshka_dimensions``) also any size up to the hidden size."""
        if requested in (hidden_size, self.dimension, *self.matryoshka_dimensions):
            return 1 <= requested <= hidden_size
        return bool(self.matryoshka_dimensions) and 1 <= requested <= hidden_size


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SentenceFolder:
    """What a sentence-transformers folder holds for albert: the settings, and the folder of its
    Transformer module (the model's config, weights and tokenizer: the folder itself, or
    ``0_Transformer/`` in older sentence-transformers folders)."""

    config: SentenceEmbeddingConfig
    transformer: Path


def read_sentence_folder(folder: str | os.PathLike[str]) -> SentenceFolder | None:
    """The sentence-embedding settings of ``folder`` and where its model is; None for a plain
    model folder (one without modules.json).

    Raises:
        SentenceFolderError: a file that cannot be read or a field albert cannot use (a module
            other than Transformer, Pooling and Normalize, a pooling albert does not run, a
            lower-casing the tokenizer would not do ...), naming the file and the field.
    """
    root = Path(folder)
    modules_path = root / MODULES_FILE
    if not modules_path.is_file():
        return None
    modules = _modules(modules_path)
    transformer = root / modules["Transformer"]
    pooling_folder = root / modules["Pooling"]
    max_length = _max_length(transformer / SENTENCE_BERT_FILE)
    pooling, width = _pooling(pooling_folder / "config.json")
    dimension, matryoshka = _model_config(root / MODEL_CONFIG_FILE)
    config = _made(
        root / MODEL_CONFIG_FILE, "truncate_dim",
        lambda: SentenceEmbeddingConfig(pooling=pooling, normalize="Normalize" in modules, max_length=max_length,
                                        dimension=dimension, matryoshka_dimensions=matryoshka),
    )  # fmt: skip
    hidden_size = _hidden_size(transformer / "config.json")
    if hidden_size is not None and width is not None and width != hidden_size:
        raise SentenceFolderError(
            f"{pooling_folder / 'config.json'}: the pooling's word_embedding_dimension is {width}, but the model's hidden_size "
            f"is {hidden_size}; the pooling must pool the model's own vectors"
        )
    if hidden_size is not None:
        _made(root / MODEL_CONFIG_FILE, "truncate_dim", lambda: config.check_hidden_size(hidden_size))
    return SentenceFolder(config, transformer)


def read_sentence_config(folder: str | os.PathLike[str]) -> SentenceEmbeddingConfig | None:
    """The sentence-embedding settings saved in ``folder``; None for a plain model folder.

    Raises:
        SentenceFolderError: as :func:`read_sentence_folder` says.
    """
    found = read_sentence_folder(folder)
    return None if found is None else found.config


def write_sentence_config(folder: str | os.PathLike[str], config: SentenceEmbeddingConfig, hidden_size: int) -> None:
    """Write sentence-transformers' files into ``folder``, a model folder ``save_pretrained`` of an
    encoder wrote (with its tokenizer), so that ``SentenceTransformer(folder)`` loads it and albert
    reads ``config`` back from it. Files of an earlier call are replaced.

    Raises:
        OptionError: a dimension larger than ``hidden_size``.
        OutputError, DiskFullError: a file could not be written.
    """
    config.check_hidden_size(hidden_size)
    root = Path(folder)
    modules: list[dict[str, Any]] = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": POOLING_FOLDER, "type": "sentence_transformers.models.Pooling"},
    ]
    if config.normalize:
        modules.append({"idx": 2, "name": "2", "path": NORMALIZE_FOLDER, "type": "sentence_transformers.models.Normalize"})
        (root / NORMALIZE_FOLDER).mkdir(exist_ok=True)
    elif (root / NORMALIZE_FOLDER).is_dir():
        shutil.rmtree(root / NORMALIZE_FOLDER)
    (root / POOLING_FOLDER).mkdir(exist_ok=True)
    pooling = {"word_embedding_dimension": hidden_size}
    pooling |= {flag: name == config.pooling for name, flag in POOLING_FLAGS.items()}
    pooling |= {flag: False for flag in UNSUPPORTED_POOLING_FLAGS}
    pooling["include_prompt"] = True
    model_config: dict[str, Any] = {
        "__version__": {"albert": __version__},
        "model_type": "SentenceTransformer",
        "prompts": {},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    if config.dimension is not None:
        model_config["truncate_dim"] = config.dimension
    model_config[ALBERT_KEY] = {"matryoshka_dimensions": list(config.matryoshka_dimensions)}
    _write_json(root / POOLING_FOLDER / "config.json", pooling)
    _write_json(root / SENTENCE_BERT_FILE, {
        "max_seq_length": config.max_length, "do_lower_case": False, "tokenizer_args": SLOW_TOKENIZER,
    })  # fmt: skip
    _write_json(root / MODEL_CONFIG_FILE, model_config)
    _write_json(root / MODULES_FILE, modules)  # last: a folder is a sentence folder once this exists


def _write_json(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2) + "\n")


# -- reading, one file at a time ------------------------------------------------------------------


def _read(path: Path, what: str) -> Any:
    return read_json_file(path, error=SentenceFolderError, what=what)


def _modules(path: Path) -> dict[str, str]:
    """modules.json as {kind: path}, checked: a Transformer first, a Pooling, an optional Normalize."""
    entries = _read(path, "sentence-transformers' list of modules")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SentenceFolderError(f"{path}: expected a list of modules ({{\"path\": ..., \"type\": ...}}), got {_shown(entries)}")
    kinds: dict[str, str] = {}
    for number, entry in enumerate(entries):
        kind_name = entry.get("type")
        module_path = entry.get("path", "")
        if not isinstance(kind_name, str) or not isinstance(module_path, str):
            raise SentenceFolderError(f"{path}: module {number} needs a \"type\" and a \"path\" as text, got {_shown(entry)}")
        kind = kind_name.rsplit(".", 1)[-1]
        if kind not in MODULE_KINDS or not kind_name.startswith("sentence_transformers."):
            raise SentenceFolderError(
                f"{path}: module {number} is {kind_name!r}, which albert does not run; albert runs "
                f"{', '.join(MODULE_KINDS)} (a folder with a Dense or other module needs sentence-transformers itself)"
            )
        if kind in kinds:
            raise SentenceFolderError(f"{path}: module {number} is a second {kind}; albert runs one of each")
        if Path(module_path).is_absolute() or ".." in Path(module_path).parts:
            raise SentenceFolderError(f"{path}: module {number}'s path {module_path!r} must be a folder inside the model folder")
        kinds[kind] = module_path
    order = [entry["type"].rsplit(".", 1)[-1] for entry in entries]
    if order[:2] != ["Transformer", "Pooling"]:
        raise SentenceFolderError(
            f"{path}: the modules are {order}; albert runs a Transformer, then a Pooling, then an optional Normalize"
        )
    return kinds


def _max_length(path: Path) -> int | None:
    if not path.is_file():
        return None  # sentence-transformers' default: the model's window
    settings = _read(path, "sentence-transformers' Transformer settings")
    if not isinstance(settings, dict):
        raise SentenceFolderError(f"{path}: expected an object, got {_shown(settings)}")
    if settings.get("do_lower_case", False) is not False:
        raise SentenceFolderError(
            f"{path}: do_lower_case is {settings['do_lower_case']!r}; albert reads only folders that leave casing "
            "to the tokenizer (false), as ALBERT's tokenizers lower-case themselves when their config says so"
        )
    length = settings.get("max_seq_length")
    if length is not None and (not _is_int(length) or length < 3):
        raise SentenceFolderError(f"{path}: max_seq_length must be a whole number of at least 3, got {length!r}")
    return length


def _pooling(path: Path) -> tuple[str, int | None]:
    """The pooling's name and its width, from sentence-transformers' older flags
    (``pooling_mode_mean_tokens: true``, ``word_embedding_dimension``) or its newer keys
    (``pooling_mode: "mean"``, ``embedding_dimension``)."""
    settings = _read(path, "sentence-transformers' Pooling settings")
    if not isinstance(settings, dict):
        raise SentenceFolderError(f"{path}: expected an object, got {_shown(settings)}")
    if "pooling_mode" in settings:
        mode = settings["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else mode
        if not isinstance(modes, list) or len(modes) != 1 or modes[0] not in POOLING_FLAGS:
            raise SentenceFolderError(
                f"{path}: pooling_mode is {_shown(mode)}; albert pools by one of {', '.join(POOLING_FLAGS)}"
            )
        chosen = modes
    else:
        unsupported = [flag for flag in UNSUPPORTED_POOLING_FLAGS if settings.get(flag)]
        if unsupported:
            raise SentenceFolderError(
                f"{path}: {', '.join(unsupported)} is set; albert pools by {', '.join(POOLING_FLAGS.values())} only"
            )
        chosen = [name for name, flag in POOLING_FLAGS.items() if settings.get(flag)]
        if len(chosen) != 1:
            raise SentenceFolderError(
                f"{path}: exactly one of {', '.join(POOLING_FLAGS.values())} must be true, got "
                f"{[POOLING_FLAGS[name] for name in chosen] or 'none'}"
            )
    width_key = "embedding_dimension" if "embedding_dimension" in settings else "word_embedding_dimension"
    width = settings.get(width_key)
    if width is not None and (not _is_int(width) or width < 1):
        raise SentenceFolderError(f"{path}: {width_key} must be a whole number, got {width!r}")
    return chosen[0], width


def _model_config(path: Path) -> tuple[int | None, tuple[int, ...]]:
    """config_sentence_transformers.json's truncate_dim and albert's Matryoshka dimensions."""
    if not path.is_file():
        return None, ()
    settings = _read(path, "sentence-transformers' model settings")
    if not isinstance(settings, dict):
        raise SentenceFolderError(f"{path}: expected an object, got {_shown(settings)}")
    if settings.get("default_prompt_name"):
        raise SentenceFolderError(
            f"{path}: default_prompt_name is {settings['default_prompt_name']!r}; albert does not put prompts before "
            "texts: set it to null (and put the prompt in the texts yourself)"
        )
    dimension = settings.get("truncate_dim")
    if dimension is not None and not _is_int(dimension):
        raise SentenceFolderError(f"{path}: truncate_dim must be a whole number or null, got {dimension!r}")
    extra = settings.get(ALBERT_KEY, {})
    if not isinstance(extra, dict):
        raise SentenceFolderError(f"{path}: {ALBERT_KEY!r} must be an object, got {_shown(extra)}")
    matryoshka = extra.get("matryoshka_dimensions", [])
    if not isinstance(matryoshka, list) or not all(_is_int(size) for size in matryoshka):
        raise SentenceFolderError(
            f"{path}: {ALBERT_KEY}.matryoshka_dimensions must be a list of whole numbers, got {_shown(matryoshka)}"
        )
    return dimension, tuple(matryoshka)


def _hidden_size(path: Path) -> int | None:
    """The model's hidden size from its config.json, when there is one to read."""
    if not path.is_file():
        return None
    settings = _read(path, "a model config")
    size = settings.get("hidden_size") if isinstance(settings, dict) else None
    return size if _is_int(size) else None


def _made(path: Path, field_name: str, make: Any) -> Any:
    """``make()``, its OptionError told as the file's error."""
    try:
        return make()
    except OptionError as refused:
        raise SentenceFolderError(f"{path}: {refused} (see {field_name} and {ALBERT_KEY}.matryoshka_dimensions)") from None


def _shown(value: Any) -> str:
    return json.dumps(value)[:80]
