"""Original TensorFlow ALBERT checkpoints, release tarballs and TF-Hub modules -> albert folders.

:func:`convert_tf_checkpoint` takes what google-research/albert released: a checkpoint prefix
(``model.ckpt-best``), the folder of a release, or its tarball (``albert_base_v2.tar.gz``,
unpacked into a temporary folder, refusing members that would land outside it).
:func:`convert_tf_hub` takes a TF-Hub module (a SavedModel whose variables carry the same names).
Both write config.json, model.safetensors and the tokenizer through ``save_pretrained``, and
return a :class:`ConversionReport` that accounts for every TF variable: used, or skipped as
optimizer state or bookkeeping. Anything else, and any model weight left unfilled, is a
:class:`ConversionError` that lists the names.

TensorFlow (the ``tf`` extra) is imported inside the functions that read a checkpoint, never when
albert or albert.convert is imported; only variable names, shapes and values are read, no graph
is run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..atomic_files import check_writable
from ..checkpoint_files import SAFE_WEIGHTS_NAME, TOKENIZER_FILES, one_line
from ..config import CONFIG_NAME, AlbertConfig
from ..errors import CheckpointError, ModelNotFoundError
from ..modeling import MODEL_CLASSES
from ..output_lock import folder_lock
from ..tokenization_base import BaseTokenizer
from ..tokenizer import AlbertTokenizer
from ..wordpiece import AlbertWordPieceTokenizer
from .tf_config import read_original_config
from .tf_names import (
    VariableMatch,
    architecture_for,
    identity_weight,
    match_variables,
    skip_kind,
    tf_to_torch_name,
    tf_to_torch_tensor,
)

INSTALL_HINT = "albert convert needs TensorFlow: pip install 'albert-lm[tf]'"
CONFIG_FILE = "albert_config.json"
#: The SentencePiece model of every English release and TF-Hub module.
RELEASE_VOCAB = "30k-clean.model"
_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
_SHOWN = 12  # names listed in one error
#: Suffixes of the files TF writes for one checkpoint prefix.
_CHECKPOINT_FILE = re.compile(r"\.(index|meta|data-\d+-of-\d+)$")
#: Names that say "tar archive" (and tarfile's mode for each), so that an unreadable one is called
#: that rather than "not a checkpoint".
_ARCHIVE_SUFFIXES: dict[str, Literal["r:", "r:gz", "r:bz2", "r:xz"]] = {
    ".tar": "r:", ".tar.gz": "r:gz", ".tgz": "r:gz", ".tar.bz2": "r:bz2", ".tbz2": "r:bz2", ".tar.xz": "r:xz",
    ".txz": "r:xz",
}  # fmt: skip
WHAT_TO_PASS = "pass a checkpoint prefix (.../model.ckpt-best), a release folder or its .tar.gz"


class ConversionError(CheckpointError):
    """A checkpoint that cannot become a complete albert model; the message lists what is wrong."""


@dataclass
class ConversionReport:
    """What a conversion did with every TF variable and every model weight.

    ``used``: TF variables written into the model; ``skipped``: optimizer slots and bookkeeping,
    and the pooler's weights when the architecture has no pooler (AlbertForMaskedLM);
    ``unknown``: variables neither used nor skippable (always empty in a returned report: they
    are an error); ``identity``: model weights set to an exact identity because the original
    network has no such variable (the embedding projection when E == H); ``weights``: model
    weights written, tied ones counted once.
    """

    source: str
    output: Path
    architecture: str
    used: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    identity: list[str] = field(default_factory=list)
    weights: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def filled(self) -> int:
        """Model weights filled from TF variables."""
        return self.weights - len(self.identity)

    def summary(self) -> str:
        """The printed check: counts per kind, and where the model went."""
        total = len(self.used) + len(self.skipped) + len(self.unknown)
        kinds = Counter(skip_kind(name) or f"pooler, not in {self.architecture}" for name in self.skipped)
        skipped_kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items()))
        lines = [
            f"checked {total:,} TF variables of {self.source}",
            f"  used     {len(self.used):>7,}  weights of {self.architecture}",
            f"  skipped  {len(self.skipped):>7,}  not weights of the model"
            + (f" ({skipped_kinds})" if skipped_kinds else ""),
            f"  unknown  {len(self.unknown):>7,}",
            f"model weights: {self.weights:,} of {self.weights:,} filled ({self.filled:,} from TF"
            + (f", {len(self.identity)} exact identity: {', '.join(self.identity)}" if self.identity else "")
            + "), none missing",
            f"wrote {self.output} ({', '.join(self.files)})",
        ]
        return "\n".join(lines)


# -- reading TF variables ---------------------------------------------------------------------------

def _tensorflow() -> Any:
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return tf


class TFVariables:
    """The variables of one TF checkpoint: names and shapes at once, values when asked for.

    Name-based checkpoints (TF1 ``Saver``: Google's releases, TF-Hub modules) are keyed by the
    variable names. Object-based ones (TF2 ``tf.train.Checkpoint``, ``tf.saved_model.save``) are
    keyed by object paths; their object graph gives each variable's name back, and the keys of
    the optimizer's objects keep their paths (skipped as optimizer state).

    Raises:
        ImportError: TensorFlow is not installed (:data:`INSTALL_HINT`).
        ModelNotFoundError: no checkpoint at ``prefix`` (see :func:`check_checkpoint_exists`).
        ConversionError: files at ``prefix`` that TensorFlow cannot read.
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        tf = _tensorflow()
        self.prefix = Path(prefix)
        check_checkpoint_exists(self.prefix)
        try:
            self._reader = tf.train.load_checkpoint(str(prefix))
            shapes = self._reader.get_variable_to_shape_map()
            names = self._object_names(shapes) if _OBJECT_GRAPH in shapes else {}
        except (tf.errors.OpError, ValueError, OSError) as error:
            raise ConversionError(
                f"TensorFlow cannot read the checkpoint {prefix} ({one_line(error)}): its {self.prefix.name}.index "
                f"and {self.prefix.name}.data-* files are damaged, incomplete or not written by TensorFlow"
            ) from None
        self._keys = {names.get(key, key): key for key in shapes}
        self.shapes: dict[str, tuple[int, ...]] = {
            name: tuple(int(size) for size in shapes[key]) for name, key in self._keys.items()
        }

    def _object_names(self, shapes: dict[str, Any]) -> dict[str, str]:
        from tensorflow.core.protobuf import trackable_object_graph_pb2

        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        graph.ParseFromString(self._reader.get_tensor(_OBJECT_GRAPH))
        names = {}
        for node in graph.nodes:
            for attribute in node.attributes:
                key = attribute.checkpoint_key
                optimizer_state = key.startswith("optimizer/") or "/.OPTIMIZER_SLOT/" in key
                if attribute.name == "VARIABLE_VALUE" and attribute.full_name and not optimizer_state:
                    names[key] = attribute.full_name
        # A name two objects share (Keras layers' "kernel") would hide one of them: such keys stay keys.
        counts = Counter(names.values())
        return {key: name for key, name in names.items() if key in shapes and counts[name] == 1}

    def read(self, name: str) -> np.ndarray:
        """The value of variable ``name``, as float32 (the dtype of the model) when it is a float."""
        array = np.asarray(self._reader.get_tensor(self._keys[name]))
        return array.astype(np.float32) if array.dtype.kind == "f" or array.dtype.name == "bfloat16" else array


def load_tf_checkpoint(checkpoint_prefix: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The ALBERT weights of a TF checkpoint as a transformers-named state dict (kernels transposed).

    Optimizer state and unknown names are left out; :func:`convert_tf_checkpoint` accounts for them.

    Raises:
        ImportError: TensorFlow is not installed.
        ModelNotFoundError: no checkpoint at the prefix.
        ConversionError: files at the prefix that TensorFlow cannot read.
    """
    variables = TFVariables(checkpoint_prefix)
    return {
        torch_name: tf_to_torch_tensor(name, variables.read(name))
        for name in variables.shapes
        if (torch_name := tf_to_torch_name(name)) is not None
    }


# -- finding the files of a release -----------------------------------------------------------------

def check_checkpoint_exists(prefix: Path) -> None:
    """Refuse a checkpoint prefix with no ``.index`` file, saying which of two things is wrong.

    Raises:
        ModelNotFoundError: nothing of that name (neither the path nor any checkpoint file of it)
            exists; other checkpoints beside it are named.
        ConversionError: data files without their index (an incomplete copy).
    """
    if prefix.with_name(prefix.name + ".index").is_file():
        return
    folder = prefix.parent
    data = _files(folder, f"{glob.escape(prefix.name)}.data-*", recursive=False) if folder.is_dir() else []
    if data:
        raise ConversionError(
            f"the checkpoint {prefix} has {data[0].name} but no {prefix.name}.index: the copy is incomplete; "
            "copy the .index file that was saved with it"
        )
    raise ModelNotFoundError(f"{prefix} does not exist{_beside(prefix)}: {WHAT_TO_PASS}")


def _beside(path: Path) -> str:
    """A hint naming the checkpoints in the folder ``path`` was looked for in, when it has any."""
    if not path.parent.is_dir():
        return f" (nor does the folder {path.parent})" if str(path.parent) not in ("", ".") else ""
    prefixes = sorted({index.name[: -len(".index")] for index in _files(path.parent, "*.index", recursive=False)})
    if not prefixes:
        return ""
    return f" (checkpoints in {path.parent}: {', '.join(prefixes[:5])}{', ...' if len(prefixes) > 5 else ''})"


def _check_named_archive(source: Path) -> None:
    """Refuse a file named as a tar archive (``.tar.gz``, ...) that tarfile cannot read, with the reason.

    Raises:
        ConversionError: the file is damaged, cut short or not of the kind its name says.
    """
    suffix = next((suffix for suffix in _ARCHIVE_SUFFIXES if source.name.endswith(suffix)), None)
    if suffix is None:
        return
    try:
        with tarfile.open(source, _ARCHIVE_SUFFIXES[suffix]):
            pass
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ConversionError(
            f"{source} is not a readable tar archive ({one_line(error)}): is the download complete?"
        ) from None


def _check_source(source: Path) -> None:
    """Say at once what is wrong with a path that is no archive, folder or checkpoint, before any
    of it is read: missing, an unreadable archive, or a file of another kind.

    Raises:
        ModelNotFoundError: ``source`` does not exist, as a path or as a checkpoint prefix.
        ConversionError: a file that is neither a tar archive nor a file of a TF checkpoint.
    """
    if source.is_dir() or _is_archive(source):
        return
    if not source.exists():
        check_checkpoint_exists(source)  # a prefix names no file of its own
        return
    _check_named_archive(source)
    if not source.is_file() or not _CHECKPOINT_FILE.search(source.name):
        raise ConversionError(
            f"{source} is neither a tar archive, a folder nor a file of a TF checkpoint (.index, .data-*, .meta): "
            f"{WHAT_TO_PASS}"
        )


@dataclass
class _Release:
    """Where the pieces of one model are: the checkpoint prefix, its config and its vocabulary."""

    prefix: Path
    config: Path | None
    vocab: Path | None
    label: str


def _files(root: Path, pattern: str, *, recursive: bool = True) -> list[Path]:
    # "._name" files are macOS metadata that tar archives made on a Mac carry beside each file.
    paths = root.rglob(pattern) if recursive else root.glob(pattern)
    return sorted(path for path in paths if path.is_file() and not path.name.startswith("._"))


def _pick(candidates: list[Path], near: Path, what: str, flag: str, preferred: str | None = None) -> Path | None:
    """The one candidate beside ``near`` (else anywhere), by ``preferred`` name when several."""
    if not candidates:
        return None
    pool = [path for path in candidates if path.parent == near] or candidates
    if preferred and len(pool) > 1:
        pool = [path for path in pool if path.name == preferred] or pool
    if len(pool) == 1:
        return pool[0]
    raise ConversionError(f"found several {what}: {', '.join(map(str, pool))}; pass the one to use with {flag}")


def _vocabularies(root: Path, *, recursive: bool = True) -> list[Path]:
    """SentencePiece models (the English releases' 30k-clean.model), else WordPiece vocabularies
    (the Chinese releases' vocab_chinese.txt)."""
    return _files(root, "*.model", recursive=recursive) or _files(root, "vocab*.txt", recursive=recursive)


def _tokenizer(vocab_file: Path, model_max_length: int) -> BaseTokenizer:
    """The release's tokenizer: SentencePiece for a .model, WordPiece for a vocab .txt (lowercasing,
    as every release was trained)."""
    if vocab_file.suffix == ".txt":
        return AlbertWordPieceTokenizer(vocab_file, model_max_length=model_max_length)
    return AlbertTokenizer(vocab_file, model_max_length=model_max_length)


def _savedmodel_prefix(folder: Path) -> Path | None:
    if (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file():
        prefix = folder / "variables" / "variables"
        if prefix.with_name("variables.index").is_file():
            return prefix
    return None


def _checkpoint_prefixes(root: Path) -> list[Path]:
    """Checkpoint prefixes under ``root`` (SavedModels' own variables left out)."""
    return [
        index.with_suffix("")
        for index in _files(root, "*.index")
        if not (index.name == "variables.index" and _savedmodel_prefix(index.parent.parent) is not None)
    ]


def _choose_prefix(prefixes: list[Path], root: Path) -> Path:
    if len(prefixes) == 1:
        return prefixes[0]
    best = [prefix for prefix in prefixes if prefix.name == "model.ckpt-best"]
    if len(best) == 1:
        return best[0]
    steps = {prefix: re.fullmatch(r".*-(\d+)", prefix.name) for prefix in prefixes}
    if all(steps.values()) and len({prefix.parent for prefix in prefixes}) == 1:
        return max(prefixes, key=lambda prefix: int(steps[prefix].group(1)))  # type: ignore[union-attr]
    raise ConversionError(
        f"found several checkpoints in {root}: {', '.join(str(p.relative_to(root)) for p in prefixes)}; "
        "pass the prefix of the one to convert (e.g. .../model.ckpt-best)"
    )


def _release_in_folder(root: Path, label: str) -> _Release:
    """The checkpoint (or TF-Hub module), config and vocabulary of an unpacked release."""
    prefixes = _checkpoint_prefixes(root)
    if prefixes:
        prefix = _choose_prefix(prefixes, root)
    else:
        modules = [path.parent for path in _files(root, "saved_model.pb*") if _savedmodel_prefix(path.parent)]
        if not modules:
            raise ConversionError(
                f"found no TF checkpoint in {label}: expected model.ckpt-*.index (a checkpoint) or saved_model.pb "
                "with variables/ (a TF-Hub module)"
            )
        if len(modules) > 1:
            raise ConversionError(f"found several TF-Hub modules in {label}: {', '.join(map(str, modules))}")
        prefix = modules[0] / "variables" / "variables"
    home = prefix.parent if prefix.parent.name != "variables" else prefix.parent.parent / "assets"
    config = _pick(_files(root, CONFIG_FILE), home, f"{CONFIG_FILE} files in {label}", "--config")
    vocab = _pick(_vocabularies(root), home, f"vocabularies in {label}", "--vocab", RELEASE_VOCAB)
    inside = prefix.relative_to(root)
    return _Release(prefix, config, vocab, f"{label}:{inside}" if label != str(root) else str(prefix))


def _release_at_prefix(prefix: Path) -> _Release:
    """A checkpoint given by its prefix (or one of its files); config and vocabulary beside it."""
    for suffix in (".index", ".meta"):
        if prefix.name.endswith(suffix) and prefix.is_file():
            prefix = prefix.with_name(prefix.name[: -len(suffix)])
    prefix = prefix.with_name(re.sub(r"\.data-\d+-of-\d+$", "", prefix.name))
    check_checkpoint_exists(prefix)
    folder = prefix.parent
    config = folder / CONFIG_FILE
    vocab = _pick(_vocabularies(folder, recursive=False), folder, f"vocabularies beside {prefix}", "--vocab",
                  RELEASE_VOCAB)
    return _Release(prefix, config if config.is_file() else None, vocab, str(prefix))


@contextlib.contextmanager
def _unpacked(archive: Path) -> Iterator[Path]:
    """Unpack a tar archive into a temporary folder (removed afterwards) with tarfile's ``data``
    filter: members that would land outside it (``..``, links pointing out, devices) refuse the
    whole archive; absolute names are unpacked inside it."""
    if not hasattr(tarfile, "data_filter"):
        raise ConversionError(
            f"unpacking {archive} safely needs tarfile's extraction filters (Python 3.10.12+, 3.11.4+): "
            "upgrade Python, or unpack it yourself and pass the folder"
        )
    with tempfile.TemporaryDirectory(prefix="albert-convert-") as folder:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
        except tarfile.FilterError as error:
            raise ConversionError(
                f"refusing {archive}: {error}. A release archive holds plain files under one folder; this one "
                "would write elsewhere, so nothing from it is used"
            ) from None
        except (tarfile.TarError, EOFError) as error:
            raise ConversionError(f"{archive} is not a readable tar archive ({one_line(error)})") from None
        except OSError as error:
            raise ConversionError(f"could not unpack {archive} ({one_line(error)})") from None
        yield Path(folder)


def _is_archive(path: Path) -> bool:
    if not path.is_file() or path.name.endswith((".index", ".meta")) or ".data-" in path.name:
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


@contextlib.contextmanager
def _located(source: Path, find_in_folder: Any) -> Iterator[_Release]:
    _check_source(source)
    if _is_archive(source):
        with _unpacked(source) as folder:
            yield find_in_folder(folder, source.name)
    elif source.is_dir():
        yield find_in_folder(source, str(source))
    else:
        yield _release_at_prefix(source)


# -- converting ---------------------------------------------------------------------------------------

def convert_tf_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    vocab: str | os.PathLike[str] | None = None,
) -> ConversionReport:
    """Convert an original ALBERT checkpoint (google-research/albert) into an albert folder.

    Args:
        checkpoint: a checkpoint prefix (``.../model.ckpt-best``, or one of its files), the folder
            of a release, or the release tarball itself (``albert_base_v2.tar.gz``).
        out: the folder to write config.json, model.safetensors and spiece.model into.
        config: the release's ``albert_config.json``; found beside the checkpoint (or in the
            folder or tarball) when not given.
        vocab: the release's vocabulary, the SentencePiece ``30k-clean.model`` (or the WordPiece
            ``vocab_chinese.txt`` of the Chinese releases); found likewise.

    Returns:
        The report of every TF variable and model weight (:meth:`ConversionReport.summary`).

    Raises:
        ImportError: TensorFlow is not installed.
        ModelNotFoundError: no such checkpoint, config or vocabulary (a ``FileNotFoundError``);
            checked before anything is read.
        OSError: ``out`` cannot be written (checked before the checkpoint is read).
        FolderInUseError: another process is writing ``out`` (checked before the checkpoint is read).
        ConversionError: a path that is no archive, folder or checkpoint; an unreadable or hostile
            archive, no checkpoint in it, variables neither
            used nor skippable, model weights nothing fills, or shapes the config contradicts.
    """
    with _located(Path(checkpoint).expanduser(), _release_in_folder) as release:
        return _convert(release, Path(out).expanduser(), config, vocab)


def _module_in_folder(root: Path, label: str) -> _Release:
    modules = [path.parent for path in _files(root, "saved_model.pb*") if _savedmodel_prefix(path.parent)]
    if len(modules) != 1:
        found = f"several ({', '.join(map(str, modules))})" if modules else "none"
        raise ConversionError(
            f"{label} is not a TF-Hub module: expected one folder with saved_model.pb and variables/, found {found}"
        )
    module = modules[0]
    assets = module / "assets"
    vocab = _pick(_vocabularies(assets) if assets.is_dir() else [], assets, f"vocabularies in {assets}", "--vocab",
                  RELEASE_VOCAB)
    config = assets / CONFIG_FILE
    return _Release(module / "variables" / "variables", config if config.is_file() else None, vocab, label)


def convert_tf_hub(
    module: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    vocab: str | os.PathLike[str] | None = None,
) -> ConversionReport:
    """Convert an ALBERT TF-Hub module (a SavedModel with the original variable names) into a folder.

    The vocabulary is the module's ``assets/30k-clean.model``; the config its
    ``assets/albert_config.json`` (v2 modules ship one; for v1 modules pass the release's with
    ``config``). Variables may carry a ``module/`` prefix and a ``:0`` suffix.

    Raises:
        ImportError: TensorFlow is not installed.
        ModelNotFoundError: no such folder or archive (a ``FileNotFoundError``).
        ConversionError: not a SavedModel, no config or vocabulary, or an incomplete match (see
            :func:`convert_tf_checkpoint`).
    """
    source = Path(module).expanduser()
    if not source.exists():
        raise ModelNotFoundError(
            f"{source} does not exist: pass a TF-Hub module's folder (with saved_model.pb) or its .tar.gz"
        )
    if not (source.is_dir() or _is_archive(source)):
        _check_named_archive(source)
        raise ConversionError(f"{source} is not a TF-Hub module: pass its folder (with saved_model.pb) or its .tar.gz")
    with _located(source, _module_in_folder) as release:
        if config is None and release.config is None:
            raise ConversionError(
                f"the TF-Hub module {release.label} has no assets/{CONFIG_FILE} (v1 modules ship none): pass the "
                f"{CONFIG_FILE} of the same model, from its release tarball, with --config"
            )
        return _convert(release, Path(out).expanduser(), config, vocab)


def _convert(
    release: _Release, out: Path, config_path: str | os.PathLike[str] | None, vocab_path: str | os.PathLike[str] | None
) -> ConversionReport:
    config_file = Path(config_path).expanduser() if config_path is not None else release.config
    vocab_file = Path(vocab_path).expanduser() if vocab_path is not None else release.vocab
    if config_file is None:
        raise ConversionError(f"found no {CONFIG_FILE} for {release.label}: pass the release's config with --config")
    if vocab_file is None:
        raise ConversionError(
            f"found no vocabulary ({RELEASE_VOCAB}, or vocab*.txt for the Chinese releases) for {release.label}: "
            "pass it with --vocab"
        )
    if not vocab_file.is_file():
        raise ModelNotFoundError(
            f"the vocabulary {vocab_file} does not exist: pass the release's {RELEASE_VOCAB} (or vocab .txt) "
            "with --vocab"
        )
    config = read_original_config(config_file)
    _check_out(out)
    with folder_lock(out):  # a second conversion into ``out`` is refused at once, before the reading
        return _convert_into(out, release, config, config_file, vocab_file)


def _convert_into(out: Path, release: _Release, config: AlbertConfig, config_file: Path, vocab_file: Path
                  ) -> ConversionReport:
    tokenizer = _tokenizer(vocab_file, config.max_position_embeddings)
    if tokenizer.vocab_size > config.vocab_size:
        raise ConversionError(
            f"{vocab_file} has {tokenizer.vocab_size:,} pieces but {config_file} says vocab_size "
            f"{config.vocab_size:,}: they are not of the same model"
        )

    variables = TFVariables(release.prefix)
    architecture = architecture_for(variables.shapes)
    model = MODEL_CLASSES[architecture](config).eval()
    params = dict(model.named_parameters())  # tied weights once, under the name that is saved
    match = match_variables(
        variables.shapes, {name: tuple(p.shape) for name, p in params.items()},
        config.embedding_size, config.hidden_size,
    )  # fmt: skip
    if not match.complete:
        raise ConversionError(_incomplete(match, release.label, architecture, config))

    with torch.no_grad():
        for tf_name, name in match.used.items():
            params[name].copy_(tf_to_torch_tensor(tf_name, variables.read(tf_name)))
        for name in match.identity:
            params[name].copy_(identity_weight(name, tuple(params[name].shape)))
    model.save_pretrained(out, tokenizer=tokenizer)  # all or nothing: a failed save leaves ``out`` as it was
    return ConversionReport(
        source=release.label, output=out, architecture=architecture, used=sorted(match.used),
        skipped=sorted(match.skipped + match.no_pooler), unknown=match.unknown, identity=match.identity,
        weights=len(params),
        files=[name for name in (CONFIG_NAME, SAFE_WEIGHTS_NAME, *TOKENIZER_FILES) if (out / name).is_file()],
    )  # fmt: skip


def _check_out(out: Path) -> None:
    """Refuse an output folder that cannot be made or written, before the work that would fill it."""
    existing = next(path for path in (out, *out.parents) if path.exists())
    if not existing.is_dir():
        raise ConversionError(f"cannot write the model to {out}: {existing} is a file, not a folder")
    # A temporary made where the first file will go: what a read-only file system refuses.
    check_writable(out / CONFIG_NAME if existing == out else existing / out.relative_to(existing).parts[0])


def _listed(names: list[str]) -> str:
    more = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f" (and {more} more)" if more > 0 else "")


def _incomplete(match: VariableMatch, label: str, architecture: str, config: AlbertConfig) -> str:
    problems = []
    if match.unknown:
        problems.append(
            f"{len(match.unknown)} TF variables are neither ALBERT weights nor optimizer state: "
            f"{_listed(match.unknown)} "
            "(a fine-tuned task head, or another model's checkpoint?)"
        )
    if match.unplaced:
        problems.append(
            f"{len(match.unplaced)} TF variables have no place in {architecture} with num_hidden_groups="
            f"{config.num_hidden_groups}, inner_group_num={config.inner_group_num}: {_listed(match.unplaced)}"
        )
    if match.mismatched:
        shown = [f"{name} {tuple(got)} vs {tuple(want)}" for name, got, want in match.mismatched]
        problems.append(
            f"{len(shown)} TF variables do not have the shape the config gives (torch layout): {_listed(shown)}"
        )
    if match.missing:
        problems.append(
            f"{len(match.missing)} weights of {architecture} are in no TF variable: {_listed(match.missing)}"
        )
    return (
        f"cannot convert {label} completely; nothing was written. " + "; ".join(problems)
        + ". Check that the config is the checkpoint's own albert_config.json."
    )


