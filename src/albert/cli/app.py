"""The typer application every subcommand module registers on, and what the subcommands share."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import typer

app = typer.Typer(
    name="albert",
    help="ALBERT from the shell: fill masks, embed, classify, tag, answer, pretrain and fine-tune.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def settings_option(settings: type, flag: str, *, field: str | None = None, **options: Any) -> Any:
    """A ``typer.Option`` whose default is that of a field of the settings dataclass ``settings``
    (the flag's, ``--max-length``: ``max_length``, or ``field``). Raises KeyError: no such field."""
    name = field or flag.split("/")[0].lstrip("-").replace("-", "_")
    return typer.Option({item.name: item.default for item in dataclasses.fields(settings)}[name], flag, **options)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print failures a user can fix (bad paths or data, mismatched settings, a diverged run) as one
    line ``error: ...`` and exit 1 instead of showing a traceback."""
    from ..training.checkpoints import CheckpointReadError, NonFiniteLossError

    try:
        yield
    # CorpusError, DataMismatchError, UnknownLabelError and ModelNotFoundError are among these.
    except (ValueError, FileNotFoundError, FileExistsError, NonFiniteLossError, CheckpointReadError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None


class _Messages(logging.Formatter):
    """Status lines as they are; warnings as ``warning: ...``."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def show_training_messages() -> None:
    """Show the status lines of a training run (logger ``albert.training``) on stderr, and albert's
    warnings as ``warning: ...``; where logging is configured already, only let the lines through."""
    logging.getLogger("albert.training").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(_Messages())
        logging.getLogger().addHandler(handler)
