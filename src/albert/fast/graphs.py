"""CUDA graphs for small batches: the packed encoder replayed with one launch.

Why: a batch of 64 real sentences is about a thousand tokens. Each of the dozen kernels of a
layer then finishes in microseconds and the GPU waits for the CPU to launch the next one (on an
H200 the eager fast path spent 4 ms on such a batch, mostly launching). A CUDA graph records every
kernel of the encoder once and replays them all with a single launch.

A graph has fixed shapes and addresses, and token counts change from batch to batch. So the
packed tokens are padded up to a bucket (the next multiple of ``token_step`` above the count)
and the extra tokens form one more sequence of their own, which variable-length attention keeps
apart from the real ones; the longest-sequence bound is rounded up to a power of two. There is one
graph per (rows, token bucket, length bucket, dtype), captured on first use into one shared
memory pool; past ``max_graphs`` the least recently used is dropped.

A graph reads the parameters at the addresses it was captured with. When any parameter of the
encoder is replaced or changed in place (tracked by address and version counter) every graph is
dropped and captured again on next use.

Graphs run only where that is exact and safe: on CUDA, without gradients, in eval mode, with the
``varlen`` attention kernel (the others read lengths on the host), for ``input_ids`` inputs and
without ``output_hidden_states``, up to ``max_tokens`` tokens. :class:`GraphedEncoder` is a
back-end of the model (``model.backends``, in front of the packed one) and says why it declines a
call (``model.explain_backend(...)``); every call it declines takes the eager fast path, and a
capture that fails warns once and turns graphs off for that model.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from ..backends import EncoderCall, EncodingModel, PackedBackend, PackedTokens, resolved_kernel
from ..errors import OptionError
from ..kernels.attention import ATTENTION_KERNELS
from ..kernels.padding import sequences_layout
from .models import ModelT, accelerate, base_of, is_accelerated


def bucket_sizes(num_tokens: int, max_seqlen: int, token_step: int) -> tuple[int, int]:
    """The padded token count and the longest-sequence bound a batch is replayed at.

    The token bucket is strictly above ``num_tokens`` so the padding sequence is never empty, and
    the length bound covers both the longest real sequence and the padding sequence.
    """
    tokens = (num_tokens // token_step + 1) * token_step
    longest = max(max_seqlen, tokens - num_tokens)
    return tokens, 1 << max(longest - 1, 0).bit_length()


@dataclass
class _Recording:
    """One bucket: its static inputs, its output, and the graph (None when not capturing)."""

    inputs: torch.Tensor  # (3, T_bucket): ids, segments, positions
    cu_seqlens: torch.Tensor  # (B + 2,) int32; the last entry (T_bucket) never changes
    output: torch.Tensor | None
    graph: Any


class GraphedEncoder(PackedBackend):
    """The packed back-end of one model, its encoder replayed from CUDA graphs bucket by bucket.

    ``capture=False`` runs the same bucketed computation eagerly: slower than the plain fast path,
    it exists to check the bucketing (padding sequence, length bound) on machines without CUDA.
    """

    name = "cuda_graphs"

    def __init__(self, token_step: int = 128, max_graphs: int = 32, max_tokens: int = 16384, capture: bool = True):
        if token_step < 1 or max_graphs < 1 or max_tokens < 1:
            raise OptionError(
                f"token_step, max_graphs and max_tokens must be positive, got {token_step}, {max_graphs}, {max_tokens}"
            )
        self.token_step, self.max_graphs, self.max_tokens, self.capture = token_step, max_graphs, max_tokens, capture
        self.enabled = True
        self.captures = 0  # graphs recorded so far (a measure of how well the buckets are reused)
        self._recordings: OrderedDict[tuple, _Recording] = OrderedDict()
        self._stamp: tuple | None = None
        self._pool: Any = None

    # A model with graphs can still be deep-copied or pickled: the copy starts without recordings.
    def __deepcopy__(self, memo: dict) -> GraphedEncoder:
        return GraphedEncoder(self.token_step, self.max_graphs, self.max_tokens, self.capture)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_recordings=OrderedDict(), _stamp=None, _pool=None)
        return state

    def __repr__(self) -> str:
        return f"GraphedEncoder(token_step={self.token_step}, graphs={self.num_graphs}, enabled={self.enabled})"

    @property
    def num_graphs(self) -> int:
        return len(self._recordings)

    def clear(self) -> None:
        """Drop every recording (and with it the graphs' memory)."""
        self._recordings.clear()
        self._stamp = None

    def supports(self, call: EncoderCall) -> str | None:
        reason = super().supports(call)
        if reason is not None:
            return reason
        if call.input_ids is None:
            return "the graphs take input_ids, not inputs_embeds"
        if call.output_hidden_states:
            return "the graphs return the last layer only"
        return None if self.applies(call) else self.why_not(call)

    def why_not(self, call: EncoderCall) -> str | None:
        """Why this call may not run from a graph, or None (see the module notes)."""
        if not self.enabled:
            return "a capture failed earlier, so graphs are off for this model"
        if call.grad_enabled or call.training:
            return "gradients are enabled or the model is in training mode"
        if call.facts.num_tokens >= self.max_tokens:
            return f"{call.facts.num_tokens} real tokens, max_tokens is {self.max_tokens}"
        if not self.capture:
            return None
        if call.device.type != "cuda":
            return f"the batch is on {call.device}, not on CUDA"
        kernel = resolved_kernel(call)
        return None if kernel == "varlen" else f"the attention kernel is {kernel!r}; only 'varlen' reads no length on the host"

    def applies(self, call: EncoderCall) -> bool:
        """Whether this call may run from a graph."""
        return self.why_not(call) is None

    def encode(
        self, model: EncodingModel, tokens: PackedTokens, call: EncoderCall
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The final (T, H) states from the bucket's graph; the eager fast path if capture fails."""
        hidden = self.replay(model, tokens, call.packed_kernel)
        return super().encode(model, tokens, call) if hidden is None else (hidden, None)

    def replay(self, model: EncodingModel, tokens: PackedTokens, kernel: str) -> torch.Tensor | None:
        """The final (T, H) states of the packed batch, or None when a capture failed just now."""
        layout, packed_ids = tokens.layout, tokens.input_ids
        assert packed_ids is not None  # supports() refused inputs_embeds
        num_tokens, num_rows = layout.num_tokens, layout.batch_size
        tokens_bucket, longest = bucket_sizes(num_tokens, layout.max_seqlen, self.token_step)
        stamp = _parameter_stamp(model)
        if stamp != self._stamp:
            self.clear()
            self._stamp = stamp
        autocast = (torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
        key = (num_rows, tokens_bucket, longest, packed_ids.device, autocast)
        with torch.inference_mode():
            found = self._recordings.get(key)
            fresh = found is None
            recording = self._allocate(key) if found is None else found
            real = torch.stack([packed_ids, tokens.token_type_ids, tokens.position_ids])  # (3, T)
            recording.inputs[:, :num_tokens].copy_(real)
            recording.inputs[:, num_tokens:].zero_()
            recording.cu_seqlens[: num_rows + 1].copy_(layout.cu_seqlens)
            # Captured on a real batch: the warm-up passes before recording then compute sense.
            if fresh and not self._keep(model, key, recording, longest):
                return None
            self._recordings.move_to_end(key)
            if recording.graph is not None and recording.output is not None:
                recording.graph.replay()
                output = recording.output
            else:
                output = _bucketed_forward(model, recording, longest, kernel)
        # Outside inference mode: the caller gets an ordinary tensor, and the next replay cannot
        # overwrite it.
        return output[:num_tokens].clone()

    def _allocate(self, key: tuple) -> _Recording:
        num_rows, tokens, _, device, _ = key
        inputs = torch.zeros(3, tokens, dtype=torch.long, device=device)
        cu_seqlens = torch.zeros(num_rows + 2, dtype=torch.int32, device=device)
        cu_seqlens[-1] = tokens
        return _Recording(inputs, cu_seqlens, None, None)

    def _keep(self, model: EncodingModel, key: tuple, recording: _Recording, longest: int) -> bool:
        """Capture the recording's graph (when capturing) and file it; False if capture failed."""
        if self.capture:
            try:
                recording.output, recording.graph = self._capture(model, recording, longest, "varlen")
            except Exception as error:  # noqa: BLE001 - any capture failure means: run eagerly
                self.enabled = False
                self.clear()
                warnings.warn(
                    f"albert.fast: CUDA graph capture failed ({str(error).splitlines()[0]}); "
                    "running this model without graphs",
                    stacklevel=4,
                )
                return False
            self.captures += 1
        if len(self._recordings) >= self.max_graphs:
            self._recordings.popitem(last=False)
        self._recordings[key] = recording
        return True

    def _capture(self, model: EncodingModel, recording: _Recording, longest: int, backend: str) -> tuple[torch.Tensor, Any]:
        device = recording.inputs.device
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        # Warm up on a side stream (allocator, cuBLAS handles, lazy kernels) before recording.
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                _bucketed_forward(model, recording, longest, backend)
        torch.cuda.current_stream(device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        # A kernel that fails while recording (not while warming up) is not broken for eager
        # use: keep the registry's record of failed kernels as it was.
        with ATTENTION_KERNELS.failures_kept_as_they_were(), torch.cuda.graph(graph, pool=self._pool):
            output = _bucketed_forward(model, recording, longest, backend)
        return output, graph


def _bucketed_forward(model: EncodingModel, recording: _Recording, longest: int, backend: str) -> torch.Tensor:
    """The encoder on a bucket's static inputs; nothing here reads a value on the host."""
    inputs = recording.inputs
    layout = sequences_layout(recording.cu_seqlens, longest, inputs.shape[1])
    hidden, _ = model.encode_tokens(inputs[0], inputs[1], inputs[2], layout, backend)
    return hidden


def _parameter_stamp(model: EncodingModel) -> tuple:
    return tuple((p.data_ptr(), p._version, p.dtype) for p in model.parameters())


def use_cuda_graphs(
    model: ModelT, *, token_step: int = 128, max_graphs: int = 32, max_tokens: int = 16384, capture: bool = True
) -> ModelT:
    """Put ``model`` on the fast path (if it is not already) and run its encoder from CUDA graphs
    where that applies (see the module notes). Pays at small batches, where launches dominate.

    Args:
        model: an albert model (``AlbertModel`` or an ``AlbertFor*`` head).
        token_step: token buckets are multiples of this: larger means fewer graphs, more padding.
        max_graphs: recordings kept; the least recently used is dropped beyond it.
        max_tokens: batches with this many real tokens or more run eagerly (launches no longer
            dominate, and a graph's memory grows with its bucket).
        capture: False runs the bucketed computation eagerly (to check it without CUDA).

    Returns:
        The same model. Graphs are captured on first use of each bucket.
    """
    if not is_accelerated(model):
        accelerate(model)
    base_of(model).add_backend(GraphedEncoder(token_step, max_graphs, max_tokens, capture), before="packed")
    return model


def graphed_encoder(model: torch.nn.Module) -> GraphedEncoder | None:
    """The model's :class:`GraphedEncoder`, or None when :func:`use_cuda_graphs` was not called."""
    return base_of(model).backend_named(GraphedEncoder.name) if is_accelerated(model) else None


def drop_cuda_graphs(model: ModelT) -> ModelT:
    """Undo :func:`use_cuda_graphs` (the model stays on the eager fast path)."""
    base_of(model).remove_backend(GraphedEncoder.name)
    return model
