"""Find a model's files: a shipped model, a local folder, or a Hub id downloaded and cached.

Every ``from_pretrained`` in the package goes through :func:`resolve_file`, so a model name means
the same thing to the model classes, the tokenizer and the pipelines, and an offline failure
says the same clear thing everywhere.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal, overload

from .errors import ModelNotFoundError as ModelNotFoundError  # re-exported: its home before albert.errors

#: The released checkpoints moved under the ``albert/`` organisation on the Hub; the short
#: names people type still work.
HUB_ALIASES = {
    f"albert-{size}-{version}": f"albert/albert-{size}-{version}"
    for size in ("base", "large", "xlarge", "xxlarge")
    for version in ("v1", "v2")
}

SHIPPED_MODELS_DIR = Path(__file__).resolve().parent / "models"


def shipped_models() -> dict[str, Path]:
    """Models that ship inside the package, by name (each a folder with a config.json)."""
    if not SHIPPED_MODELS_DIR.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(SHIPPED_MODELS_DIR.iterdir())
        if (folder / "config.json").is_file()
    }


def default_model() -> Path:
    """The model used when none is given: the first model shipped inside the package.

    Raises:
        ModelNotFoundError: no model ships with this installation; the message says to pass one.
    """
    shipped = shipped_models()
    if not shipped:
        raise ModelNotFoundError(
            "no model ships with this installation of albert, so there is no default model: pass "
            "model=... (Python) or --model ... (shell), naming a folder written by save_pretrained "
            "or a Hub id such as 'albert/albert-base-v2'"
        )
    return next(iter(shipped.values()))


def _shipped_names() -> str:
    return "shipped: " + (", ".join(shipped_models()) or "none")


def _looks_like_path(name_or_path: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else with separators is meant as a path."""
    return name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path


def local_folder(name_or_path: str | os.PathLike[str]) -> Path | None:
    """The local folder a name refers to (an existing folder or a shipped model), else None."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    return None


@overload
def resolve_file(
    name_or_path: str | os.PathLike[str],
    filename: str,
    *,
    required: Literal[True] = True,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path: ...


@overload
def resolve_file(
    name_or_path: str | os.PathLike[str],
    filename: str,
    *,
    required: bool,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path | None: ...


def resolve_file(
    name_or_path: str | os.PathLike[str],
    filename: str,
    *,
    required: bool = True,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path | None:
    """Return the local path of ``filename`` for a model given by folder, shipped name or Hub id.

    Args:
        name_or_path: a folder, the name of a model shipped with the package, or a Hub id such as
            ``"albert/albert-base-v2"`` (short names like ``"albert-base-v2"`` are accepted).
        filename: the file wanted inside the model, e.g. ``"config.json"``.
        required: when False, a file that the model simply does not have gives None instead of an
            error (used to try ``model.safetensors`` before ``pytorch_model.bin``).
        revision, cache_dir, local_files_only, token: passed to ``huggingface_hub``.

    Returns:
        The path of the file on disk, or None when ``required`` is False and the file is absent.

    Raises:
        ModelNotFoundError: the folder lacks a required file, the path does not exist, the Hub id
            is unknown, or the Hub cannot be reached and the file is not cached.
    """
    folder = local_folder(name_or_path)
    if folder is not None:
        candidate = folder / filename
        if candidate.is_file():
            return candidate
        if not required:
            return None
        present = sorted(p.name for p in folder.iterdir())
        raise ModelNotFoundError(
            f"{folder} has no {filename} (it holds: {', '.join(present) or 'nothing'}). "
            "A model folder needs config.json and model.safetensors (or pytorch_model.bin), "
            "as written by save_pretrained."
        )

    name = str(name_or_path)
    if _looks_like_path(name) or Path(name).expanduser().exists():
        raise ModelNotFoundError(
            f"no model folder at {Path(name).expanduser()}: the path does not exist or is not a folder."
        )
    return _download(
        HUB_ALIASES.get(name, name),
        filename,
        name=name,
        required=required,
        revision=revision,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
        token=token,
    )


# -- is the Hub reachable? ------------------------------------------------------------------------

#: How long the one connection probe waits for the Hub's host (per process; the answer is kept).
PROBE_TIMEOUT_SECONDS = 2.5
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # as huggingface_hub reads them


def hub_unreachable() -> str | None:
    """Why the Hugging Face Hub cannot be reached now, or None when it may be.

    ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) set says so at once; otherwise one TCP
    connection to the endpoint's host (``HF_ENDPOINT``, or through the proxy the environment
    names), bounded by :data:`PROBE_TIMEOUT_SECONDS`, and remembered for the process. Without
    it, huggingface_hub retries a dead network for about 25 s (5 retries with back-off).
    """
    for variable in _OFFLINE_VARIABLES:
        if os.environ.get(variable, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return f"{variable} is set"
    from huggingface_hub import constants

    return _probe(os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT)


@functools.lru_cache(maxsize=8)
def _probe(endpoint: str) -> str | None:
    """Open (and close) one TCP connection to the host that serves ``endpoint``; None if it opens."""
    parts = urllib.parse.urlsplit(endpoint)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):  # the proxy is what must answer
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname or "", proxied.port or 80
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS).close()
            outcome.append(None)
        except OSError as error:  # DNS failure, refused, unreachable, timed out
            outcome.append(f"no connection to {host}:{port}: {error.strerror or error}")

    # A thread bounds the name lookup too, which create_connection's timeout does not cover.
    probe = threading.Thread(target=connect, name="albert-hub-probe", daemon=True)
    probe.start()
    probe.join(PROBE_TIMEOUT_SECONDS + 0.5)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {PROBE_TIMEOUT_SECONDS} s"


class _NoRetryMessages(logging.Filter):
    """huggingface_hub logs each retry of a failed request (two lines, five times) before the
    error albert words itself: drop those lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Retrying in") or "thrown while requesting" in message)


_NO_RETRY_MESSAGES = _NoRetryMessages()


def _download(
    repo_id: str,
    filename: str,
    *,
    name: str,
    required: bool,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
    token: str | bool | None,
) -> Path | None:
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    logging.getLogger("huggingface_hub.utils._http").addFilter(_NO_RETRY_MESSAGES)  # once: a set
    cache = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    # Offline, the cache alone answers (a cached model still loads), at once.
    unreachable = None if local_files_only else hub_unreachable()
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=None if cache_dir is None else Path(cache_dir),
            local_files_only=local_files_only or unreachable is not None,
            token=token,
        )
        return Path(path)
    except HFValidationError:
        raise ModelNotFoundError(
            f"'{name}' is not a folder, not a shipped model ({_shipped_names()}), and not a valid Hub id "
            "(owner/name: letters, digits, '-', '_', '.'). Pass a folder written by save_pretrained."
        ) from None
    except LocalEntryNotFoundError:  # a subclass of EntryNotFoundError: catch it first
        if not required:  # the caller tries the next candidate and words the final error
            return None
        why = unreachable or ("local_files_only was asked for" if local_files_only else "offline?")
        if not (cache / f"models--{repo_id.replace('/', '--')}").is_dir():
            raise ModelNotFoundError(
                f"'{name}' is not a folder, not a shipped model ({_shipped_names()}), and the Hugging Face "
                f"Hub is unreachable ({why}); the Hub cache at {cache} does not hold '{repo_id}' either. Pass a "
                "local folder written by save_pretrained, or connect to the network to download it."
            ) from None
        raise ModelNotFoundError(
            f"could not fetch {filename} of '{repo_id}': the Hugging Face Hub is unreachable ({why}) and "
            f"the cache at {cache} holds the model without this file. Connect to the network, or point at a "
            f"local folder instead, e.g. from_pretrained('/path/to/{repo_id.split('/')[-1]}'), holding "
            "config.json, model.safetensors and spiece.model."
        ) from None
    except EntryNotFoundError:
        if not required:
            return None
        raise ModelNotFoundError(f"the Hub model '{repo_id}' has no file {filename}.") from None
    except GatedRepoError:
        raise ModelNotFoundError(
            f"the Hub model '{repo_id}' is gated: log in with `huggingface-cli login` or pass token=..."
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"no model '{repo_id}' on the Hugging Face Hub and no folder of that name here. "
            "Pass the path of a folder written by save_pretrained, or a Hub id such as "
            "'albert/albert-base-v2'."
        ) from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"the Hub model '{repo_id}' has no revision '{revision}'.") from None
    except OSError as error:  # network errors that huggingface_hub does not wrap
        raise ModelNotFoundError(
            f"could not fetch {filename} of '{repo_id}' from the Hugging Face Hub ({error}). "
            "Point at a local folder instead."
        ) from None
