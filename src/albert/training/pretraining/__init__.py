"""Pretraining ALBERT from scratch (masked LM + sentence order), from raw text to a checkpoint.

``corpus`` reads text files as documents of sentences, ``vocabulary`` trains a SentencePiece
model, ``shards`` tokenizes the corpus once into memory-mapped shards, ``instances`` cuts them into
sentence-order pairs, ``masking`` applies n-gram masking per batch, ``trainer`` is the loop, and
``held_out`` measures masked-token accuracy on text the model has not seen.
"""
