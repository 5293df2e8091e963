"""Files written whole or not at all: the one way albert writes an output, a checkpoint or a config.

Everything is written to a temporary file beside the target and renamed over it only when the
write completed, so a reader (or a run resumed after a crash) never sees half a file. Two details
the hand-written versions got wrong:

- ``tempfile.mkstemp`` creates files with mode 0600; the finished file gets the mode an ordinary
  ``open()`` would have given it (0666 minus the umask), like every other file the user makes.
- A process killed mid-write leaves its temporary behind. Temporaries carry the writer's process
  id (``.NAME.PID.RANDOM.tmp``), and the next write of the same target removes those of processes
  that are gone; a live writer's temporary is never touched.

Errors name the file the caller asked for, never the temporary, and :func:`check_writable` finds
an unwritable target (a read-only file system, a folder without write permission) before the
work that would fill it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, then put it back
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of ``path`` left by writers that no longer run; returns them."""
    target = Path(path)
    removed = []
    for candidate in target.parent.glob(f".{target.name}.*.tmp"):
        middle = candidate.name[len(target.name) + 2 : -len(".tmp")]
        pid_text = middle.split(".", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        try:
            if candidate.is_dir():
                continue
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform opens folders
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _temporary_for(target: Path) -> Path:
    """Create an empty temporary beside ``target`` (``.NAME.PID.RANDOM.tmp``) and return its path.

    Raises:
        OSError: the folder cannot take a new file; the error names ``target``, not the temporary.
    """
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise _naming(error, target) from None
    os.close(handle)
    return Path(name)


def _naming(error: OSError, target: Path, temporary: Path | None = None) -> OSError:
    """``error`` about ``target`` (the file the user asked for) rather than about our temporary."""
    if error.errno is None:  # a library's own message (pyarrow's, say), which may quote the temporary
        return OSError(str(error).replace(str(temporary), str(target)) if temporary is not None else str(error))
    return OSError(error.errno, error.strerror, str(target))  # the errno's own subclass (PermissionError ...)


def check_writable(path: str | os.PathLike) -> None:
    """Check, before any work, that ``path`` can be written the way :func:`atomic_path` will: a
    temporary created in its folder (a read-only file system, or a folder without write
    permission, refuses it, whatever ``os.access`` says) and nothing in the way of the rename.

    Raises:
        OSError: the folder is missing or refuses new files, or ``path`` is a folder; the error
            names ``path``.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
    _temporary_for(target).unlink()


@contextmanager
def atomic_path(path: str | os.PathLike, *, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path``; when the block completes it is renamed onto ``path``.

    Args:
        path: the file to write; its folder must exist.
        durable: also fsync the file and its folder, so the rename survives a power cut
            (checkpoints); costs a disk flush.

    Yields:
        The temporary path to write to. On any exception it is removed and ``path`` is untouched.
    """
    target = Path(path)
    remove_stale_temporaries(target)
    temporary = _temporary_for(target)
    try:
        yield temporary
        if durable and temporary.is_file():
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, target)
        if durable:
            _fsync_folder(target.parent)
    except OSError as error:  # a full disk, say: about the user's file, not ours
        if error.filename not in (str(temporary), str(target)) and str(temporary) not in str(error):
            raise
        raise _naming(error, target, temporary) from None
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object], *, durable: bool = False) -> Path:
    """Call ``write(temporary_path)``, then rename the result onto ``path``; returns ``path``."""
    with atomic_path(path, durable=durable) as temporary:
        write(temporary)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8", durable: bool = False) -> Path:
    """``Path(path).write_text(text)``, whole or not at all."""
    return write_atomic(path, lambda temporary: temporary.write_text(text, encoding=encoding), durable=durable)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, durable: bool = False) -> Path:
    """``Path(path).write_bytes(data)``, whole or not at all."""
    return write_atomic(path, lambda temporary: temporary.write_bytes(data), durable=durable)
