"""The tokenizers (``albert.tokenizer``, ``tokenization_base``, ``encoding_assembly``, ``wordpiece``): ids and
offsets against transformers' slow tokenizer on ALBERT's real vocabulary, fuzzed text, pairs and windows.

Run alone: ``pytest tests/tokenizer``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
