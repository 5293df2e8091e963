"""src/ type-checks: mypy, with pyproject's [tool.mypy] (strict on the public API), finds no error.

Run here so that CI runs it; mypy's cache (.mypy_cache, git-ignored) makes a second run quick.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed (it comes with the test extra)"
)
def test_src_type_checks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(
            "mypy found type errors in src/ (reproduce with: python -m mypy):\n" + result.stdout + result.stderr,
            pytrace=False,
        )
