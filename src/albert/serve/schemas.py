"""The JSON the endpoints take and give, as pydantic models (they are the OpenAPI page at ``/docs``).

Requests name their texts ``inputs`` (a string or a list), as text-embeddings-inference does;
``/v1/embeddings`` takes OpenAI's ``input``. Every answer holds one result per input, in order,
even for a single string. Unknown fields are refused (422), except on ``/v1/embeddings``, where
OpenAI's clients may send fields of newer API versions.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..errors import InputError


def unicode_text(text: str) -> str:
    """A text as sent, unless it holds a lone surrogate: JSON's ``\\ud800``-``\\udfff`` escapes give
    one when they are not a pair, and no UTF-8 text (nor the tokenizer) can hold it.

    Raises:
        InputError: the first lone surrogate, and where (the message reads after the field's name).
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InputError(
                f"is not valid Unicode text: it holds a lone surrogate U+{ord(text[error.start]):04X} at character "
                f"{error.start} (a JSON escape \\ud800-\\udfff must be half of a pair); send the text as UTF-8"
            ) from None
    return text


#: Every string a request carries: refused (422) when it holds a lone surrogate.
Text = Annotated[str, AfterValidator(unicode_text)]
#: The most results per input a request may ask for (``top_k``): answers stay a sane size.
MAX_TOP_K = 1000
#: The most fill-mask ``targets`` of one request: each costs a model pass per piece of it.
MAX_TARGETS = 100

TRUNCATE = (
    "Cut an input longer than the model's window to it (default: the server's --auto-truncate); "
    "without truncation such an input is refused (422)."
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- embeddings -----------------------------------------------------------------------------------


class EmbedRequest(Strict):
    inputs: Text | list[Text] = Field(description="A text or a list of texts.", examples=["ALBERT shares its layers."])
    # For a sentence-embedding model a field left out takes the model's saved setting (the app
    # reads ``model_fields_set``); the defaults below are a plain model's.
    level: Literal["document", "sentence", "text"] = Field(
        "document",
        description="One vector per input (document), one per sentence of it, or one per input as "
        "sentence-transformers encodes it (text: cut to the model's max length, [CLS] and [SEP] pooled too). "
        "Left out: text for a sentence-embedding model, else document.",
    )
    pooling: Literal["mean", "cls", "max"] = Field(
        "mean",
        description="How a sentence's pieces become one vector (a document's: over all its sentences). "
        "Left out: the sentence-embedding model's own, else mean.",
    )
    normalize: bool = Field(
        True, description="Scale each vector to length 1 (left out: the sentence-embedding model's own, else true)."
    )
    dimensions: int | None = Field(
        None, ge=1, description="Keep the first d values (a Matryoshka prefix), before normalize. Default: the "
        "sentence-embedding model's own dimension, else all.",
    )
    split_sentences: bool = Field(True, description="Embed each sentence on its own, as the pipeline does.")
    truncate: bool | None = Field(None, description=TRUNCATE)


class SentenceEmbedding(BaseModel):
    sentence: int
    text: str
    start: int
    end: int
    embedding: list[float]


class EmbedAllRequest(Strict):
    inputs: Text | list[Text] = Field(description="A text or a list of texts.")
    level: Literal["piece", "word"] = Field(
        "piece", description="A vector per SentencePiece piece, or per word (its pieces pooled)."
    )
    word_pooling: Literal["first", "mean", "last"] = Field("mean", description="How a word's pieces are pooled.")
    split_sentences: bool = Field(True, description="Embed each sentence on its own, as the pipeline does.")
    truncate: bool | None = Field(None, description=TRUNCATE)


class TokenEmbedding(BaseModel):
    sentence: int
    word: int
    piece: int | None = Field(None, description="The piece's position in its sentence (piece level).")
    token: int | None = Field(None, description="The piece's vocabulary id (piece level).")
    text: str = Field(description="The input's characters the unit covers: inputs[i][start:end].")
    start: int
    end: int
    embedding: list[float]


class OpenAIEmbeddingRequest(BaseModel):
    input: Text | list[Text] = Field(description="A text or a list of texts (token-id arrays are not accepted).")
    model: Text | None = Field(None, description="Accepted and ignored: the server has one model.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: each vector as little-endian float32 bytes, as OpenAI sends them."
    )
    dimensions: int | None = Field(
        None, ge=1, description="Keep the first d values and scale them to length 1 again, as OpenAI does: any d up "
        "to the hidden size for a plain or Matryoshka model; for another sentence-embedding model its own sizes only.",
    )
    user: Text | None = None


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


# -- the task endpoints ---------------------------------------------------------------------------


class FillMaskRequest(Strict):
    inputs: Text | list[Text] = Field(description="Texts holding [MASK] once or more.", examples=["It is a [MASK]."])
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Predictions per mask.")
    targets: list[Text] | None = Field(
        None, min_length=1, max_length=MAX_TARGETS,
        description="Only score these words (a word of several pieces costs a model pass per piece).",
    )  # fmt: skip
    truncate: bool | None = Field(None, description=TRUNCATE)


class Prediction(BaseModel):
    sequence: str
    score: float
    token: int
    token_str: str
    tokens: list[int] | None = Field(None, description="A target of several pieces: all of them (token is the first).")


class TextPair(Strict):
    text: Text
    text_pair: Text | None = None


class ClassifyRequest(Strict):
    inputs: Text | TextPair | list[Text | TextPair] = Field(description="Texts, or {text, text_pair} pairs.")
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, description="Keep the best k labels (default: every label).")
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        None, description="Default: from the model's problem_type."
    )
    truncate: bool | None = Field(None, description=TRUNCATE + " A pair is cut longest part first.")


class LabelScore(BaseModel):
    label: str
    score: float


class TagRequest(Strict):
    inputs: Text | list[Text]
    aggregation_strategy: Literal["none", "simple", "first", "average", "max"] = Field(
        "simple", description="How pieces become entities (transformers' meanings)."
    )
    ignore_labels: list[Text] | None = Field(None, description='Labels left out (default ["O"]).')
    truncate: bool | None = Field(None, description=TRUNCATE)


class Entity(BaseModel):
    entity: str | None = Field(None, description="With aggregation none: the piece's label.")
    entity_group: str | None = Field(None, description="With any other aggregation: the entity's type.")
    score: float
    index: int | None = None
    word: str
    start: int
    end: int


class Question(Strict):
    question: Text
    context: Text


class AnswerRequest(Strict):
    inputs: Question | list[Question] = Field(description="{question, context} or a list of them.")
    top_k: int = Field(1, ge=1, le=MAX_TOP_K, description="Answers per question (more than 1: a list per input).")
    max_answer_len: int = Field(15, ge=1, description="The longest answer, in pieces.")
    doc_stride: int | None = Field(None, ge=0, description="Pieces shared by the windows of a long context.")
    handle_impossible_answer: bool = Field(False, description='Let "no answer" (empty, 0-0) win.')


class Answer(BaseModel):
    score: float
    start: int
    end: int
    answer: str


class Choices(Strict):
    prompt: Text
    choices: list[Text] = Field(min_length=2)


class ChooseRequest(Strict):
    inputs: Choices | list[Choices] = Field(description="{prompt, choices} or a list of them.")
    truncate: bool | None = Field(None, description=TRUNCATE + " A pair is cut longest part first.")


class ChoiceScore(BaseModel):
    choice: str
    index: int
    score: float


# -- tokenize, info, health -----------------------------------------------------------------------


class TokenizeRequest(Strict):
    inputs: Text | list[Text]
    add_special_tokens: bool = Field(True, description="Include [CLS] and [SEP], as the model sees them.")


class Token(BaseModel):
    id: int
    piece: str = Field(description="The vocabulary's piece (a leading \u2581 starts a word).")
    text: str = Field(description="The input's characters it stands for: inputs[i][start:end].")
    special: bool
    start: int
    end: int


class Limits(BaseModel):
    max_batch_tokens: int
    max_batch_requests: int | None
    max_concurrent_requests: int
    max_client_batch_size: int
    payload_limit: int
    auto_truncate: bool


class SentenceEmbeddingInfo(BaseModel):
    pooling: str
    normalize: bool
    max_length: int | None = Field(description="Each text is cut to this many tokens (None: the model's window).")
    dimension: int = Field(description="The default length of a vector (a Matryoshka prefix, or the hidden size).")
    matryoshka_dimensions: list[int] = Field(description="The prefixes trained to work alone; any size may be asked for.")


class Info(BaseModel):
    model: str
    tasks: list[str]
    endpoints: list[str]
    dimension: int = Field(description="The length of an embedding (the hidden size).")
    max_input_length: int = Field(description="The model's window, [CLS] and [SEP] included.")
    sentence_embedding: SentenceEmbeddingInfo | None = Field(
        None, description="The settings saved with a sentence-embedding model (None: a plain model)."
    )
    device: str
    dtype: str
    limits: Limits
    version: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong, and what to do instead.")
    error_type: str = Field(description="The cause, as albert_request_failures labels it.")
