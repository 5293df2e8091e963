"""``albert serve``: the HTTP API, the OpenAI client, overload, drain, worker death, and the codecs the
service encodes with (every test starts its server on 127.0.0.1 and stops it).

Run alone: ``pytest tests/serve``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
