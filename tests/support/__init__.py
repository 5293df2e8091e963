"""What the tests share that is not a fixture: tiny models and vocabularies, data readers, the
reference (transformers) side of comparisons. Importable from every test folder as ``support``
(the root conftest's folder is on ``sys.path``)."""
