"""Any albert model with its encoder in ONNX Runtime: the CPU path behind the usual API.

:func:`use_onnx` exports the model's ``AlbertModel`` (once; cached by its weights), checks the
graph against torch as every export is checked, and makes ``model.albert`` run it. The heads stay
in torch and read the encoder's states as always, so every pipeline and every head works
unchanged: fill-mask scores the vocabulary at the masked positions in torch, a classifier reads
the pooled [CLS] state the graph returns.

Why: on a small CPU batch ONNX Runtime spends less per operator than eager PyTorch and fuses
LayerNorm, GELU and attention (on the shipped model: 1.8x transformers' batch-1 latency, 3.0x its
batch-32 throughput, against 1.1x / 2.7x for the torch fast path; docs/speed.md).

:class:`OnnxEncoder` is the first of the model's back-ends (``model.backends``). Calls the graph
cannot answer go on to the model's torch back-ends, exactly as without ONNX: gradients
(training), ``output_hidden_states`` / ``output_attentions``, ``inputs_embeds``,
``position_ids``, a mask with padding on the left, an input longer than the position table;
``model.explain_backend(...)`` says which reason applies.

Needs the ``onnx`` extra (``pip install "albert-lm[onnx]"``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from ..atomic_files import atomic_path
from ..backends import EncoderBackend, EncoderCall, EncodingModel
from ..errors import OptionError
from ..outputs import BaseModelOutputWithPooling
from ..version import __version__
from .models import ModelT, base_of, decelerate

if TYPE_CHECKING:  # the model calls this module; this module only reads the model
    from ..modeling import AlbertModel

logger = logging.getLogger("albert")


def default_cache_dir() -> Path:
    """``$ALBERT_CACHE/onnx``, else ``~/.cache/albert/onnx``."""
    root = os.environ.get("ALBERT_CACHE") or Path.home() / ".cache" / "albert"
    return Path(root) / "onnx"


def use_onnx(
    model: ModelT,
    onnx_path: str | os.PathLike | None = None,
    *,
    threads: int | None = None,
    int8: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> ModelT:
    """Run ``model``'s encoder in ONNX Runtime from now on, in place; returns the model.

    Args:
        model: an albert model on the CPU (``AlbertModel`` or any ``AlbertFor*`` head).
        onnx_path: a graph of this model's ``AlbertModel`` written by
            :func:`~albert.fast.onnx_export.export_onnx`; None exports one (verified against
            torch) into ``cache_dir``, reused while the weights stay the same.
        threads: ONNX Runtime's intra-op threads (default: one per core).
        int8: run the dynamically quantised graph instead (faster, not exact: its cost on the
            shipped model is 93.7% fill-mask top-1 agreement with fp32; docs/speed.md).
        cache_dir: where exported graphs are kept (default :func:`default_cache_dir`).

    Raises:
        OptionError: the model is not on the CPU.
        ImportError: onnx / onnxscript / onnxruntime are not installed.
        ExportMismatchError: the exported graph does not compute what torch does.
    """
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401

        from .cpu import OnnxModel
    except ImportError as error:
        raise ImportError(
            f"the ONNX Runtime path needs onnx, onnxscript and onnxruntime ({error}); "
            'pip install "albert-lm[onnx]"'
        ) from error

    base = base_of(model)
    if base.device.type != "cpu":
        raise OptionError(f"the ONNX Runtime path runs on the CPU; the model is on {base.device} (model.to('cpu') first)")
    # Torch forwards for the export (an earlier use_onnx included), and for the heads, which call model.albert.
    decelerate(model)
    path = Path(onnx_path) if onnx_path is not None else cached_export(base, cache_dir, int8)
    base.add_backend(OnnxEncoder(OnnxModel(path, threads=threads, spinning=False)))  # pipelines run Python between calls
    return model


def uses_onnx(model: torch.nn.Module) -> bool:
    """Whether :func:`use_onnx` put this model's encoder in ONNX Runtime."""
    try:
        return base_of(model).backend_named(OnnxEncoder.name) is not None
    except TypeError:
        return False


def onnx_available() -> bool:
    """Whether the ``onnx`` extra (onnx, onnxscript, onnxruntime) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript", "onnxruntime"))


def use_onnx_for_small_batches(
    model: ModelT, max_rows: int | None = None, cache_dir: str | os.PathLike | None = None
) -> ModelT:
    """Put :class:`SmallBatchOnnx` in front of ``model``'s back-ends, in place; returns the model.

    Nothing is exported until the first call it answers. The pipelines do this by default on the
    CPU when the ``onnx`` extra is installed (``onnx=None``); ``pipeline(..., onnx=False)`` keeps
    every call in torch.
    """
    base_of(model).add_backend(SmallBatchOnnx(max_rows, cache_dir))
    return model


def cached_export(
    base: AlbertModel, cache_dir: str | os.PathLike | None = None, int8: bool = False, announce: int = logging.WARNING
) -> Path:
    """The verified ONNX graph of ``base`` (and its int8 version when asked), exported on first use.

    The file name is a hash of the weights, the config and the exporting versions, so a changed
    model gets a new graph; files are written whole (through a temporary name) or not at all.
    ``announce`` is the log level of the line that says an export is under way.
    """
    from .onnx_export import export_onnx, quantize_int8

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"albert-{_fingerprint(base)}.onnx"
    if not path.is_file():
        # A warning, so the command line shows why this first call takes seconds.
        logger.log(announce, "exporting the encoder to ONNX once for these weights (about 10 s for the shipped "
                   "model); later runs reuse %s", path)  # fmt: skip
        with _quiet_exporter(), atomic_path(path) as partial:
            export_onnx(base, partial)
    if not int8:
        return path
    quantized = path.with_suffix(".int8.onnx")
    if not quantized.is_file():
        with atomic_path(quantized) as partial:
            quantize_int8(path, partial)
    return quantized


class OnnxEncoder(EncoderBackend):
    """The back-end :func:`use_onnx` puts first: the output from the graph, for the calls it
    answers exactly (see the module notes)."""

    name = "onnx"

    def __init__(self, session: Any) -> None:
        self.session = session

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.path!r})"

    @property
    def path(self) -> str:
        """The ``.onnx`` file this encoder runs."""
        return str(self.session.path)

    def supports(self, call: EncoderCall) -> str | None:
        """Why this call must run in torch, or None when the graph answers it exactly. (The
        inputs were checked by ``AlbertModel.check_inputs`` already.)"""
        if call.needs_grad:
            return "gradients are needed"
        if call.output_attentions or call.output_hidden_states:
            return "the graph returns the last layer only"
        if call.inputs_embeds is not None or call.position_ids is not None or call.input_ids is None:
            return "the graph takes input_ids with default positions"
        if call.attention_mask is not None:
            if call.pair_mask:
                return "a mask over query-key pairs"
            if not call.facts.starts_real:
                return "padding on the left (the graph assumes right padding)"
        return None

    def run(self, model: EncodingModel, call: EncoderCall) -> BaseModelOutputWithPooling:
        input_ids, token_type_ids = call.input_ids, call.token_type_ids
        if token_type_ids is not None and input_ids is not None and token_type_ids.shape != input_ids.shape:
            token_type_ids = token_type_ids.expand_as(input_ids)
        outputs = self.session(input_ids, call.attention_mask, token_type_ids)
        dtype = model.dtype
        pooled = outputs["pooler_output"].to(dtype) if "pooler_output" in outputs else None
        return BaseModelOutputWithPooling(
            last_hidden_state=outputs["last_hidden_state"].to(dtype), pooler_output=pooled,
            hidden_states=None, attentions=None,
        )


def _fingerprint(base: AlbertModel) -> str:
    """A hash of what the graph depends on: weights, config, and the exporting code's versions."""
    digest = hashlib.sha256()
    digest.update(base.config.to_json_string().encode())
    digest.update(f"{__version__} {torch.__version__} pooler={base.pooler is not None}".encode())
    for name, tensor in base.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


class _quiet_exporter:
    """Silence torch.onnx's notes (skipped torchvision ops and such) while exporting."""

    def __enter__(self) -> None:
        self._loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "torch.export")]
        self._levels = [log.level for log in self._loggers]
        for log in self._loggers:
            log.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        for log, level in zip(self._loggers, self._levels):
            log.setLevel(level)


#: Batches of at most this many rows go to ONNX Runtime by default (:class:`SmallBatchOnnx`).
#: Measured on albert-base and the shipped model, 1 thread (bench/cpu_inference.py, docs/speed.md):
#: ONNX Runtime ran 2.3x the packed torch path's speed at 1 row, 1.4x at 4, 1.2x at 8, 1.13x at
#: 16; a single text in eager PyTorch spends much of its time between operators, which ONNX
#: Runtime fuses away. A large batch is matrix multiplies, where the packed torch path is at the
#: core's peak already (within a few percent of the graph at 32 rows on albert-base) and keeps
#: bf16 and int8 open.
SMALL_BATCH_ROWS = 16


class SmallBatchOnnx(OnnxEncoder):
    """The pipelines' default back-end on the CPU: small fp32 batches in ONNX Runtime, the rest in torch.

    The graph is exported (verified against torch, cached by the weights' hash) at the first call
    it answers, in the ONNX Runtime threads torch was given; a change to any weight afterwards
    (fine-tuning in place, a loaded state dict) is seen from the parameters' version counters and
    the graph is exported again. When the export fails, a warning says why and every later call
    runs in torch.
    """

    name = "onnx-small-batches"

    def __init__(self, max_rows: int | None = None, cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__(None)
        self.max_rows = SMALL_BATCH_ROWS if max_rows is None else max_rows
        self.cache_dir = cache_dir
        self.refusal: str | None = None  # why the export failed, once it has
        self._stamp: tuple | None = None

    def __repr__(self) -> str:
        return f"SmallBatchOnnx(max_rows={self.max_rows})"

    @property
    def path(self) -> str:
        return "" if self.session is None else str(self.session.path)

    def supports(self, call: EncoderCall) -> str | None:
        if call.batch_size > self.max_rows:
            return (f"a batch of {call.batch_size} rows: above {self.max_rows}, the packed torch path is about as "
                    "fast (its matrix multiplies run near the core's peak)")  # fmt: skip
        if self.refusal is not None:
            return self.refusal
        if call.device.type != "cpu":
            return f"the model is on {call.device}, and ONNX Runtime runs here on the CPU"
        if call.dtype != torch.float32:
            return f"the model computes in {call.dtype}, and the graph is float32"
        return super().supports(call)

    def run(self, encoding: EncodingModel, call: EncoderCall) -> BaseModelOutputWithPooling:
        model = cast("AlbertModel", encoding)  # it exports, and reads the layers and the back-end list
        if model.encoder.shared_layers()[0].attention.qkv_projection is not None:
            return self._in_torch(model, call, "the encoder is quantised (precision='int8'); the graph is float32")
        stamp = tuple((p.data_ptr(), p._version) for p in model.parameters())
        if self.session is None or stamp != self._stamp:
            from .cpu import OnnxModel

            try:
                with warnings.catch_warnings():  # the exporter's notes are not the user's concern here
                    warnings.simplefilter("ignore")
                    path = cached_export(model, self.cache_dir, announce=logging.INFO)
            except Exception as error:  # noqa: BLE001 (any failure: this call and every later one run in torch)
                return self._in_torch(model, call, f"the ONNX export failed ({type(error).__name__}: {error})")
            self.session = OnnxModel(path, threads=torch.get_num_threads(), spinning=False)
            self._stamp = stamp
        return super().run(model, call)

    def _in_torch(self, model: AlbertModel, call: EncoderCall, reason: str) -> BaseModelOutputWithPooling:
        """Answer with the next back-end, and decline from now on for ``reason``."""
        logger.warning("small batches stay in torch: %s", reason)
        self.refusal = reason
        following = model.backends[model.backends.index(self) + 1 :]
        backend = next((b for b in following if b.supports(call) is None), None)
        return backend.run(model, call) if backend is not None else model.encode_padded(call)
