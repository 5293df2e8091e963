"""The packed encoder and its accelerators (``kernels``, ``backends``, ``fast``): exactness against the padded
model, the back-end list, compile, CUDA graphs (run eagerly on CPUs), ONNX.

Run alone: ``pytest tests/fast``; the fixtures of ``tests/conftest.py`` and the helpers of
``tests/support`` are shared with every folder."""
