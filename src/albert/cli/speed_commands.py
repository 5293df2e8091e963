"""``albert export onnx MODEL OUT``: the CPU deployment path from the shell.

Exports a model to ONNX with dynamic batch and sequence length, verifies the graph against torch
in ONNX Runtime (the export fails rather than writing a graph that computes something else) and,
with ``--int8``, also writes a dynamically quantised copy and prints what it costs in accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..modeling import AlbertPreTrainedModel

from ..atomic_files import atomic_path
from ..errors import OptionError
from .app import AlbertTyper, app

export_app = AlbertTyper(help="Export a model for deployment (ONNX for CPUs).")
app.add_typer(export_app, name="export")


@export_app.command("onnx")
def export_onnx_command(
    model: Annotated[str, typer.Argument(help="Model folder, shipped model name or Hub id.")],
    out: Annotated[Path, typer.Argument(help="The .onnx file to write.")],
    model_class: Annotated[
        str | None,
        typer.Option("--class", help="Which head to export, e.g. AlbertModel (default: the checkpoint's architecture)."),
    ] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 18,
    int8: Annotated[bool, typer.Option("--int8", help="Also write OUT with .int8.onnx: dynamic int8 quantisation.")] = False,
    verify: Annotated[bool, typer.Option(help="Check the graph against torch in ONNX Runtime.")] = True,
    atol: Annotated[float, typer.Option(help="Largest absolute difference the check accepts.")] = 1e-4,
) -> None:
    """Export MODEL to ONNX at OUT, verified against torch."""
    from ..config import AlbertConfig
    from ..modeling import MODEL_CLASSES

    try:
        from ..fast.onnx_export import OUTPUT_NAMES, export_onnx, quantize_int8
    except ImportError as error:
        raise ImportError(
            f"ONNX export needs onnx, onnxscript and onnxruntime ({error}); pip install 'albert-lm[onnx]'",
            name=error.name,
        ) from None
    if model_class is None:
        config = AlbertConfig.from_pretrained(model).to_dict()  # checked as every model's config is
        named = config.get("architectures")
        named = named if isinstance(named, list) else []
        architectures = [name for name in named if isinstance(name, str) and name in MODEL_CLASSES]
        model_class = architectures[0] if architectures else "AlbertModel"
    if model_class not in OUTPUT_NAMES:  # checked before the model loads
        unknown = "unknown" if model_class not in MODEL_CLASSES else "cannot export"
        raise OptionError(f"{unknown} --class {model_class!r}; choose one of: {', '.join(OUTPUT_NAMES)}")
    loaded = MODEL_CLASSES[model_class].from_pretrained(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as partial:  # whole or absent, like every file albert writes
        report = export_onnx(loaded, partial, opset=opset, verify=verify, atol=atol)
    report.path = out
    typer.echo(f"wrote {report.path} ({model_class}, opset {report.opset}, outputs: {', '.join(report.output_names)})")
    if verify:
        diffs = ", ".join(f"{name} {value:.2e}" for name, value in report.max_abs_diff.items())
        typer.echo(f"verified against torch on batches {report.checked_shapes}: max abs difference {diffs}")
    if int8:
        _write_int8(loaded, out, quantize_int8)


def _write_int8(model: AlbertPreTrainedModel, out: Path, quantize: Callable[[Path, Path], Path]) -> None:
    """Quantise, then measure the cost on a padded sample batch: the user decides if it is worth it."""
    import torch

    from ..fast.cpu import OnnxModel, compare_outputs
    from ..fast.onnx_export import sample_batch

    int8_path = out.with_suffix(".int8.onnx")
    with atomic_path(int8_path) as partial:
        quantize(out, partial)
    config = model.config
    inputs = sample_batch(config.vocab_size, 8, min(48, config.max_position_embeddings), seed=1,
                          type_vocab_size=config.type_vocab_size)
    with torch.no_grad():
        expected = model(**inputs)
    cost = compare_outputs(expected, OnnxModel(int8_path)(**inputs), inputs["attention_mask"])
    typer.echo(f"wrote {int8_path} (int8); accuracy against float32 torch on random ids:")
    for name, value in cost.items():
        typer.echo(f"  {name}: {value:.4g}")
