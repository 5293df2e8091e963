"""The CPU deployment path: an exported ONNX graph run by ONNX Runtime, called like the torch model.

ONNX Runtime fuses what eager PyTorch runs op by op (LayerNorm, GELU, the attention block) and
has less overhead per op, which is what a small batch on a CPU is made of. The int8 option
(:func:`albert.fast.onnx_export.quantize_int8`) trades accuracy for speed;
:func:`compare_outputs` measures that trade on your inputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelNotFoundError


class OnnxOutputs(dict):
    """Outputs by name, also readable as attributes (``outputs.last_hidden_state``), like the
    torch models' outputs."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no output {name!r}; this graph has: {', '.join(self)}") from None


class OnnxModel:
    """An exported albert graph in an ONNX Runtime session.

    Args:
        path: the ``.onnx`` file written by :func:`albert.fast.onnx_export.export_onnx`.
        threads: intra-op threads (default: ONNX Runtime's choice, one per core).
        spinning: let idle threads spin between runs (ONNX Runtime's default): quicker back-to-back
            runs, but the spinning threads take the cores from whatever Python work runs between
            them (a fill-mask pipeline call on 2 cores: about 9 ms with spinning, 8.5 without).

    Raises:
        ModelNotFoundError: no file at ``path`` (a ``FileNotFoundError`` too).
        ImportError: onnxruntime is not installed.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None, spinning: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelNotFoundError(f"no ONNX file at {self.path}; write one with `albert export onnx MODEL OUT`")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spinning:
            # Idle threads sleep instead of spinning: between runs the caller's Python work
            # (tokenizing, decoding, the heads in torch) needs those cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._settings = (str(self.path), threads, spinning)
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    # A session cannot be copied or pickled; a copy opens the same file again.
    def __reduce__(self) -> tuple:
        return (type(self), self._settings)

    def __deepcopy__(self, memo: dict) -> OnnxModel:
        return type(self)(*self._settings)

    def __call__(
        self,
        input_ids: torch.Tensor | np.ndarray,
        attention_mask: torch.Tensor | np.ndarray | None = None,
        token_type_ids: torch.Tensor | np.ndarray | None = None,
    ) -> OnnxOutputs:
        """Run the graph on a right-padded (B, S) batch; torch tensors in give torch tensors out,
        numpy arrays give numpy arrays."""
        as_torch = isinstance(input_ids, torch.Tensor)
        ids = _numpy(input_ids)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids) if attention_mask is None else _numpy(attention_mask),
            "token_type_ids": np.zeros_like(ids) if token_type_ids is None else _numpy(token_type_ids),
        }
        results = self.session.run(list(self.output_names), {name: feeds[name] for name in self.input_names})
        if as_torch:
            results = [torch.from_numpy(result) for result in results]
        return OnnxOutputs(zip(self.output_names, results, strict=True))


def _numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    return array.astype(np.int64, copy=False)


def compare_outputs(
    expected: dict[str, torch.Tensor] | Any, got: dict[str, torch.Tensor], attention_mask: torch.Tensor
) -> dict[str, float]:
    """How far ``got`` is from ``expected`` at the real tokens, output by output.

    Returns:
        For each output ``name``: ``name/max_abs_diff``; for token states also
        ``name/mean_cosine`` (cosine similarity of each real token's vector, averaged); for
        vocabulary or label scores also ``name/top1_agreement`` (the share of real tokens, or of
        rows, whose best-scoring class is the same).
    """
    real = attention_mask.bool()
    report: dict[str, float] = {}
    for name, have in got.items():
        want = expected[name] if isinstance(expected, dict) else getattr(expected, name)
        want, have = want.float(), have.float()
        if want.dim() >= 2 and want.shape[:2] == real.shape:
            want, have = want[real], have[real]
        report[f"{name}/max_abs_diff"] = float((want - have).abs().max()) if want.numel() else 0.0
        if want.dim() < 2 or not want.numel():
            continue
        if name in ("last_hidden_state", "pooler_output"):
            report[f"{name}/mean_cosine"] = float(torch.nn.functional.cosine_similarity(want, have, dim=-1).mean())
        else:
            report[f"{name}/top1_agreement"] = float((want.argmax(-1) == have.argmax(-1)).float().mean())
    return report
