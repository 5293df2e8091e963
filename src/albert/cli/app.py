"""The typer application every subcommand module registers on, and what every command shares.

* One handling of failures (:func:`one_line_errors`, applied to each command by :class:`AlbertTyper`):
  an error the user can fix is one line ``error: ...`` on stderr and exit status 1; a bug keeps
  its traceback. Warnings are one line ``warning: ...``.
* The options every command checks the same way before it starts: text that is not UTF-8,
  ``--device`` and ``--dtype`` (:mod:`albert.devices`), so a bad value fails before a model loads.
* Flags shown as flags in the help (typer labels every option with its type, ``--json <bool>``).

This module, like every ``albert.cli`` module, imports no torch: ``albert --help`` and every
error in parsing the arguments stay fast. Commands import the library inside their bodies.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import inspect
import logging
import sys
import typing
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.models import ArgumentInfo, OptionInfo

from ..devices import check_device, check_dtype
from ..errors import AlbertError, InputError
from ..text_normalization import utf8_problem

Function = TypeVar("Function", bound=Callable[..., Any])

# -- flags shown as flags -------------------------------------------------------------------------


class _FlagsAsFlags:
    """typer's help labels every option with its type, flags too (``--json <bool>``, ``--help
    <bool>``), as if they took a value: give each flag an empty metavar, which the help shows
    instead of the type. Valued options keep their labels (``<int>``, ``<path>``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        return params


class AlbertCommand(_FlagsAsFlags, TyperCommand):
    """A command whose help shows flags as flags."""


class AlbertGroup(_FlagsAsFlags, TyperGroup):
    """A group (``albert``, ``albert convert``) whose help shows flags as flags."""


class AlbertTyper(typer.Typer):
    """A ``typer.Typer`` whose every command runs inside :func:`one_line_errors` and shows flags as
    flags: a command registered here cannot forget either."""

    def __init__(self, **options: Any) -> None:
        defaults = {"cls": AlbertGroup, "no_args_is_help": True, "add_completion": False,
                    "pretty_exceptions_enable": False}  # fmt: skip
        super().__init__(**{**defaults, **options})

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any) -> Any:
        register = super().command(name, cls=cls or AlbertCommand, **options)

        def decorator(function: Function) -> Function:
            register(one_line_errors(function))
            return function

        return decorator


app = AlbertTyper(
    name="albert",
    help="ALBERT from the shell: fill masks, embed, classify, tag, answer, pretrain and fine-tune.",
)

# -- one handling of errors and warnings ----------------------------------------------------------

#: OS errors that say something about what the user gave or the machine they run on (a missing
#: file, a folder where a file should be, no permission, a read-only or full disk), not about albert.
USER_ERRNOS = frozenset({
    errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EISDIR,
    errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.EFBIG, errno.ENOTEMPTY, errno.EXDEV,
})  # fmt: skip
#: The same, by type: raised by albert itself with a message and no errno (``FileExistsError("OUT
#: already holds a run; pass --resume")``).
USER_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)
#: Optional libraries -> the extra that installs them, for the message when one is missing.
EXTRAS = {
    "onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx", "fastapi": "serve", "uvicorn": "serve",
    "prometheus_client": "serve", "pyspark": "spark", "tensorflow": "tf", "jax": "jax", "flax": "jax",
    "optax": "jax", "matplotlib": "train",
}  # fmt: skip


def user_error_message(error: BaseException) -> str | None:
    """The one line to show for an error the user can fix, or None for a bug (or for typer's and
    click's own exits, which print themselves).

    A user can fix: every :class:`~albert.errors.AlbertError`; an OS error about a file or the
    machine (:data:`USER_ERRNOS`, :data:`USER_OS_ERRORS`); a missing optional library (an ImportError of a module
    outside albert: install the extra). Anything else keeps its traceback.
    """
    if isinstance(error, AlbertError):
        message = str(error)
    elif isinstance(error, USER_OS_ERRORS) or isinstance(error, OSError) and error.errno in USER_ERRNOS:
        names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
        message = f"{names}: {error.strerror}" if names and error.strerror else str(error)
    elif isinstance(error, ImportError) and not (error.name or "").split(".")[0] == "albert":
        message = str(error)
        extra = EXTRAS.get((error.name or "").split(".")[0])
        if extra and "pip install" not in message:
            message += f"; install it with: pip install 'albert-lm[{extra}]'"
    else:
        return None
    return " ".join(message.split()) or type(error).__name__


def one_line_errors(command: Function) -> Function:
    """Run ``command`` with the options checked first (:func:`check_arguments`), its warnings as
    one line each (``warning: ...``), and the errors a user can fix (:func:`user_error_message`)
    as one line ``error: ...`` on stderr and exit status 1, without a traceback. Applied once:
    wrapping a wrapped command returns it as it is."""
    if getattr(command, "albert_one_line_errors", False):
        return command
    option_names = _option_names(command)

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            check_arguments(kwargs, option_names)
            _show_log_lines()
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return command(*args, **kwargs)
        except Exception as error:
            message = user_error_message(error)
            if message is None:
                raise
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from None

    run.albert_one_line_errors = True  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


def check_arguments(values: dict[str, Any], option_names: dict[str, str]) -> None:
    """Checks every command's options get, before the command starts: text given on the command
    line must be UTF-8 (Python reads other bytes as lone surrogates; ``--model`` is a path, which
    need not be), and ``--device`` and ``--dtype`` must name a device and a dtype.

    Raises:
        InputError: text that is not UTF-8, naming the argument or option.
        OptionError: a bad ``--device`` or ``--dtype``.
    """
    for name, value in values.items():
        many = isinstance(value, (list, tuple))
        for index, text in enumerate(value if many else [value]):
            problem = utf8_problem(text) if isinstance(text, str) and name != "model" else None
            if problem is not None:
                # text arguments are the command's inputs, numbered from 0 as its results' `input` column
                where = option_names.get(name) or (f"inputs[{index}]" if many else name.upper())
                raise InputError(f"{where} is not valid UTF-8: it holds {problem}")
    if values.get("device") is not None:
        check_device(values["device"], option_names.get("device", "--device"))
    if values.get("dtype") is not None:
        check_dtype(values["dtype"], option_names.get("dtype", "--dtype"))


def _option_names(command: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> its first long flag (``question`` -> ``--question``), from the typer
    options given as ``Annotated`` metadata or as defaults; arguments are left out."""
    hints = typing.get_type_hints(command, include_extras=True)
    names = {}
    for name, parameter in inspect.signature(command).parameters.items():
        infos = [*getattr(hints.get(name), "__metadata__", ()), parameter.default]
        info = next((info for info in infos if isinstance(info, (OptionInfo, ArgumentInfo))), None)
        if isinstance(info, OptionInfo):  # typer takes a first flag given as the default as a flag
            flags = [flag for flag in (info.default, *(info.param_decls or ())) if isinstance(flag, str)]
            names[name] = next((flag.split("/")[0] for flag in flags if flag.startswith("--")),
                               f"--{name.replace('_', '-')}")  # fmt: skip
    return names


def _show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
    """A Python warning as one line, instead of its two-line source listing."""
    typer.echo(f"warning: {message}", err=True)


class _Messages(logging.Formatter):
    """Status lines as they are; warnings as ``warning: ...``, errors as ``error: ...``."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (a test runner swaps it), not the one at start."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_LOG_HANDLER = _StderrHandler()
_LOG_HANDLER.setFormatter(_Messages())


def _show_log_lines() -> None:
    """Show albert's logged warnings (missing head weights, a truncated input) on stderr as
    ``warning: ...``; where logging is configured already, leave it to that configuration."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_LOG_HANDLER)


def show_training_messages() -> None:
    """Also show the status lines of a training run (logger ``albert.training``, level INFO)."""
    logging.getLogger("albert.training").setLevel(logging.INFO)
    _show_log_lines()


# -- options ---------------------------------------------------------------------------------------


def settings_option(settings: type, flag: str, *, field: str | None = None, **options: Any) -> Any:
    """A ``typer.Option`` whose default is that of a field of the settings dataclass ``settings``
    (the flag's, ``--max-length``: ``max_length``, or ``field``). Raises KeyError: no such field."""
    name = field or flag.split("/")[0].lstrip("-").replace("-", "_")
    return typer.Option({item.name: item.default for item in dataclasses.fields(settings)}[name], flag, **options)
