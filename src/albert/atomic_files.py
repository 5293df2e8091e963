"""Files and folders written whole or not at all: the one way albert writes an output, a
checkpoint, a config or a model folder.

A file is written to a temporary beside the target and renamed over it only when the write
completed, so a reader (or a run resumed after a crash) never sees half a file:

- ``tempfile.mkstemp`` creates files with mode 0600; the finished file gets the mode an ordinary
  ``open()`` would have given it (0666 minus the umask), like every other file the user makes.
- A process killed mid-write leaves its temporary behind. Temporaries carry the writer's process
  id (``.NAME.PID.RANDOM.tmp``), and the next write of the same target removes those of processes
  that are gone; a live writer's temporary is never touched.
- A write that fails says so in one line naming the file the caller asked for, never the
  temporary: :class:`~albert.errors.DiskFullError` when the disk filled (how much was needed, how
  much is free), :class:`~albert.errors.OutputError` for any other I/O error. A write whose size
  is known is refused before it starts when the disk cannot hold it.

A folder (``save_pretrained``, ``albert convert tf --out``, fine-tuning's ``best/``) is written
by :func:`atomic_folder`: built aside in a sibling ``.NAME.PID.RANDOM.tmp``, then swapped in
whole (atomically on Linux, with ``renameat2(RENAME_EXCHANGE)``), under the folder's lock
(:mod:`albert.output_lock`). A failed or killed save leaves the previous folder as it was.

:func:`check_writable` finds an unwritable target (a read-only file system, a folder without
write permission) before the work that would fill it.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import AlbertError, DiskFullError, OutputError
from .output_lock import HOLDER_SUFFIX, LOCK_SUFFIX, folder_lock, holds_lock

#: ``.TARGET.PID.RANDOM.tmp`` (a temporary file or folder) and ``.TARGET.PID.RANDOM.old`` (a
#: folder moved aside while its replacement is renamed in, where no atomic exchange exists).
_TEMPORARY_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.(?P<random>[^.]+)\.(?P<kind>tmp|old)$")
#: Below this many free bytes a failed write is taken for a full disk when no errno says why.
NEARLY_FULL = 1 << 20
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: errno numbers that libraries print rather than raise: Rust's ``(os error 28)`` (safetensors),
#: its debug form ``code: 28``, and Python's ``[Errno 28]`` inside another exception's text.
_ERRNO_IN_TEXT = re.compile(r"\(os error (\d+)\)|\bcode: (\d+)|\[Errno (\d+)\]")


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


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files of ``path`` left by writers that no longer run; returns them."""
    target = Path(path)
    removed = []
    for candidate in target.parent.glob(f".{_glob_escape(target.name)}.*.tmp"):
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


def remove_dead_temporaries(folder: str | os.PathLike[str], target: str | None = None) -> list[Path]:
    """Clean ``folder`` of what writers that no longer run left in it (only those of the entry
    named ``target``, when given): temporary files and folders (``.NAME.PID.RANDOM.tmp``) are
    removed, and a folder a dead writer had moved aside (``.NAME.PID.RANDOM.old``) is put back
    when nothing took its place, else removed.

    Returns:
        The paths removed or put back. Temporaries of live processes are never touched.
    """
    folder = Path(folder)
    done: list[Path] = []
    try:
        entries = sorted(folder.iterdir(), key=lambda entry: not entry.name.endswith(".old"))  # .old first
    except OSError:
        return done
    for entry in entries:
        match = _TEMPORARY_NAME.match(entry.name)
        if match is None or (target is not None and match["target"] != target) or _process_alive(int(match["pid"])):
            continue
        original = folder / match["target"]
        try:
            if match["kind"] == "old" and not os.path.lexists(original):
                os.rename(entry, original)  # the dead writer's new folder never arrived: the old one is kept
            else:
                _remove_tree(entry)
        except OSError:
            continue
        done.append(entry)
    return done


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


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


def _make_temporary(target: Path) -> Path:
    """Create an empty temporary beside ``target`` (``.NAME.PID.RANDOM.tmp``); raw OSErrors."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    return Path(name)


def _naming(error: OSError, target: Path, temporary: Path | None = None) -> OSError:
    """``error`` about ``target`` (the file the user asked for) rather than about our temporary."""
    if error.errno is None:  # a library's own message (pyarrow's, say), which may quote the temporary
        return OSError(str(error).replace(str(temporary), str(target)) if temporary is not None else str(error))
    return OSError(error.errno, error.strerror, str(target))  # the errno's own subclass (PermissionError ...)


def check_writable(path: str | os.PathLike[str]) -> None:
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
    try:
        _make_temporary(target).unlink()
    except OSError as error:
        raise _naming(error, target) from None


# -- why a write failed: one error naming the user's file ---------------------------------------


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes this process may still write on the file system holding ``path`` (or its nearest
    existing folder): root may use the blocks reserved for it. None where it cannot be told."""
    place = Path(path)
    while not place.exists() and place.parent != place:
        place = place.parent
    try:
        status = os.statvfs(place)
    except (OSError, AttributeError):
        try:
            return shutil.disk_usage(place).free
        except OSError:
            return None
    is_root = getattr(os, "geteuid", lambda: -1)() == 0
    return (status.f_bfree if is_root else status.f_bavail) * status.f_frsize


def human_size(count: int) -> str:
    """``24.5 MB`` (powers of 1000, as disks are sold and ``df -H`` shows)."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count} bytes"


def disk_full_error(path: str | os.PathLike[str], *, needed: int | None = None, written: int | None = None,
                    free: int | None = None) -> DiskFullError:
    """The one-line :class:`DiskFullError` for ``path``: what was needed, what is free, where."""
    shown = _shown(Path(path))
    if free is None:
        free = free_bytes(Path(path).parent)
    if needed is not None:
        need = f"needed about {human_size(needed)}"
    elif written:
        need = f"needed more than the {human_size(written)} written"
    else:
        need = "needed more space"
    where = f"{human_size(free)} free" if free is not None else "free space unknown"
    error = DiskFullError(f"disk full: could not write {shown} ({need}; {where} on the file system of "
                          f"{shown.parent}); free some space, or write elsewhere")
    error.errno = errno.ENOSPC
    error.path, error.needed, error.free = str(shown), needed, free  # type: ignore[attr-defined]
    return error


def _output_error(shown: Path, reason: str, code: int | None) -> OutputError:
    error = OutputError(f"could not write {shown}: {reason}")
    error.errno = code
    error.path = str(shown)  # type: ignore[attr-defined]
    return error


def _errno_of(error: BaseException) -> int | None:
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    text = str(error)
    match = _ERRNO_IN_TEXT.search(text)
    if match is not None:
        return int(next(group for group in match.groups() if group is not None))
    if "No space left on device" in text:
        return errno.ENOSPC
    return None


def output_error(error: BaseException, path: str | os.PathLike[str], *, needed: int | None = None,
                 temporary: str | os.PathLike[str] | None = None) -> OutputError | None:
    """What ``error``, raised while writing ``path``, means for the user, or None when it is not a
    failed write (a bug, an interruption, an error about another file) and should propagate.

    Call it before the partial temporary is removed: its size and the free space it leaves tell
    a full disk from other failures when the library that wrote gave no errno (torch's
    ``unexpected pos``).

    Returns:
        :class:`DiskFullError` (the disk or quota is full), :class:`OutputError` (EIO, a read-only
        file system, no permission ...), each naming ``path`` as the user knows it.
    """
    if not isinstance(error, Exception) or isinstance(error, AlbertError):
        return None
    target = Path(path)
    temporary_text = str(temporary) if temporary is not None else None
    written = _size_of(temporary)
    code = _errno_of(error)
    if code in _DISK_FULL_ERRNOS:
        return disk_full_error(target, needed=needed, written=written)
    if isinstance(error, OSError) and error.filename not in (None, temporary_text, str(target)):
        return None  # about another file (one the writer reads, say): its own message is right
    if code is None:
        free = free_bytes(target.parent)
        remaining = (needed - (written or 0)) if needed is not None else 0
        if free is not None and free < max(remaining, NEARLY_FULL):
            return disk_full_error(target, needed=needed, written=written, free=free)
        if not isinstance(error, OSError):
            return None  # not an I/O error: a bug, or the data, for its own message
    reason = (error.strerror if isinstance(error, OSError) and error.strerror else str(error)) or type(error).__name__
    if temporary_text is not None:
        reason = reason.replace(temporary_text, str(_shown(target)))
    if code is not None and code in errno.errorcode and errno.errorcode[code] not in reason:
        reason = f"{reason} ({errno.errorcode[code]})"
    return _output_error(_shown(target), " ".join(reason.split()), code)


def _size_of(path: str | os.PathLike[str] | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def require_space(path: str | os.PathLike[str], needed: int) -> None:
    """Refuse, before writing, a write of ``needed`` bytes at ``path`` that its disk cannot hold.

    Raises:
        DiskFullError: fewer than ``needed`` bytes are free there.
    """
    free = free_bytes(Path(path).parent)
    if free is not None and free < needed:
        raise disk_full_error(path, needed=needed, free=free)


@contextmanager
def needing_space(path: str | os.PathLike[str], needed: int) -> Iterator[None]:
    """Around a write of about ``needed`` bytes at ``path`` (a model's weights, whatever library
    writes them): refused first when the disk cannot hold it, and a full disk met inside says
    how much was needed when the failed write could not tell.

    Raises:
        DiskFullError: as :func:`require_space`, or from the block.
    """
    require_space(path, needed)
    try:
        yield
    except DiskFullError as error:
        if getattr(error, "needed", None) is not None:
            raise
        raise disk_full_error(getattr(error, "path", path), needed=needed) from None


def _raise_as_output_error(error: BaseException, target: Path, needed: int | None = None,
                           temporary: Path | None = None) -> None:
    raised = output_error(error, target, needed=needed, temporary=temporary)
    if raised is not None:
        raise raised from None


# -- files ------------------------------------------------------------------------------------


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = False, needed: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path``; when the block completes it is renamed onto ``path``.

    Args:
        path: the file to write; its folder must exist.
        durable: also fsync the file and its folder, so the rename survives a power cut
            (checkpoints); costs a disk flush.
        needed: the bytes the file will take, when known: a disk with less free is refused before
            anything is written, and a full disk's message says how much was needed.

    Yields:
        The temporary path to write to. On any exception it is removed and ``path`` is untouched.

    Raises:
        DiskFullError: the disk (or quota) filled, or cannot hold ``needed`` bytes.
        OutputError: another I/O error while writing or renaming (EIO, a read-only file system ...).
    """
    target = Path(path)
    remove_stale_temporaries(target)
    if needed is not None:
        require_space(target, needed)
    try:
        temporary = _make_temporary(target)
    except OSError as error:
        _raise_as_output_error(error, target, needed)
        raise
    try:
        yield temporary
        if durable and temporary.is_file():
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, target)
        if durable:
            _fsync_folder(target.parent)
    except Exception as error:  # a full disk, say: about the user's file, not ours
        _raise_as_output_error(error, target, needed, temporary)
        raise
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object], *, durable: bool = False,
                 needed: int | None = None) -> Path:
    """Call ``write(temporary_path)``, then rename the result onto ``path``; returns ``path``."""
    with atomic_path(path, durable=durable, needed=needed) as temporary:
        write(temporary)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", durable: bool = False) -> Path:
    """``Path(path).write_text(text)``, whole or not at all."""
    return write_atomic(path, lambda temporary: temporary.write_text(text, encoding=encoding), durable=durable,
                        needed=len(text.encode(encoding, errors="replace")))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> Path:
    """``Path(path).write_bytes(data)``, whole or not at all."""
    return write_atomic(path, lambda temporary: temporary.write_bytes(data), durable=durable, needed=len(data))


class RecordingWriter:
    """A binary file ``handle`` seen through plain ``write`` calls, which remembers the OSError of
    a failed write. Two libraries need it: torch's writer turns that error into ``RuntimeError:
    ... unexpected pos``, which says neither that the disk is full nor where; and numpy writes a
    real file with C stdio, whose failed final flush it ignores (a file cut short, no error),
    while through ``write`` calls every failure raises."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def write_torch_atomic(path: str | os.PathLike[str], value: Any, *, durable: bool = False) -> Path:
    """``torch.save(value, path)``, whole or not at all, refused before it starts when the disk
    cannot hold its tensors; a full disk is a :class:`DiskFullError` naming ``path``."""
    import torch

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            recorder = RecordingWriter(handle)
            try:
                torch.save(value, recorder)  # type: ignore[arg-type]
            except RuntimeError:
                if recorder.error is not None:
                    raise recorder.error from None
                raise

    return write_atomic(path, write, durable=durable, needed=tensor_bytes(value))


def tensor_bytes(value: Any) -> int:
    """The bytes of the tensors in ``value`` (nested dicts, lists, tuples), shared storage once."""
    import torch

    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if storage.data_ptr() not in seen or storage.data_ptr() == 0:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


def append_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Append ``text`` to ``path`` (a log); a failed write raises DiskFullError / OutputError
    naming it. Not atomic: a crash can cut the last line, which readers of such logs skip."""
    try:
        with open(path, "a", encoding=encoding) as handle:
            handle.write(text)
    except OSError as error:
        _raise_as_output_error(error, Path(path), len(text.encode(encoding)))
        raise


# -- folders ----------------------------------------------------------------------------------


@dataclass
class _FolderSave:
    shown: Path  # the folder as the caller named it
    target: Path  # its real path
    staging: Path  # where the new contents are built


_saves: dict[Path, _FolderSave] = {}  # by staging and by target (real paths), in this process
_saves_guard = threading.Lock()


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _shown(path: Path) -> Path:
    """``path`` as the user knows it: inside a folder being built aside, the final folder's name."""
    with _saves_guard:
        saves = list(_saves.values())
    for save in saves:
        if path.is_absolute() and path.is_relative_to(save.staging):
            return save.shown / path.relative_to(save.staging)
    return path


@contextmanager
def atomic_folder(path: str | os.PathLike[str], *, durable: bool = False, last: Sequence[str] = ("config.json",)
                  ) -> Iterator[Path]:
    """Write a folder all-or-nothing: yields a folder to write the new contents into; when the
    block completes, it replaces ``path`` whole.

    The new folder is built beside ``path`` (``.NAME.PID.RANDOM.tmp``, same file system) under
    the folder's lock (:func:`albert.output_lock.folder_lock`: a second writer is refused with
    ``FolderInUseError``). It starts with the old folder's entries as hard links (copies where
    links fail), so a user's README or other files survive; the writer replaces files (through
    :func:`atomic_path`, never writing into a carried file in place) and removes the ones it
    makes stale. Then the two folders are exchanged atomically (Linux ``renameat2``
    ``RENAME_EXCHANGE``; elsewhere the old folder is renamed aside, the new one renamed in, and a
    writer killed between the two renames has the old folder put back by the next save) and the
    old contents are removed.

    Where no sibling folder can be made (the parent is not writable, ``path`` is a mount point or
    the current folder), the new contents are built inside ``path`` and renamed in file by file,
    the names in ``last`` (config.json) last: a kill in the middle can then leave new weights
    beside the old config, as documented in docs/reliability.md.

    A call for a folder this thread is already writing (or for the folder being built) yields
    that folder: nested saves (``save_pretrained`` writing its tokenizer) join the outer one.

    Args:
        path: the folder (created if missing).
        durable: fsync the new files and the folders, so the swap survives a power cut.
        last: names installed last when the folder is written file by file.

    Raises:
        FolderInUseError: another process writes ``path``.
        DiskFullError, OutputError: a write failed; ``path`` is as it was.
    """
    shown = Path(path)
    target = _real(shown)
    with _saves_guard:
        outer = _saves.get(target)
    if outer is not None and holds_lock(outer.target):
        yield outer.staging
        return
    if target.exists() and not target.is_dir():
        raise _output_error(shown, "it is a file, not a folder", errno.ENOTDIR)
    with folder_lock(target, shown=shown):
        remove_dead_temporaries(target.parent, target.name)
        if target.is_dir():
            remove_dead_temporaries(target)
        staging, whole = _staging_for(target, shown)
        save = _FolderSave(shown, target, staging)
        with _saves_guard:
            _saves[target] = _saves[staging] = save
        try:
            if target.is_dir():
                _carried(lambda: _carry_over(target, staging), shown)
            yield staging
            if durable:
                _fsync_tree(staging)
            _carried(lambda: _swap(staging, target, last) if whole else _install_in_place(staging, target, last), shown)
            if durable:
                _fsync_folder(target.parent)
        except BaseException:
            _remove_tree(staging)
            raise
        finally:
            with _saves_guard:
                _saves.pop(target, None)
                _saves.pop(staging, None)


def _carried(step: Callable[[], object], shown: Path) -> None:
    """Run a step of the folder's own moves; an OSError becomes the user's error about ``shown``."""
    try:
        step()
    except OSError as error:
        _raise_as_output_error(error, shown)
        raise


def _own_names(target: Path) -> set[str]:
    return {f".{target.name}{LOCK_SUFFIX}", f".{target.name}{HOLDER_SUFFIX}"}


def _staging_for(target: Path, shown: Path) -> tuple[Path, bool]:
    """The folder to build in, and whether it is swapped in whole (else installed file by file)."""
    exists = target.is_dir()
    if exists and (os.path.ismount(target) or _holds_working_directory(target)):
        return _staging_inside(target, shown), False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
    except OSError as error:
        if exists and error.errno in (errno.EACCES, errno.EPERM):
            return _staging_inside(target, shown), False
        _raise_as_output_error(error, shown)
        raise
    try:
        if exists:
            status = target.stat()
            os.chmod(staging, stat.S_IMODE(status.st_mode))
            if (status.st_uid, status.st_gid) != (os.stat(staging).st_uid, os.stat(staging).st_gid):
                try:
                    os.chown(staging, status.st_uid, status.st_gid)
                except OSError:
                    pass  # only root may give a folder away
        else:
            os.chmod(staging, 0o777 & ~current_umask())
    except OSError:
        pass  # a file system without modes
    return staging, True


def _staging_inside(target: Path, shown: Path) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target))
    except OSError as error:
        _raise_as_output_error(error, shown)
        raise


def _holds_working_directory(target: Path) -> bool:
    try:
        here = Path(os.getcwd())
    except OSError:
        return False
    return here == target or here.is_relative_to(target)


def _carry_over(source: Path, staging: Path) -> None:
    """Put the old folder's entries into the new one: hard links (copies where links fail)."""
    own = _own_names(source)
    for entry in os.scandir(source):
        if entry.name in own or entry.name == staging.name or _TEMPORARY_NAME.match(entry.name):
            continue
        destination = staging / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), destination)
        elif entry.is_dir():
            shutil.copytree(entry.path, destination, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry.path, destination)


def _link_or_copy(source: str, destination: str | os.PathLike[str]) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, destination, follow_symlinks=False)


def _swap(staging: Path, target: Path, last: Sequence[str]) -> None:
    """Put ``staging`` in ``target``'s place and remove the old contents."""
    try:
        if not os.path.lexists(target):
            os.rename(staging, target)
            return
        if _exchange(staging, target):
            _remove_tree(staging)  # it now holds the previous contents
            return
        aside = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old"
        os.rename(target, aside)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(aside, target)
            raise
        _remove_tree(aside)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EBUSY):
            raise
        _install_in_place(staging, target, last)  # a mount point: rename is refused, copy file by file


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the system
    or the file system has no such call, so the caller falls back to two renames."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    import ctypes

    at_current_folder, rename_exchange = -100, 2
    if renameat2(at_current_folder, os.fsencode(first), at_current_folder, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


@cache
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None  # a C library older than glibc 2.28, or not glibc
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def exchange_supported(folder: str | os.PathLike[str]) -> bool:
    """Whether two folders in ``folder`` can be swapped atomically (for the docs and the tests)."""
    scratch = Path(tempfile.mkdtemp(prefix=".albert-exchange-probe.", dir=folder))
    try:
        (scratch / "a").mkdir()
        (scratch / "b").mkdir()
        return _exchange(scratch / "a", scratch / "b")
    finally:
        _remove_tree(scratch)


def _install_in_place(staging: Path, target: Path, last: Sequence[str]) -> None:
    """Move the new contents into ``target`` one by one (``last`` at the end), then remove what
    the writer dropped (stale weights, the other tokenizer's files)."""
    names = sorted(os.listdir(staging), key=lambda name: (name in last, name))
    kept = set(names) | _own_names(target) | {staging.name}
    for name in [name for name in names if name not in last]:
        _move_in(staging / name, target / name)
    for entry in os.scandir(target):
        if entry.name not in kept and not _TEMPORARY_NAME.match(entry.name):
            _remove_tree(Path(entry.path))
    for name in [name for name in names if name in last]:
        _move_in(staging / name, target / name)
    _remove_tree(staging)


def _move_in(source: Path, destination: Path) -> None:
    if os.path.lexists(destination) and os.path.samestat(os.lstat(source), os.lstat(destination)):
        return  # a carried-over entry, unchanged
    if source.is_dir() and not source.is_symlink():
        if os.path.lexists(destination):
            _remove_tree(destination)
        try:
            os.rename(source, destination)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            shutil.copytree(source, destination, symlinks=True)
        return
    try:
        os.replace(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        write_atomic(destination, lambda temporary: shutil.copyfile(source, temporary, follow_symlinks=False))


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as handle:
                    os.fsync(handle.fileno())
            except OSError:
                pass
        _fsync_folder(Path(root))


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass
