"""The ALBERT network and every task head in JAX, as Flax NNX modules (Lan et al., 2019).

The same network as :mod:`albert.modeling`, read top to bottom in the same order: embeddings
(V x E, then E -> H), self-attention, one layer, a group of layers, the encoder that reuses groups
across depth, the base model, then the heads. Attribute names follow the torch modules (and so
transformers' weight names), which is all :mod:`albert.flax.checkpoint` needs to map a folder's
tensors onto these parameters. Numbers match the torch models to float32 rounding (see
tests/flax/test_flax.py); the only path here is the padded batch (no packed kernels).

Shapes: B batch, S sequence, E embedding size, H hidden size, N heads, D head size (H / N),
V vocabulary, C choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, cast

import jax
import jax.numpy as jnp
from flax import nnx

from .. import head_rules
from ..config import AlbertConfig
from ..errors import OptionTypeError
from ..head_rules import HEADS, IGNORE_INDEX, HeadSpec, ModelInputs
from ..outputs import (  # the heads' outputs are named in head_rules.HEADS; importable from here as before
    AlbertForPreTrainingOutput,
    BaseModelOutputWithPooling,
    MaskedLMOutput,  # noqa: F401
    MultipleChoiceModelOutput,  # noqa: F401
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,  # noqa: F401
    TokenClassifierOutput,  # noqa: F401
)
from . import outputs as _pytrees  # noqa: F401  (importing it registers those classes as JAX pytrees)
from .checkpoint import PreTrainedMixin

Array = jax.Array


def _gelu_fast(x: Array) -> Array:
    return 0.5 * x * (1.0 + jnp.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


#: ``hidden_act`` values, the same set and formulas as the torch models' (``gelu`` is exact,
#: ``gelu_new`` the tanh approximation of BERT's TF code and ALBERT v2).
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "gelu": partial(jax.nn.gelu, approximate=False),
    "gelu_new": partial(jax.nn.gelu, approximate=True),
    "gelu_pytorch_tanh": partial(jax.nn.gelu, approximate=True),
    "gelu_fast": _gelu_fast,
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda x: x,
}


def get_activation(name: str) -> Callable[[Array], Array]:
    """The activation named in a config (``hidden_act``), with a clear error for unknown names."""
    return head_rules.lookup_activation(ACTIVATIONS, name)


def attention_bias(attention_mask: Array | None) -> Array | None:
    """A 0/1 mask, (B, S) over keys or (B, S, S) / (B, 1, S, S) over query-key pairs, as the
    float32 bias attention adds to its scores: 0 where allowed, float32's most negative value
    where barred (as the torch models, so a fully masked row stays finite)."""
    if attention_mask is None:
        return None
    mask = attention_mask[head_rules.attention_mask_index(attention_mask)]
    return (1.0 - mask.astype(jnp.float32)) * jnp.finfo(jnp.float32).min


@dataclass(frozen=True)
class Builder:
    """Makes the layers of one model alike: the config's initialisers (normal(0,
    ``initializer_range``) for matrices and embeddings, zeros for biases, ones for LayerNorm
    scales, as the torch models), one dtype for the computation and one for the weights, and
    the model's random streams."""

    config: AlbertConfig
    rngs: nnx.Rngs
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def linear(self, in_features: int, out_features: int) -> nnx.Linear:
        return nnx.Linear(
            in_features, out_features, kernel_init=nnx.initializers.normal(self.config.initializer_range),
            dtype=self.dtype, param_dtype=self.param_dtype, rngs=self.rngs,
        )

    def embed(self, num_embeddings: int, features: int, padding_idx: int | None = None) -> nnx.Embed:
        embed = nnx.Embed(
            num_embeddings, features, embedding_init=nnx.initializers.normal(self.config.initializer_range),
            dtype=self.dtype, param_dtype=self.param_dtype, rngs=self.rngs,
        )
        if padding_idx is not None:  # the padding row starts at zero, as torch's padding_idx
            embed.embedding.set_value(embed.embedding.get_value().at[padding_idx].set(0))
        return embed

    def layer_norm(self, features: int) -> nnx.LayerNorm:
        # Two-pass variance, as torch: the one-pass E[x^2] - E[x]^2 loses digits.
        return nnx.LayerNorm(
            features, epsilon=self.config.layer_norm_eps, use_fast_variance=False,
            dtype=self.dtype, param_dtype=self.param_dtype, rngs=self.rngs,
        )

    def dropout(self, rate: float | None) -> nnx.Dropout:
        return nnx.Dropout(rate or 0.0, rngs=self.rngs)


class AlbertEmbeddings(nnx.Module):
    """Token, position and segment embeddings in the small space E (paper section 3.1:
    factorized embedding parameterization); the E -> H projection lives in the encoder."""

    def __init__(self, make: Builder) -> None:
        config = make.config
        self.word_embeddings = make.embed(config.vocab_size, config.embedding_size, config.pad_token_id)
        self.position_embeddings = make.embed(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = make.embed(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = make.layer_norm(config.embedding_size)
        self.dropout = make.dropout(config.hidden_dropout_prob)
        self.absolute_positions = config.position_embedding_type == "absolute"

    def __call__(
        self, input_ids: Array | None, token_type_ids: Array | None, position_ids: Array | None,
        inputs_embeds: Array | None, deterministic: bool | None = None,
    ) -> Array:
        if inputs_embeds is None:
            assert input_ids is not None  # the model's check_inputs refuses neither ids nor embeddings
            inputs_embeds = self.word_embeddings(input_ids)  # (B, S, E)
        batch_size, seq_length = inputs_embeds.shape[:2]
        if token_type_ids is None:
            token_type_ids = jnp.zeros((batch_size, seq_length), dtype=jnp.int32)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute_positions:
            if position_ids is None:
                position_ids = jnp.arange(seq_length)[None, :]
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings), deterministic=deterministic)


class AlbertAttention(nnx.Module):
    """Multi-head self-attention; the output projection and its LayerNorm live here for the
    weight names and are applied by :class:`AlbertLayer`, as in the torch model."""

    def __init__(self, make: Builder) -> None:
        config, hidden = make.config, make.config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.head_dim
        self.query = make.linear(hidden, hidden)
        self.key = make.linear(hidden, hidden)
        self.value = make.linear(hidden, hidden)
        self.dense = make.linear(hidden, hidden)
        self.LayerNorm = make.layer_norm(hidden)
        self.attention_dropout = make.dropout(config.attention_probs_dropout_prob)
        self.output_dropout = make.dropout(config.hidden_dropout_prob)
        self.position_embedding_type = config.position_embedding_type
        if self.position_embedding_type != "absolute":
            # Shaw et al. (2018) relative positions, as transformers offers them for ALBERT.
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = make.embed(2 * config.max_position_embeddings - 1, self.attention_head_size)

    def _split_heads(self, x: Array) -> Array:
        return x.reshape(*x.shape[:2], self.num_attention_heads, self.attention_head_size)  # (B, S, N, D)

    def __call__(
        self, hidden_states: Array, bias: Array | None, deterministic: bool | None = None
    ) -> tuple[Array, Array]:
        """(B, S, H) -> the context (the heads' outputs concatenated, (B, S, H)) and the
        attention probabilities (B, N, S, S)."""
        query = self._split_heads(self.query(hidden_states))
        key = self._split_heads(self.key(hidden_states))
        value = self._split_heads(self.value(hidden_states))
        scores = jnp.einsum("bqnd,bknd->bnqk", query, key) / math.sqrt(self.attention_head_size)
        if self.position_embedding_type != "absolute":
            scores = scores + self._relative_scores(query, key)
        scores = scores.astype(jnp.float32)  # the softmax in float32 whatever the compute dtype
        if bias is not None:
            scores = scores + bias
        probs = jax.nn.softmax(scores, axis=-1).astype(value.dtype)
        context = jnp.einsum("bnqk,bknd->bqnd", self.attention_dropout(probs, deterministic=deterministic), value)
        return context.reshape(hidden_states.shape[:2] + (-1,)), probs

    def _relative_scores(self, query: Array, key: Array) -> Array:
        positions = jnp.arange(query.shape[1])
        distance = positions[:, None] - positions[None, :]
        table = self.distance_embedding(distance + self.max_position_embeddings - 1).astype(query.dtype)  # (S, S, D)
        scores = jnp.einsum("blnd,lrd->bnlr", query, table)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + jnp.einsum("brnd,lrd->bnlr", key, table)
        return scores


class AlbertLayer(nnx.Module):
    """One transformer layer: attention, then the feed-forward block, each with residual and LayerNorm."""

    def __init__(self, make: Builder) -> None:
        config = make.config
        self.attention = AlbertAttention(make)
        self.ffn = make.linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = make.linear(config.intermediate_size, config.hidden_size)
        self.full_layer_layer_norm = make.layer_norm(config.hidden_size)
        get_activation(config.hidden_act)  # an unknown name fails here, not at the first call
        self.hidden_act = config.hidden_act
        self.dropout = make.dropout(config.hidden_dropout_prob)

    def __call__(self, hidden_states: Array, bias: Array | None, deterministic: bool | None = None) -> tuple[Array, Array]:
        attention = self.attention
        context, probs = attention(hidden_states, bias, deterministic)
        projected = attention.output_dropout(attention.dense(context), deterministic=deterministic)
        attended = attention.LayerNorm(hidden_states + projected)
        ffn_out = self.ffn_output(get_activation(self.hidden_act)(self.ffn(attended)))
        return self.full_layer_layer_norm(self.dropout(ffn_out, deterministic=deterministic) + attended), probs


class AlbertLayerGroup(nnx.Module):
    """``inner_group_num`` distinct layers applied in sequence: one unit of weight sharing."""

    def __init__(self, make: Builder) -> None:
        self.albert_layers = nnx.List([AlbertLayer(make) for _ in range(make.config.inner_group_num)])

    def __call__(
        self, hidden_states: Array, bias: Array | None, deterministic: bool | None = None
    ) -> tuple[Array, list[Array]]:
        attentions = []
        for layer in self.albert_layers:
            hidden_states, probs = layer(hidden_states, bias, deterministic)
            attentions.append(probs)
        return hidden_states, attentions


#: One value per step of :func:`repeat_group`: a list, or an array stacked along its first axis.
Steps = Sequence[Array] | Array


def repeat_group(
    group: AlbertLayerGroup, hidden_states: Array, bias: Array | None, steps: int, output_attentions: bool,
    deterministic: bool | None = None,
) -> tuple[Array, Steps, Sequence[Steps]]:
    """Apply ``group`` ``steps`` times in a row.

    Under a JAX transformation (``jax.jit``, ``nnx.jit``, ``grad``) the steps are one
    ``jax.lax.scan``: the weights are the same at every step, so the program holds the group
    once and compiles in about half the time for a 12-layer, one-group model, with the same
    numbers. Called eagerly, the steps run op by op, whose compilations JAX caches (a scan would
    be compiled anew at every call).

    Returns the final (B, S, H) states, the states after every step and, when
    ``output_attentions``, each inner layer's probabilities at every step (B, N, S, S each).
    """
    if not isinstance(hidden_states, jax.core.Tracer):
        every_step: list[Array] = []
        attentions: list[list[Array]] = [[] for _ in group.albert_layers]
        for _ in range(steps):
            hidden_states, probs = group(hidden_states, bias, deterministic)
            every_step.append(hidden_states)
            for kept, layer_probs in zip(attentions, probs):
                kept.append(layer_probs)
        return hidden_states, every_step, attentions if output_attentions else []

    # rest: the dropout streams, carried (Flax types the states after the first as variadic; two filters make two)
    graphdef, params, rest = cast(
        "tuple[nnx.GraphDef[AlbertLayerGroup], nnx.State[Any, Any], nnx.State[Any, Any]]",
        nnx.split(group, nnx.Param, ...),
    )

    def step(carry: tuple[Array, Any], _: None) -> tuple[tuple[Array, Any], tuple[Array, list[Array]]]:
        hidden, streams = carry
        layers = nnx.merge(graphdef, params, streams)
        hidden, probs = layers(hidden, bias, deterministic)
        return (hidden, nnx.state(layers, nnx.Not(nnx.Param))), (hidden, probs if output_attentions else [])

    init: tuple[Array, Any] = (hidden_states, rest)
    (hidden_states, rest), (stacked_steps, stacked_attentions) = jax.lax.scan(step, init, length=steps)
    nnx.update(group, rest)
    return hidden_states, stacked_steps, stacked_attentions  # stacked: (steps, B, S, H), (steps, B, N, S, S) each


class AlbertTransformer(nnx.Module):
    """Projects E -> H, then runs ``num_hidden_layers`` steps over ``num_hidden_groups`` groups.

    Cross-layer parameter sharing (paper section 3.1): step ``i`` uses group
    ``i // (num_hidden_layers / num_hidden_groups)``, as google-research/albert, transformers and
    the torch model; each group's consecutive steps run as one loop (:func:`repeat_group`). A
    shared group is one set of parameters, so its gradient sums over the steps that use it.
    """

    def __init__(self, make: Builder) -> None:
        config = make.config
        self.layers_per_group = config.layers_per_group
        self.embedding_hidden_mapping_in = make.linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nnx.List([AlbertLayerGroup(make) for _ in range(config.num_hidden_groups)])

    def __call__(
        self, hidden_states: Array, bias: Array | None, output_attentions: bool = False,
        output_hidden_states: bool = False, deterministic: bool | None = None,
    ) -> tuple[Array, tuple[Array, ...] | None, tuple[Array, ...] | None]:
        """(B, S, E) -> the final (B, S, H) states; when asked, the states after the projection
        and after every step, and every layer's attention probabilities (B, N, S, S)."""
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)  # (B, S, E) -> (B, S, H)
        all_hidden: list[Array] = [hidden_states]
        all_attentions: list[Array] = []
        for group in self.albert_layer_groups:
            hidden_states, every_step, attentions = repeat_group(
                group, hidden_states, bias, self.layers_per_group, output_attentions, deterministic
            )
            all_hidden.extend(every_step)
            # step by step, each step's inner layers in order, as the torch encoder lists them
            all_attentions.extend(probs[index] for index in range(self.layers_per_group) for probs in attentions)
        return (
            hidden_states,
            tuple(all_hidden) if output_hidden_states else None,
            tuple(all_attentions) if output_attentions else None,
        )


@dataclass(frozen=True, eq=False)
class _Static:
    """Holds a mutable value (the config) as static module data: hashed by identity, so a
    model's graph definition can key ``jax.jit``'s cache although AlbertConfig is unhashable."""

    value: Any


class FlaxAlbertPreTrainedModel(PreTrainedMixin, nnx.Module):
    """What the base model and every head share: the config, dtypes and checkpoint I/O.

    Every model class is built as ``cls(config, rngs=nnx.Rngs(0), dtype=jnp.float32,
    param_dtype=jnp.float32)``: ``dtype`` is the computation's, ``param_dtype`` the weights'.
    A freshly built model is in training mode (dropout on, as a new torch module);
    ``from_pretrained`` returns it in eval mode. ``deterministic=True`` in a call turns dropout
    off for that call whatever the mode.
    """

    base_model_prefix = "albert"

    def _setup(self, config: AlbertConfig, rngs: nnx.Rngs | None, dtype: Any, param_dtype: Any) -> Builder:
        if not isinstance(config, AlbertConfig):
            raise OptionTypeError(f"expected an AlbertConfig, got {type(config).__name__}")
        config.validate()  # a field changed since the config was made is checked before any array exists
        self._config = _Static(config)
        return Builder(config, rngs if rngs is not None else nnx.Rngs(0), dtype, param_dtype)

    @property
    def config(self) -> AlbertConfig:  # type: ignore[override]
        return self._config.value

    def init_parameter(self, path: tuple[Any, ...], variable: nnx.Variable[Any], key: Array) -> None:
        """Give one parameter the value :class:`Builder` gives it (normal(0, initializer_range)
        for matrices and embeddings, the padding row zero; ones for LayerNorm scales; zeros for
        biases): ``from_pretrained`` does so for the weights a checkpoint lacks."""
        shape, dtype = variable.get_value().shape, variable.get_value().dtype
        if path[-1] in ("kernel", "embedding"):
            value = self.config.initializer_range * jax.random.normal(key, shape, dtype)
            if path[-2] == "word_embeddings" and self.config.pad_token_id is not None:
                value = value.at[self.config.pad_token_id].set(0)
        else:
            value = jnp.ones(shape, dtype) if path[-1] == "scale" else jnp.zeros(shape, dtype)
        variable.set_value(value)

    @property
    def base_model(self) -> FlaxAlbertModel:
        """The ``FlaxAlbertModel`` inside (the model itself for the bare encoder), as in transformers."""
        return cast(FlaxAlbertModel, getattr(self, self.base_model_prefix, self))

    def get_input_embeddings(self) -> nnx.Embed:
        return self.base_model.embeddings.word_embeddings


class FlaxAlbertModel(FlaxAlbertPreTrainedModel):
    """The bare encoder: token states ``last_hidden_state`` and the tanh ``pooler_output`` of
    the first ([CLS]) token."""

    def __init__(
        self, config: AlbertConfig, *, add_pooling_layer: bool = True, rngs: nnx.Rngs | None = None,
        dtype: Any = jnp.float32, param_dtype: Any = jnp.float32,
    ) -> None:
        make = self._setup(config, rngs, dtype, param_dtype)
        self.embeddings = AlbertEmbeddings(make)
        self.encoder = AlbertTransformer(make)
        self.pooler = make.linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None

    def __call__(
        self,
        input_ids: Array | None = None,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        inputs_embeds: Array | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        deterministic: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple[Any, ...]:
        self.check_inputs(input_ids, inputs_embeds, position_ids)
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, deterministic)
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, attention_bias(attention_mask), bool(output_attentions), bool(output_hidden_states),
            deterministic,
        )
        pooled = jnp.tanh(self.pooler(sequence_output[:, 0])) if self.pooler is not None else None
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled,
            hidden_states=hidden_states,
            attentions=attentions,
        )
        return output if return_dict is not False else output.to_tuple()

    def check_inputs(self, input_ids: Array | None, inputs_embeds: Array | None, position_ids: Array | None) -> None:
        """Refuse inputs the model cannot run, with what to do instead (shapes are static, so
        this works under ``jax.jit`` too).

        Raises:
            InputError: both or neither of ids and embeddings, wrong ranks, a sequence longer
                than the position table.
        """
        head_rules.check_model_inputs(input_ids, inputs_embeds, position_ids, self.config.max_position_embeddings)


# -- losses: the torch heads' definitions, computed in float32 ----------------------------------

class FlaxLosses:
    """The losses of :class:`albert.head_rules.LossFunctions` in JAX, each in float32, with the
    torch functions' definitions."""

    @staticmethod
    def cross_entropy(logits: Array, labels: Array, ignore_index: int = IGNORE_INDEX) -> Array:
        """Mean negative log-likelihood over the labels that are not ``ignore_index`` (torch's
        ``F.cross_entropy``: NaN when every label is ignored). ``logits`` (..., K), ``labels`` (...)."""
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        keep = labels != ignore_index
        picked = jnp.take_along_axis(log_probs, jnp.where(keep, labels, 0)[..., None], axis=-1)[..., 0]
        return -jnp.sum(jnp.where(keep, picked, 0.0)) / jnp.sum(keep)

    @staticmethod
    def mean_squared_error(predictions: Array, targets: Array) -> Array:
        return jnp.mean((predictions.astype(jnp.float32) - targets.astype(jnp.float32)) ** 2)

    @staticmethod
    def binary_cross_entropy(logits: Array, targets: Array) -> Array:
        """torch's ``binary_cross_entropy_with_logits``, in its stable form."""
        logits, targets = logits.astype(jnp.float32), targets.astype(jnp.float32)
        return jnp.mean(jnp.maximum(logits, 0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits))))

    @staticmethod
    def is_integer(labels: Array) -> bool:
        return bool(jnp.issubdtype(labels.dtype, jnp.integer))


cross_entropy = FlaxLosses.cross_entropy


def sequence_classification_loss(config: AlbertConfig, logits: Array, labels: Array) -> Array:
    """Regression (MSE), single-label (cross-entropy) or multi-label (BCE) loss, chosen by
    ``config.problem_type`` or, when unset, inferred from num_labels and the labels' dtype
    (:func:`albert.head_rules.resolve_problem_type`; the config is left unchanged), as the torch head."""
    return head_rules.sequence_classification_loss(FlaxLosses(), config, logits, labels)


# -- heads --------------------------------------------------------------------------------------

class AlbertMLMHead(nnx.Module):
    """Maps H back to E, then scores the vocabulary with the word embeddings (tied: the
    decoder is no parameter of its own, as in every ALBERT checkpoint) plus its own bias."""

    def __init__(self, make: Builder) -> None:
        config = make.config
        self.dense = make.linear(config.hidden_size, config.embedding_size)
        self.hidden_act = config.hidden_act
        self.LayerNorm = make.layer_norm(config.embedding_size)
        self.bias = nnx.Param(jnp.zeros((config.vocab_size,), dtype=make.param_dtype))

    def __call__(self, hidden_states: Array, word_embeddings: nnx.Embed) -> Array:
        states = self.LayerNorm(get_activation(self.hidden_act)(self.dense(hidden_states)))  # (..., E)
        logits = word_embeddings.attend(states)  # (..., V)
        return logits + self.bias[...].astype(logits.dtype)


class AlbertSOPHead(nnx.Module):
    """Sentence-order prediction (paper section 3.1): are the two segments in their original order?"""

    def __init__(self, make: Builder) -> None:
        self.dropout = make.dropout(head_rules.classifier_dropout(make.config))
        self.classifier = make.linear(make.config.hidden_size, make.config.num_labels)

    def __call__(self, pooled_output: Array, deterministic: bool | None = None) -> Array:
        return self.classifier(self.dropout(pooled_output, deterministic=deterministic))


Scores = dict[str, Array]
Targets = dict[str, Any]


def _encoded(value: object) -> Array:
    """A field of the encoder's output that a head reads and the encoder always sets: a JAX array
    (or its tracer) here, though :mod:`albert.outputs` types the shared classes' fields as optional."""
    assert isinstance(value, jax.Array)
    return value


class FlaxAlbertHeadModel(FlaxAlbertPreTrainedModel):
    """A task head on the encoder, as the torch heads' ``AlbertHeadModel``: the call is the same
    for every head (:meth:`run`: the inputs, the encoder, the loss when every target is given, the
    output); a head declares ``spec`` (its entry in :data:`albert.head_rules.HEADS`), its layers
    (:meth:`build_head`), its scores (:meth:`scores`) and its ``__call__`` with its own targets
    (:class:`FlaxAlbertLabelsHeadModel` for the heads whose one target is ``labels``)."""

    spec: ClassVar[HeadSpec]
    losses: ClassVar[FlaxLosses] = FlaxLosses()

    def __init__(
        self, config: AlbertConfig, *, rngs: nnx.Rngs | None = None, dtype: Any = jnp.float32,
        param_dtype: Any = jnp.float32,
    ) -> None:
        make = self._setup(config, rngs, dtype, param_dtype)
        head_rules.check_head_config(self.spec.task, config)
        self.num_labels = config.num_labels
        self.albert = FlaxAlbertModel(
            config, add_pooling_layer=self.spec.add_pooling_layer, rngs=make.rngs, dtype=dtype, param_dtype=param_dtype
        )
        self.build_head(make)  # after the encoder: the same parameters and random draws as ever

    def build_head(self, make: Builder) -> None:
        """Make the head's own layers (their names are the checkpoint's)."""
        raise NotImplementedError

    def scores(
        self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None
    ) -> Scores:
        """The head's output fields but the loss, from the encoder's output."""
        raise NotImplementedError

    def run(
        self, inputs: ModelInputs, targets: Targets, output_attentions: bool | None,
        output_hidden_states: bool | None, return_dict: bool | None, deterministic: bool | None,
    ) -> Any:
        """The call of every head: encoder, scores, loss, output."""
        encoder_inputs = head_rules.flatten_choices(inputs) if self.spec.choices else inputs
        encoded = self.albert(*encoder_inputs, output_attentions, output_hidden_states, deterministic=deterministic)
        assert isinstance(encoded, BaseModelOutputWithPooling)  # return_dict left None: the output, not its tuple
        scores = self.scores(encoded, inputs, deterministic)
        loss = self.spec.loss(self.losses, scores, targets, self.config) if self.spec.targets_given(targets) else None
        return self.spec.output(loss, scores, encoded, return_dict)


class FlaxAlbertLabelsHeadModel(FlaxAlbertHeadModel):
    """A head whose one target is ``labels``, as the torch heads' ``AlbertLabelsHeadModel``;
    pretraining and question answering take other targets in its place, with calls of their own."""

    def __call__(
        self,
        input_ids: Array | None = None,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        inputs_embeds: Array | None = None,
        labels: Array | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        deterministic: bool | None = None,
    ) -> Any:
        """The torch heads' signature (plus ``deterministic``): the head's output
        (``spec.output_class``), with the loss when ``labels`` are given."""
        inputs = ModelInputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        return self.run(inputs, {"labels": labels}, output_attentions, output_hidden_states, return_dict, deterministic)


class _TiedMLMMixin:
    """Vocabulary scores of the heads with an MLM decoder (tied to the word embeddings)."""

    albert: FlaxAlbertModel
    predictions: AlbertMLMHead

    def vocabulary_logits(self, hidden_states: Array) -> Array:
        """(..., H) states -> (..., V) scores."""
        return self.predictions(hidden_states, self.albert.embeddings.word_embeddings)

    def masked_logits(self, hidden_states: Array, selected: Array, size: int | None = None) -> Array:
        """Vocabulary scores at the positions ``selected`` marks: (B, S, H) states and a (B, S)
        bool mask -> (M, V), row by row in text order, as the torch heads' ``masked_logits``.

        The vocabulary projection is most of an MLM's cost, and the head works position by
        position, so scoring only the positions that are read gives the same numbers. M depends
        on the data, so under ``jax.jit`` pass ``size``: a fixed M (rows past the true count
        score position (0, 0) and are to be ignored).
        """
        rows, columns = jnp.nonzero(selected, size=size, fill_value=0)
        return self.vocabulary_logits(hidden_states[rows, columns])


class FlaxAlbertForPreTraining(_TiedMLMMixin, FlaxAlbertHeadModel):
    """The pretraining model: masked-LM and sentence-order heads (loss = MLM + SOP)."""

    spec = HEADS["pretraining"]

    def build_head(self, make: Builder) -> None:
        self.predictions = AlbertMLMHead(make)
        self.sop_classifier = AlbertSOPHead(make)

    # the torch heads' argument order: this head's targets take labels' place before output_attentions
    def __call__(
        self,
        input_ids: Array | None = None,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        inputs_embeds: Array | None = None,
        labels: Array | None = None,
        sentence_order_label: Array | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        deterministic: bool | None = None,
    ) -> AlbertForPreTrainingOutput | tuple[Any, ...]:
        """As every head's, with the sentence-order target: the loss needs both."""
        inputs = ModelInputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        targets = {"labels": labels, "sentence_order_label": sentence_order_label}
        return self.run(inputs, targets, output_attentions, output_hidden_states, return_dict, deterministic)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None) -> Scores:
        prediction_logits = self.vocabulary_logits(_encoded(encoded.last_hidden_state))  # (B, S, V)
        sop_logits = self.sop_classifier(_encoded(encoded.pooler_output), deterministic)  # (B, 2)
        return {"prediction_logits": prediction_logits, "sop_logits": sop_logits}


class FlaxAlbertForMaskedLM(_TiedMLMMixin, FlaxAlbertLabelsHeadModel):
    """Fill-mask: vocabulary scores at every position."""

    spec = HEADS["masked_lm"]

    def build_head(self, make: Builder) -> None:
        self.predictions = AlbertMLMHead(make)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None) -> Scores:
        return {"logits": self.vocabulary_logits(_encoded(encoded.last_hidden_state))}  # (B, S, V)


class FlaxAlbertForSequenceClassification(FlaxAlbertLabelsHeadModel):
    """Classification or regression from the pooled [CLS] state (e.g. GLUE)."""

    spec = HEADS["sequence_classification"]

    def build_head(self, make: Builder) -> None:
        self.dropout = make.dropout(head_rules.classifier_dropout(make.config))
        self.classifier = make.linear(make.config.hidden_size, make.config.num_labels)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None) -> Scores:
        return {"logits": self.classifier(self.dropout(encoded.pooler_output, deterministic=deterministic))}


class FlaxAlbertForTokenClassification(FlaxAlbertLabelsHeadModel):
    """One label per token (e.g. named entities); labels of -100 (padding, later pieces) are ignored."""

    spec = HEADS["token_classification"]

    def build_head(self, make: Builder) -> None:
        self.dropout = make.dropout(head_rules.token_classifier_dropout(make.config))
        self.classifier = make.linear(make.config.hidden_size, make.config.num_labels)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None) -> Scores:
        states = self.dropout(encoded.last_hidden_state, deterministic=deterministic)
        return {"logits": self.classifier(states)}  # (B, S, num_labels)


class FlaxAlbertForQuestionAnswering(FlaxAlbertHeadModel):
    """Extractive QA: a start and an end score for every token (SQuAD)."""

    spec = HEADS["question_answering"]

    def build_head(self, make: Builder) -> None:
        self.qa_outputs = make.linear(make.config.hidden_size, make.config.num_labels)

    # the torch heads' argument order: this head's targets take labels' place before output_attentions
    def __call__(
        self,
        input_ids: Array | None = None,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        inputs_embeds: Array | None = None,
        start_positions: Array | None = None,
        end_positions: Array | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        deterministic: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple[Any, ...]:
        """As every head's, with a start and an end position as targets: the loss needs both."""
        inputs = ModelInputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        targets = {"start_positions": start_positions, "end_positions": end_positions}
        return self.run(inputs, targets, output_attentions, output_hidden_states, return_dict, deterministic)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None) -> Scores:
        logits = self.qa_outputs(_encoded(encoded.last_hidden_state))  # (B, S, 2)
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


class FlaxAlbertForMultipleChoice(FlaxAlbertLabelsHeadModel):
    """Scores each of C choices from its pooled state; inputs are (B, C, S)."""

    spec = HEADS["multiple_choice"]

    def build_head(self, make: Builder) -> None:
        self.dropout = make.dropout(head_rules.classifier_dropout(make.config))
        self.classifier = make.linear(make.config.hidden_size, 1)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, deterministic: bool | None) -> Scores:
        pooled = self.dropout(encoded.pooler_output, deterministic=deterministic)
        return {"logits": self.classifier(pooled).reshape(-1, head_rules.count_choices(inputs))}  # (B, C)


MODEL_CLASSES: dict[str, type[FlaxAlbertPreTrainedModel]] = {
    cls.__name__: cls
    for cls in (
        FlaxAlbertModel,
        FlaxAlbertForPreTraining,
        FlaxAlbertForMaskedLM,
        FlaxAlbertForSequenceClassification,
        FlaxAlbertForTokenClassification,
        FlaxAlbertForQuestionAnswering,
        FlaxAlbertForMultipleChoice,
    )
}
