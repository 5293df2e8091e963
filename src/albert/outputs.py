"""What the models return: dataclasses with transformers' field names.

They read like transformers' outputs: ``out.logits``, ``out["logits"]``, ``out[0]`` (the first
field that is set) and ``out.to_tuple()``, so code written for transformers keeps working. The
torch models and the Flax ones (:mod:`albert.flax`, which registers these classes as JAX pytrees
so that a jitted forward returns them whole) share them: nothing here imports either framework.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dataclasses import Field
    from typing import TypeAlias

    # The same classes hold torch tensors (torch models) and JAX arrays (Flax models): either is a "Tensor" here.
    Tensor: TypeAlias = Any


class ModelOutput:
    """Base of every output: attribute, key and position access over the fields that are set."""

    if TYPE_CHECKING:  # every subclass is a dataclass: this lets the type checker see it on the base
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(value for value in self.values())

    def keys(self) -> list[str]:
        return [spec.name for spec in fields(self) if getattr(self, spec.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(name, getattr(self, name)) for name in self.keys()]

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            value = getattr(self, key, None)
            if value is None:
                raise KeyError(key)  # the mapping protocol (`in`, `.get()`), as transformers' ModelOutput
            return value
        return self.to_tuple()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={_describe(value)}" for name, value in self.items())
        return f"{type(self).__name__}({body})"


def _describe(value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a torch tensor, a JAX or NumPy array
        kind = "Tensor" if type(value).__module__.startswith("torch") else "Array"
        return f"{kind}{tuple(value.shape)}"
    if isinstance(value, tuple):
        return f"tuple[{len(value)}]"
    return repr(value)


@dataclass(repr=False)
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass(repr=False)
class AlbertForPreTrainingOutput(ModelOutput):
    loss: Tensor | None = None
    prediction_logits: Tensor | None = None
    sop_logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass(repr=False)
class MaskedLMOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass(repr=False)
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass(repr=False)
class TokenClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass(repr=False)
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor | None = None
    start_logits: Tensor | None = None
    end_logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass(repr=False)
class MultipleChoiceModelOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None

