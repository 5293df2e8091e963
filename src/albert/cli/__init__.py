"""The ``albert`` command. Thin: each subcommand parses its options, calls the library, prints.

Subcommands live in one module per area and register themselves on :data:`app` when imported.
"""

from __future__ import annotations

from . import (  # noqa: F401  (registration)
    convert_commands,
    finetune_commands,
    pipeline_commands,
    serve_commands,
    speed_commands,
    train_commands,
)
from .app import app


def main() -> None:
    """Entry point of the ``albert`` console script."""
    app()
