"""embeddings: every vector is the right row (or pooling of rows) of transformers' hidden states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.pipelines import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForMaskedLM, AlbertModel
from albert.pipelines import pipeline
from albert.sentences import sentence_spans

TEXT = "The children carried the mountain at night. My friend was dangerous, so a dog forgot an apple."
ATOL = 1e-5


@pytest.fixture(scope="module")
def folder(make_tiny_model):
    return make_tiny_model(AlbertForMaskedLM, seed=5)


@pytest.fixture(scope="module")
def reference(folder):
    return reference_model("AlbertModel", folder)


@pytest.fixture(scope="module")
def embed(folder):
    return pipeline("embeddings", model=folder, device="cpu")


@pytest.fixture(scope="module")
def sentences(folder, reference):
    """For each sentence of TEXT: its span, our tokenizer's encoding and transformers' output."""
    tokenizer = our_tokenizer(folder)
    result = []
    for start, end in sentence_spans(TEXT):
        encoding = tokenizer(TEXT[start:end], return_offsets_mapping=True)
        output = reference_outputs(reference, encoding, output_hidden_states=True)
        result.append({"start": start, "end": end, "encoding": encoding, "output": output})
    return result


def content_rows(sentence, states=None):
    """Hidden-state rows of the sentence's pieces (without [CLS] and [SEP])."""
    states = sentence["output"].last_hidden_state[0] if states is None else states[0]
    return states[1:-1].numpy()


def test_piece_vectors_are_rows_of_last_hidden_state(embed, sentences):
    records = embed(TEXT, level="piece")
    expected = np.concatenate([content_rows(sentence) for sentence in sentences])
    assert len(records) == len(expected)
    np.testing.assert_allclose(np.stack([r["embedding"] for r in records]), expected, atol=ATOL)
    expected_ids = [i for s in sentences for i in s["encoding"]["input_ids"][1:-1]]
    assert [r["token"] for r in records] == expected_ids


@pytest.mark.parametrize("pooling", ["first", "mean", "last"])
def test_word_vectors_pool_their_pieces(embed, sentences, pooling):
    records = embed(TEXT, level="word", word_pooling=pooling)
    expected = []
    for sentence in sentences:
        rows = content_rows(sentence)
        word_ids = sentence["encoding"].word_ids()[1:-1]
        for word in dict.fromkeys(word_ids):
            pieces = rows[[i for i, w in enumerate(word_ids) if w == word]]
            expected.append({"first": pieces[0], "last": pieces[-1], "mean": pieces.mean(axis=0)}[pooling])
    assert len(records) == len(expected)
    np.testing.assert_allclose(np.stack([r["embedding"] for r in records]), np.stack(expected), atol=ATOL)


def test_words_carry_their_text_and_span_in_the_original_input(embed):
    text = "  My friend   was dangerous, so (a) dog forgot.\n\nAn apple."
    records = embed(text, level="word")
    assert [r["text"] for r in records] == text.split()
    for record in records:
        assert text[record["start"] : record["end"]] == record["text"]
    assert [r["word"] for r in records] == list(range(len(records)))
    assert [r["sentence"] for r in records][-2:] == [1, 1]  # the paragraph break splits


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_sentence_vectors(embed, sentences, pooling):
    records = embed(TEXT, level="sentence", sentence_pooling=pooling)
    assert [(r["start"], r["end"]) for r in records] == sentence_spans(TEXT)
    assert [r["text"] for r in records] == [TEXT[s["start"] : s["end"]] for s in sentences]
    for record, sentence in zip(records, sentences):
        rows = content_rows(sentence)
        expected = {
            "mean": rows.mean(axis=0),
            "max": rows.max(axis=0),
            "cls": sentence["output"].last_hidden_state[0, 0].numpy(),
        }[pooling]
        np.testing.assert_allclose(record["embedding"], expected, atol=ATOL)


def test_document_vector_pools_all_pieces_of_all_sentences(embed, sentences):
    record = embed(TEXT, level="document")[0]
    rows = np.concatenate([content_rows(sentence) for sentence in sentences])
    np.testing.assert_allclose(record["embedding"], rows.mean(axis=0), atol=ATOL)
    cls = embed(TEXT, level="document", sentence_pooling="cls")[0]["embedding"]
    expected = np.stack([s["output"].last_hidden_state[0, 0].numpy() for s in sentences]).mean(axis=0)
    np.testing.assert_allclose(cls, expected, atol=ATOL)


@pytest.mark.parametrize("layer", [0, 2, -2])
def test_a_chosen_layer_gives_that_hidden_state(embed, sentences, layer):
    records = embed(TEXT, level="piece", layer=layer)
    expected = np.concatenate([content_rows(s, s["output"].hidden_states[layer]) for s in sentences])
    np.testing.assert_allclose(np.stack([r["embedding"] for r in records]), expected, atol=ATOL)


def test_mean_of_the_last_k_layers(embed, sentences):
    records = embed(TEXT, level="piece", mean_last=3)
    expected = np.concatenate(
        [content_rows(s, torch.stack(s["output"].hidden_states[-3:]).mean(dim=0)) for s in sentences]
    )
    np.testing.assert_allclose(np.stack([r["embedding"] for r in records]), expected, atol=ATOL)


@pytest.mark.parametrize("max_length", [None, 14])
def test_long_text_is_embedded_in_windows_and_stitched_never_truncated(folder, reference, embed, max_length):
    """Each piece of a text longer than the window gets the vector of the window where it is most
    central; windows are what transformers computes on those pieces. ``max_length`` narrows the
    window below the model's (Spark NLP's maxSentenceLength)."""
    tokenizer = our_tokenizer(folder)
    text = " ".join(f"the river {word} a letter near the city" for word in ["visit", "read", "moved"] * 5)
    pieces = tokenizer(text, add_special_tokens=False)["input_ids"]
    window, stride = (max_length or embed.max_length) - 2, 10
    assert len(pieces) > 2 * window

    records = embed(text, level="piece", split_sentences=False, stride=stride, max_length=max_length)
    assert [r["token"] for r in records] == pieces  # nothing cut off

    # The windows are the tokenizer's own overflow windows (stride = pieces shared).
    overflow = tokenizer(
        text, truncation=True, max_length=window + 2, stride=stride, return_overflowing_tokens=True
    )
    starts, states = [], []
    for ids in overflow["input_ids"]:
        start = 0 if not starts else starts[-1] + window - stride
        assert ids[1:-1] == pieces[start : start + len(ids) - 2]
        starts.append(start)
        states.append(reference_outputs(reference, {"input_ids": ids}).last_hidden_state[0, 1:-1].numpy())
    ends = [start + len(rows) for start, rows in zip(starts, states)]
    for position, record in enumerate(records):
        margins = [
            (min(position - start, end - 1 - position), index)
            for index, (start, end) in enumerate(zip(starts, ends))
            if start <= position < end
        ]
        _, best = max(margins, key=lambda item: (item[0], -item[1]))
        np.testing.assert_allclose(record["embedding"], states[best][position - starts[best]], atol=ATOL)

    words = embed(text, level="word", split_sentences=False, stride=stride, max_length=max_length)
    assert [w["text"] for w in words] == text.split()
    # Sentence and document levels skip the character spans; the stitched vectors are the same.
    document = embed(text, level="document", split_sentences=False, stride=stride, max_length=max_length)[0]["embedding"]
    np.testing.assert_allclose(document, np.stack([r["embedding"] for r in records]).mean(axis=0), atol=ATOL)
    # (they are pooled on the device, window by window, from the pieces each window gives)
    largest = embed(text, level="sentence", split_sentences=False, stride=stride, sentence_pooling="max", max_length=max_length)[0]
    np.testing.assert_allclose(largest["embedding"], np.stack([r["embedding"] for r in records]).max(axis=0), atol=ATOL)
    cls = embed(text, level="document", split_sentences=False, stride=stride, sentence_pooling="cls", max_length=max_length)[0]["embedding"]
    windows = [reference_outputs(reference, {"input_ids": ids}).last_hidden_state[0, 0].numpy() for ids in overflow["input_ids"]]
    np.testing.assert_allclose(cls, np.mean(windows, axis=0), atol=ATOL)


def test_dataframe_has_one_row_per_unit_of_all_texts(embed):
    import pandas as pd

    texts = [TEXT, "An apple. A dog."]
    frame = embed(texts, level="sentence", output="dataframe")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["document"]) == [0, 0, 1, 1]
    assert {"text", "start", "end", "embedding"} <= set(frame.columns)
    words = embed(texts, level="token", output="dataframe")  # "token" is Spark NLP's word level
    assert len(words) == len(TEXT.split()) + 4


def test_numpy_output_shapes(embed):
    hidden = embed.config.hidden_size
    texts = [TEXT, "An apple."]
    documents = embed(texts, level="document", output="numpy")
    assert documents.shape == (2, hidden) and documents.dtype == np.float32
    assert embed(TEXT, level="document", output="numpy").shape == (hidden,)
    per_text = embed(texts, level="word", output="numpy")
    assert [array.shape for array in per_text] == [(len(TEXT.split()), hidden), (2, hidden)]


def test_results_do_not_depend_on_batching(folder):
    texts = [TEXT, "a dog.", "the committee painted the car at night and the city read a book."]
    single = pipeline("embeddings", model=folder, batch_size=1)(texts, level="sentence", output="numpy")
    batched = pipeline("embeddings", model=folder, batch_size=8)(texts, level="sentence", output="numpy")
    for one, many in zip(single, batched):
        np.testing.assert_allclose(one, many, atol=ATOL)


def test_a_base_model_checkpoint_and_a_loaded_model_both_work(make_tiny_model, embed):
    base_folder = make_tiny_model(AlbertModel, seed=5)
    from_base = pipeline("embeddings", model=base_folder)(TEXT, level="document", output="numpy")
    model = AlbertForMaskedLM.from_pretrained(embed.model.name_or_path)
    from_object = pipeline("embeddings", model=model)(TEXT, level="document", output="numpy")
    np.testing.assert_allclose(from_object, embed(TEXT, level="document", output="numpy"), atol=ATOL)
    assert from_base.shape == from_object.shape


def test_bad_options_are_named(embed):
    with pytest.raises(ValueError, match="level"):
        embed(TEXT, level="paragraph")
    with pytest.raises(ValueError, match="word_pooling"):
        embed(TEXT, word_pooling="median")
    with pytest.raises(ValueError, match="layer 9"):
        embed(TEXT, layer=9)
    with pytest.raises(ValueError, match=f"max_length must be between 3 .* window of {embed.max_length}, got 2"):
        embed(TEXT, max_length=2)
    with pytest.raises(ValueError, match="max_length must be between 3"):
        embed(TEXT, max_length=embed.max_length + 1)
    with pytest.raises(ValueError, match="empty"):
        embed(["fine", "   "])
    with pytest.raises(TypeError, match="unknown option"):
        embed(TEXT, pooling="mean")


def test_each_piece_is_taken_once_from_one_window_in_order():
    """The rows each window speaks for (pooled on the device) cover every piece exactly once."""
    from albert.pipelines.embeddings import _owned_rows
    from albert.tokenization_base import window_ranges

    for size in range(1, 20):
        for stride in range(size):
            for length in range(1, 70):
                ranges = window_ranges(length, size, stride)
                rows = _owned_rows(ranges, length)
                covered = [start + row - 1 for (start, _), (first, last) in zip(ranges, rows) for row in range(first, last)]
                assert covered == list(range(length)), (size, stride, length)
