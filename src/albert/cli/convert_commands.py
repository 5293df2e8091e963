"""``albert convert tf | tf-hub``: the original TensorFlow checkpoints into albert folders;
``albert convert sentence-transformers``: any albert model as a sentence-transformers folder.

Needs the ``tf`` extra (``pip install 'albert-lm[tf]'``); see docs/convert.md. Each command
prints the check of :class:`albert.convert.ConversionReport`: every TF variable used or skipped,
every model weight filled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .app import AlbertTyper, app

convert_app = AlbertTyper(
    help="Convert original TensorFlow ALBERT checkpoints and TF-Hub modules into albert folders, and albert models into sentence-transformers folders."
)
app.add_typer(convert_app, name="convert")

Out = Annotated[
    Path, typer.Option("--out", "-o", help="Folder to write config.json, model.safetensors and spiece.model into.")
]
Config = Annotated[
    Path | None,
    typer.Option("--config", help="The release's albert_config.json (default: found beside the checkpoint)."),
]
Vocab = Annotated[
    Path | None,
    typer.Option("--vocab", help="The release's vocabulary, 30k-clean.model (default: found beside the checkpoint)."),
]


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up lines (CPU features, missing CUDA) say nothing about the conversion.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@convert_app.command("tf")
def convert_tf(
    checkpoint: Annotated[
        Path,
        typer.Argument(help="Checkpoint prefix (.../model.ckpt-best), a release folder, or the release .tar.gz."),
    ],
    out: Out,
    config: Config = None,
    vocab: Vocab = None,
) -> None:
    """Convert a google-research/albert checkpoint (v1 or v2) into a folder albert and transformers load."""
    from ..convert import convert_tf_checkpoint

    _quiet_tensorflow()
    typer.echo(convert_tf_checkpoint(checkpoint, out, config=config, vocab=vocab).summary())


@convert_app.command("tf-hub")
def convert_tf_hub(
    module: Annotated[
        Path, typer.Argument(help="TF-Hub module folder (saved_model.pb, variables/, assets/) or its .tar.gz.")
    ],
    out: Out,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="albert_config.json, for modules without assets/albert_config.json (v1)."),
    ] = None,
    vocab: Annotated[
        Path | None, typer.Option("--vocab", help="SentencePiece model (default: the module's assets/30k-clean.model).")
    ] = None,
) -> None:
    """Convert an ALBERT TF-Hub module (e.g. google/albert_base/3) into a folder albert and transformers load."""
    from ..convert import convert_tf_hub as convert_module

    _quiet_tensorflow()
    typer.echo(convert_module(module, out, config=config, vocab=vocab).summary())


def _dimensions(text: str | None) -> list[int] | None:
    """``--matryoshka 384,256,128`` as numbers (the settings check their order)."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        from ..errors import OptionError

        raise OptionError(f"--matryoshka takes sizes separated by commas, like 384,256,128; got {text!r}") from None


@convert_app.command("sentence-transformers")
def convert_sentence_transformers(
    model: Annotated[str, typer.Argument(help="The model: a folder (any head, or a sentence-transformers folder) or a name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The sentence-transformers folder to write.")],
    pooling: Annotated[
        str | None, typer.Option("--pooling", help="mean, cls or max (default: the model folder's own, else mean).")
    ] = None,
    normalize: Annotated[
        bool | None, typer.Option("--normalize/--no-normalize", help="Scale vectors to length 1 (default: yes).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Cut each text to this many pieces (default: the model's window).")
    ] = None,
    dimension: Annotated[
        int | None, typer.Option("--dimension", help="The default output size, a Matryoshka prefix (default: all).")
    ] = None,
    matryoshka: Annotated[
        str | None, typer.Option("--matryoshka", help="The prefixes trained to work alone, largest first: 384,256,128.")
    ] = None,
) -> None:
    """Save a model as a folder sentence_transformers.SentenceTransformer(folder) loads (docs/embeddings.md)."""
    from ..sentence_export import save_sentence_transformer
    from ..sentence_folder import read_sentence_config

    folder = save_sentence_transformer(
        model, out, pooling=pooling, normalize=normalize, max_length=max_length, dimension=dimension,
        matryoshka_dimensions=_dimensions(matryoshka),
    )  # fmt: skip
    config = read_sentence_config(folder)
    typer.echo(f"wrote {folder}: a sentence-transformers folder, {config}")
    typer.echo(f"load it with SentenceTransformer({str(folder)!r}) or albert.pipeline('embeddings', model={str(folder)!r})")
