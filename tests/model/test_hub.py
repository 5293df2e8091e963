"""A name that is neither a folder nor a shipped model is a Hub id: without a network it fails at
once, with one message, instead of retrying for half a minute; a model in the Hub cache still
loads offline. No test reaches the network: HF_HUB_OFFLINE, or HF_ENDPOINT at a closed local port."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys

import pytest

from albert import hub
from albert.config import AlbertConfig
from albert.errors import ModelNotFoundError

UNREACHABLE = "is not a folder, not a shipped model (shipped: "


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch):
    """Each test probes anew (the answer is kept per process), with no proxy in the way."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HTTPS_PROXY", "https_proxy",
                     "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    hub._probe.cache_clear()
    yield
    hub._probe.cache_clear()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def no_requests(monkeypatch):
    """Fail the test if huggingface_hub sends a request (each would be retried for ~25 s)."""
    import huggingface_hub.file_download as download

    def refuse(*args, **kwargs):
        raise AssertionError("a request to the Hub was made while it is unreachable")

    monkeypatch.setattr(download, "get_hf_file_metadata", refuse)


def test_hf_hub_offline_fails_at_once_with_one_message(monkeypatch, no_requests, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as raised:
        hub.resolve_file("nosuch", "config.json", cache_dir=tmp_path)
    message = str(raised.value)
    assert message.startswith(f"'nosuch' {UNREACHABLE}") and "Hub is unreachable (HF_HUB_OFFLINE is set)" in message
    assert str(tmp_path) in message  # where it looked


def test_an_unreachable_endpoint_is_found_by_one_short_probe(monkeypatch, no_requests, closed_port, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(ModelNotFoundError, match=f"no connection to 127.0.0.1:{closed_port}") as raised:
        hub.resolve_file("owner/nosuch", "config.json", cache_dir=tmp_path)
    assert str(raised.value).startswith(f"'owner/nosuch' {UNREACHABLE}")
    assert hub._probe.cache_info().misses == 1
    with pytest.raises(ModelNotFoundError):  # the answer is remembered: no second probe
        hub.resolve_file("owner/other", "config.json", cache_dir=tmp_path)
    assert hub._probe.cache_info().misses == 1


def test_a_reachable_endpoint_is_left_to_huggingface_hub(closed_port):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert hub._probe(f"http://127.0.0.1:{server.getsockname()[1]}") is None
    assert hub._probe(f"http://127.0.0.1:{closed_port}") is not None


def test_a_proxy_is_what_the_probe_asks(monkeypatch, closed_port):
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port}")
    assert f"127.0.0.1:{closed_port}" in hub._probe("https://huggingface.co")


def write_cached_model(cache, repo_id: str, files: dict[str, str]) -> None:
    """The layout huggingface_hub's cache has: refs/main names a snapshot that holds the files."""
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)


def test_a_cached_hub_model_loads_offline(monkeypatch, no_requests, closed_port, tmp_path):
    config = AlbertConfig(vocab_size=99, hidden_size=32, num_attention_heads=2, intermediate_size=37,
                          embedding_size=16, num_hidden_layers=1)  # fmt: skip
    write_cached_model(tmp_path, "owner/tiny", {"config.json": config.to_json_string()})
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    loaded = AlbertConfig.from_pretrained("owner/tiny", cache_dir=tmp_path)
    assert loaded.intermediate_size == 37
    # a file the cached model lacks: named as such, not as an unknown model
    with pytest.raises(ModelNotFoundError, match="holds the model without this file"):
        hub.resolve_file("owner/tiny", "model.safetensors", cache_dir=tmp_path)
    assert hub.resolve_file("owner/tiny", "model.safetensors", cache_dir=tmp_path, required=False) is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert json.loads(hub.resolve_file("owner/tiny", "config.json", cache_dir=tmp_path).read_text())["vocab_size"] == 99


def test_huggingface_hub_retry_lines_are_not_shown(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError):
        hub.resolve_file("nosuch", "config.json", cache_dir=tmp_path)  # installs the filter
    http_log = logging.getLogger("huggingface_hub.utils._http")
    with caplog.at_level(logging.WARNING):
        http_log.warning("'(MaxRetryError(...))' thrown while requesting HEAD https://huggingface.co/x")
        http_log.warning("Retrying in 1s [Retry 1/5].")
        http_log.warning("something else")
    assert [record.getMessage() for record in caplog.records] == ["something else"]


def test_albert_info_of_an_unknown_name_offline_is_one_line(closed_port, tmp_path):
    # The issue: 43 s of retries, each printed, before the error. Now: one line, no torch needed.
    environment = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port}", "PATH": "", "HOME": str(tmp_path)}
    process = subprocess.run([sys.executable, "-m", "albert.cli", "info", "nosuch"], capture_output=True, text=True,
                             timeout=120, env=environment, cwd=tmp_path)  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.startswith(f"error: 'nosuch' {UNREACHABLE}") and process.stderr.count("\n") == 1, process.stderr
