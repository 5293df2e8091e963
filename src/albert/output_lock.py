"""One writer per output folder: an advisory lock that a second writer meets at once.

Every folder albert writes (a ``save_pretrained`` folder, ``albert pretrain/finetune --out``,
``albert convert tf --out``, a prepared data folder) is written under :func:`folder_lock`. A
second process that asks for the same folder is refused at once with
:class:`~albert.errors.FolderInUseError`, naming the holder's pid and command line; it never
waits, and it never writes beside the first.

How it works:

- The lock is an ``flock`` (through the ``filelock`` library) on ``.NAME.lock`` *beside* the
  folder, in its parent: a folder that is replaced whole (see
  :func:`albert.atomic_files.atomic_folder`) cannot hold its own lock. Where the parent takes no
  new file (no permission), the lock file is made inside the folder instead. The lock file stays
  after use (empty, hidden): removing it while another process may be opening it would let two
  writers hold two different files.
- The kernel releases an ``flock`` when its holder dies (``kill -9``, a power cut ends every
  holder): a stale lock of a dead process is simply taken, there is nothing to clean up.
- Who holds it: on Linux the kernel's own table (``/proc/locks``) names the holder's pid, so a
  contender reads the live holder even while the holder is starting; elsewhere the holder writes
  its pid and command line to ``.NAME.lock.holder`` once it holds the lock (a separate file,
  since some ``filelock`` versions truncate the lock file when a contender opens it).
- The lock is re-entrant within one thread: fine-tuning, holding its run folder, saves ``best/``
  (its own lock), whose ``save_pretrained`` writes the tokenizer into the same folder, and none of
  these waits on itself. Another thread of the same process is refused like another process.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FolderInUseError, OutputError

LOCK_SUFFIX = ".lock"
HOLDER_SUFFIX = ".lock.holder"


@dataclass
class _Held:
    lock: Any  # a filelock.FileLock
    thread: int
    count: int


_held: dict[Path, _Held] = {}
_held_guard = threading.Lock()


def _forget_in_child() -> None:
    # A forked child shares the parent's lock descriptor but is not the writer: it must neither
    # think it holds the folder nor release it (filelock >= 4 resets its own state on fork too).
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _real(folder: str | os.PathLike[str]) -> Path:
    """The folder's absolute path with symlinks resolved (it need not exist)."""
    return Path(os.path.realpath(os.path.abspath(folder)))


def lock_file_for(folder: str | os.PathLike[str]) -> Path:
    """Where the lock of ``folder`` lives: ``.NAME.lock`` in its parent, or inside the folder when
    the parent takes no new file (or the folder is a file system's root)."""
    real = _real(folder)
    beside = real.parent / f".{real.name}{LOCK_SUFFIX}"
    if not real.name or real.parent == real:
        return real / f".albert{LOCK_SUFFIX}"
    if beside.exists() or _can_create_in(real.parent):
        return beside
    return real / f".{real.name}{LOCK_SUFFIX}"


def _can_create_in(folder: Path) -> bool:
    if not folder.is_dir():
        return True  # made by the caller's mkdir; an error then names the folder
    return os.access(folder, os.W_OK | os.X_OK)


@contextmanager
def folder_lock(folder: str | os.PathLike[str], *, shown: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Hold the lock of ``folder`` while the block runs; yields the lock file's path.

    Args:
        folder: the output folder (it need not exist yet; its parent is created).
        shown: the folder as the user named it, for messages (default ``folder``).

    Raises:
        FolderInUseError: another live process (or another thread of this one) holds it; the
            message names its pid and command line.
        OutputError: the lock file cannot be made (a read-only file system, say).
    """
    shown = Path(shown) if shown is not None else Path(folder)
    real = _real(folder)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"could not write {shown}: {error.strerror or error} ({real.parent})") from None
    lock_path = lock_file_for(real)
    if lock_path.parent == real:
        real.mkdir(exist_ok=True)
    me = threading.get_ident()
    with _held_guard:
        held = _held.get(lock_path)
        if held is not None and held.thread == me:
            held.count += 1
        elif held is not None:
            raise FolderInUseError(
                f"{shown} is being written by another thread of this process (pid {os.getpid()}); "
                "write it from one thread at a time, or choose another folder"
            )
    if held is not None:
        try:
            yield lock_path
        finally:
            with _held_guard:
                held.count -= 1
        return

    lock = _acquire(lock_path, shown)
    with _held_guard:
        _held[lock_path] = _Held(lock, me, 1)
    _write_holder(lock_path)
    try:
        yield lock_path
    finally:
        with _held_guard:
            _held.pop(lock_path, None)
        _holder_path(lock_path).unlink(missing_ok=True)
        lock.release()


def holds_lock(folder: str | os.PathLike[str]) -> bool:
    """Whether this thread holds the lock of ``folder``."""
    held = _held.get(lock_file_for(folder))
    return held is not None and held.thread == threading.get_ident()


def _acquire(lock_path: Path, shown: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        pid, command = holder_of(lock_path)
        error = FolderInUseError(_in_use_message(shown, pid, command))
        error.pid = pid  # type: ignore[attr-defined]
        raise error from None
    except OSError as error:
        raise OutputError(
            f"could not lock {shown} for writing: {error.strerror or error} ({lock_path}); "
            "check that its folder is writable"
        ) from None
    return lock


def _holder_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)] + HOLDER_SUFFIX)


def _write_holder(lock_path: Path) -> None:
    """Record who holds the lock, for contenders on systems without ``/proc/locks``."""
    record = json.dumps({"pid": os.getpid(), "command": _own_command()}) + "\n"
    try:
        _holder_path(lock_path).write_text(record, encoding="utf-8")
    except OSError:
        pass  # only a message is lost


def _own_command() -> str:
    return " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else sys.executable, *sys.argv[1:]])


def _in_use_message(shown: Path, pid: int | None, command: str | None) -> str:
    if pid is None:
        who = "another process (its pid could not be read)"
    else:
        who = f"another process (pid {pid}{f': {_shortened(command)}' if command else ''})"
    return (f"{shown} is being written by {who}; wait for it to finish or stop it, or choose another folder. "
            "A lock of a process that died is released with it.")


def _shortened(command: str, limit: int = 160) -> str:
    command = " ".join(command.split())  # one line, whatever the arguments hold
    return command if len(command) <= limit else command[: limit - 3] + "..."


def holder_of(lock_path: str | os.PathLike[str]) -> tuple[int | None, str | None]:
    """The pid and command line of the process holding the lock file ``lock_path``, as far as
    they can be read (``(None, None)`` when nobody holds it, or it cannot be told)."""
    lock_path = Path(lock_path)
    pid = _pid_from_kernel(lock_path)
    recorded: dict[str, Any] = {}
    try:
        recorded = json.loads(_holder_path(lock_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    if not isinstance(recorded, dict):
        recorded = {}
    if pid is None and isinstance(recorded.get("pid"), int) and _alive(recorded["pid"]):
        pid = recorded["pid"]
    if pid is None:
        return None, None
    command = _command_of(pid)
    if command is None and recorded.get("pid") == pid and isinstance(recorded.get("command"), str):
        command = recorded["command"]
    return pid, command


def _pid_from_kernel(lock_path: Path) -> int | None:
    """The pid holding an ``flock`` on ``lock_path``, from Linux's ``/proc/locks``."""
    try:
        status = os.stat(lock_path)
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    wanted = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters carry "->" after the number
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit():
            pid = int(fields[4])
            return pid if pid > 0 else None
    return None


def _command_of(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    parts = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
    return " ".join(parts) or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as error:
        return error.errno != errno.ESRCH
    return True
