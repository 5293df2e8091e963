"""Export a model to ONNX for CPU deployment, and prove the exported graph computes the same thing.

The graph is traced from the unpadded fast path (projections and feed-forward on real tokens
only, attention on the padded batch), with batch and sequence length left dynamic. Exported
transformer graphs are a known source of silent mismatches (a length baked in as a constant, a
mask broadcast the wrong way), so :func:`export_onnx` runs the exported file in ONNX Runtime on
batches of several shapes with padding and raises :class:`ExportMismatchError` unless every
output matches the torch reference within ``atol`` at every real token.

Needs the ``onnx``, ``onnxscript`` and ``onnxruntime`` packages (the ``onnx`` extra).
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from ..errors import AlbertError, OptionTypeError
from .models import accelerate, decelerate

if TYPE_CHECKING:
    from ..config import AlbertConfig

logger = logging.getLogger("albert")

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

#: The outputs each exportable class writes into the graph, by their transformers names.
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "AlbertModel": ("last_hidden_state", "pooler_output"),
    "AlbertForMaskedLM": ("logits",),
    "AlbertForPreTraining": ("prediction_logits", "sop_logits"),
    "AlbertForSequenceClassification": ("logits",),
    "AlbertForTokenClassification": ("logits",),
    "AlbertForQuestionAnswering": ("start_logits", "end_logits"),
}

#: Outputs with one value per token: compared at real tokens only (padding holds no meaning).
PER_TOKEN_OUTPUTS = {"last_hidden_state", "logits", "prediction_logits", "start_logits", "end_logits"}


class ExportMismatchError(AlbertError, RuntimeError):
    """The exported graph's outputs differ from the torch model's beyond the tolerance."""


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how closely the graph matched torch."""

    path: Path
    output_names: tuple[str, ...]
    opset: int
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # output -> worst difference seen
    checked_shapes: list[tuple[int, int]] = field(default_factory=list)


class _GraphModule(nn.Module):
    """The model with positional inputs and a tuple of named outputs, as a graph wants them."""

    def __init__(self, model: nn.Module, output_names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.output_names = output_names

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return tuple(getattr(outputs, name) for name in self.output_names)


def output_names_of(model: nn.Module) -> tuple[str, ...]:
    """The graph outputs of a model class.

    Raises:
        OptionTypeError: the class cannot be exported (multiple choice takes 3-D inputs; not an albert model).
    """
    names = OUTPUT_NAMES.get(type(model).__name__)
    if names is None or not type(model).__module__.startswith("albert."):
        raise OptionTypeError(f"cannot export {type(model).__name__} to ONNX; exportable classes: {', '.join(OUTPUT_NAMES)}")
    if type(model).__name__ == "AlbertModel" and model.pooler is None:  # the encoder of an MLM head
        return ("last_hidden_state",)
    return names


def _config_of(model: nn.Module) -> AlbertConfig:
    """An exportable model's config (every class in :data:`OUTPUT_NAMES` has one)."""
    return cast("AlbertConfig", model.config)


def sample_batch(
    vocab_size: int, batch_size: int, seq_len: int, seed: int = 0, type_vocab_size: int = 2
) -> dict[str, torch.Tensor]:
    """Random right-padded ids with rows of different lengths (the first full, the last of one
    token), as the tokenizer gives them, for tracing and for verification."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, max(6, vocab_size), (batch_size, seq_len), generator=generator)
    lengths = torch.linspace(seq_len, 1, batch_size).round().long() if batch_size > 1 else torch.tensor([seq_len])
    attention_mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    token_type_ids = torch.randint(0, type_vocab_size, (batch_size, seq_len), generator=generator) * attention_mask
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = 18,
    verify: bool = True,
    atol: float = 1e-4,
) -> ExportReport:
    """Write ``model`` as an ONNX graph with dynamic batch and sequence length, and verify it.

    Args:
        model: an ``AlbertModel`` or a single-sequence head (masked LM, pretraining, sequence or
            token classification, question answering). It is exported in float32 from a copy;
            the model passed in is not changed.
        path: the ``.onnx`` file to write (a single file; its folder is created).
        opset: the ONNX opset.
        verify: run the file in ONNX Runtime against torch on padded batches of several shapes.
        atol: the largest absolute difference accepted at any real token.

    Returns:
        An :class:`ExportReport` with the worst difference per output.

    Raises:
        OptionTypeError: the class cannot be exported.
        ExportMismatchError: the graph's outputs differ from torch's by more than ``atol``.
        ImportError: onnx / onnxscript / onnxruntime are not installed.
    """
    output_names = output_names_of(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    reference = decelerate(copy.deepcopy(model)).to(device="cpu", dtype=torch.float32).eval()
    traced = accelerate(copy.deepcopy(reference), "export")
    config = _config_of(reference)
    example = sample_batch(config.vocab_size, 2, min(8, config.max_position_embeddings), type_vocab_size=config.type_vocab_size)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=config.max_position_embeddings)
    dynamic = {name: {0: batch, 1: sequence} for name in INPUT_NAMES}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on skipped torchvision ops and such
        torch.onnx.export(
            _GraphModule(traced, output_names),
            tuple(example[name] for name in INPUT_NAMES),
            str(path),
            dynamo=True,
            input_names=list(INPUT_NAMES),
            output_names=list(output_names),
            dynamic_shapes=dynamic,
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    report = ExportReport(path=path, output_names=output_names, opset=opset)
    if verify:
        verify_onnx(reference, path, report, atol)
    return report


def verify_onnx(reference: nn.Module, path: str | os.PathLike, report: ExportReport, atol: float) -> None:
    """Compare the graph at ``path`` with ``reference`` on padded batches of several shapes,
    recording the worst differences in ``report``.

    Raises:
        ExportMismatchError: some output differs by more than ``atol`` at a real token.
    """
    from .cpu import OnnxModel

    session = OnnxModel(path)
    config = _config_of(reference)
    max_len = config.max_position_embeddings
    shapes = [(1, min(5, max_len)), (3, min(17, max_len)), (4, min(64, max_len))]
    for seed, (batch_size, seq_len) in enumerate(shapes):
        inputs = sample_batch(config.vocab_size, batch_size, seq_len, seed, config.type_vocab_size)
        with torch.no_grad():
            expected = reference(**inputs)
        got = session(**inputs)
        real = inputs["attention_mask"].bool()
        for name in report.output_names:
            want, have = getattr(expected, name), got[name]
            difference = (want - have).abs()
            if name in PER_TOKEN_OUTPUTS:
                difference = difference[real]
            worst = float(difference.max()) if difference.numel() else 0.0
            report.max_abs_diff[name] = max(report.max_abs_diff.get(name, 0.0), worst)
        report.checked_shapes.append((batch_size, seq_len))
    bad = {name: diff for name, diff in report.max_abs_diff.items() if not diff <= atol}
    if bad:
        details = ", ".join(f"{name}: {diff:.3g}" for name, diff in bad.items())
        raise ExportMismatchError(
            f"the ONNX graph at {path} does not match torch (max abs difference {details}; allowed {atol}) "
            f"on batches {report.checked_shapes}; do not deploy it. Try another opset, or report the model's config."
        )
    logger.info("ONNX export verified: %s", report.max_abs_diff)


def quantize_int8(onnx_path: str | os.PathLike, out_path: str | os.PathLike, per_channel: bool = False) -> Path:
    """Dynamic int8 quantisation of the graph's matrix multiplies (weights int8, activations
    quantised per batch at run time). Costs accuracy: measure it with
    :func:`albert.fast.cpu.compare_outputs` before deploying.

    Returns:
        ``out_path``.
    """
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice and shape-inference notes on the root logger
    try:
        with tempfile.TemporaryDirectory() as scratch:
            # Constant-fold first: the fused QKV weights are a Concat of three initializers shared
            # by every layer, which the quantiser cannot rewrite in place (duplicate names).
            folded = Path(scratch) / "folded.onnx"
            quant_pre_process(str(onnx_path), str(folded), skip_symbolic_shape=True)
            quantize_dynamic(str(folded), str(out_path), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        root.setLevel(level)
    return out_path
