"""The typer application every subcommand module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="albert",
    help="ALBERT from the shell: fill masks, embed, classify, tag, answer, pretrain and fine-tune.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
