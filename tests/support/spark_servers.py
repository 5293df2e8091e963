"""Real Spark servers for the tests: a Spark Connect server, a standalone master and its workers.

Each is started from the scripts in the pyspark package (``$SPARK_HOME`` is its folder) as a
subprocess in a process group of its own, bound to 127.0.0.1 on a free port, and stopped with
every process it started: its JVM, the executors a worker launched, and the Python workers'
daemons (which put themselves in groups of their own).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def spark_home() -> Path:
    """The pyspark package folder: it holds ``bin/``, ``sbin/`` and ``jars/``, as a Spark download does."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def require_java() -> None:
    """Skip the test when ``java`` is missing (and fail on CI, which installs it)."""
    if shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("Java is missing on CI: .ci/run installs openjdk-17-jre-headless when java is absent")
        pytest.skip("Java 17 is needed for the Spark tests (apt-get install openjdk-17-jre-headless)")


def server_env(folder: Path) -> dict[str, str]:
    """The environment of a server started from this interpreter: its Python workers run this
    interpreter and import albert from this checkout's ``src`` (first on PYTHONPATH, which Spark
    passes on to them), everything binds to 127.0.0.1, and the scripts' logs and pid files go to
    ``folder`` (not into the pyspark package, nor /tmp, where another run would find them)."""
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOG_DIR=str(folder),
        SPARK_PID_DIR=str(folder),
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    )
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until_listening(port: int, process: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; raise, with the end of ``log``, when
    ``process`` exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on "
                               f"port {port}; the end of {log}:\n{log_tail(log)}")  # fmt: skip
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"nothing listens on port {port} after {timeout:.0f} s; the end of {log}:\n{log_tail(log)}"
            )
        time.sleep(0.25)


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every process, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended while we read
            continue
        state, parent, group = stat[stat.rindex(")") + 2 :].split()[:3]  # the name may hold spaces and ')'
        table[int(entry)] = (int(parent), int(group), state)
    return table


def _groups_of_tree(root: int) -> set[int]:
    """The process groups of ``root`` and all its descendants."""
    table = _process_table()
    groups, pending = set(), [root]
    while pending:
        pid = pending.pop()
        if pid in table:
            groups.add(table[pid][1])
            pending.extend(child for child, (parent, _, _) in table.items() if parent == pid)
    return groups


def _members(groups: set[int]) -> list[int]:
    """The live (not zombie) processes in ``groups``."""
    return [pid for pid, (_, group, state) in _process_table().items() if group in groups and state != "Z"]


def _describe(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        command = "?"
    return f"{pid}: {command[:200]}"


def stop_process_group(process: subprocess.Popen, grace: float = 20.0) -> list[str]:
    """Stop ``process`` (a group leader) and everything it started: SIGTERM to its group (a JVM
    then runs its shutdown hooks, which stop the executors and Python workers it started); after
    ``grace`` seconds, SIGKILL to that group and to the groups of its descendants (Python workers'
    daemons make groups of their own). Returns what still runs after that, as "pid: command"."""
    groups = _groups_of_tree(process.pid) | {process.pid}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for group in groups if sig == signal.SIGKILL else {process.pid}:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reaps the leader
            groups |= {group for pid in _members(groups) for group in _groups_of_tree(pid)}
            if not _members(groups):
                break
            time.sleep(0.2)
    process.poll()
    return [_describe(pid) for pid in _members(groups)]


@contextmanager
def spark_server(command: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Start ``command`` in a new process group, its output in ``log``; yield the process once
    ``port`` listens; always stop it and all it started, and raise if anything of it survives."""
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=log.parent, start_new_session=True)  # fmt: skip
    try:
        wait_until_listening(port, process, log)
        yield process
    finally:
        leftovers = stop_process_group(process)
        assert not leftovers, f"{Path(command[0]).name} left processes running after SIGKILL: {leftovers}"


def stop_driver_jvm() -> int | None:
    """End the JVM that pyspark started for this Python process's SparkContexts (the driver; it
    otherwise lives as long as Python does), once no SparkContext is active; the next session
    starts a fresh one. Returns its pid, or None when none was started."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None or SparkContext._active_spark_context is not None:
        return None
    process = gateway.proc
    gateway.shutdown()
    process.stdin.close()  # the JVM exits at the end of its standard input (PythonGatewayServer)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    SparkContext._gateway = None
    SparkContext._jvm = None
    return process.pid
