"""Output folders: checked before any work, written atomically, locked while in use.

* :func:`check_new` (for ``run`` and ``trial``) and :func:`check_usable` (for a
  sweep, whose folder may exist to be resumed) refuse, before anything is
  simulated, an ``--out`` that cannot become a folder we can write: a path under
  a regular file, a dangling symlink, a name longer than the file system allows,
  a parent where no folder can be created (read-only, ``/proc``), or an existing
  file or non-empty folder. The check creates and removes one empty probe folder
  in the nearest existing ancestor, so nothing is left behind.
* :func:`staging` writes into a hidden sibling ``.cartsim-PID-XXXX`` and renames it
  to ``out`` only when complete. If ``out`` was taken meanwhile (two runs into the
  same default folder in the same second), the result goes to ``out-2``,
  ``out-3``, ... instead of being lost. Staging folders left by killed processes
  (their PID no longer alive) are removed by the next staging in that parent.
* :func:`lock` holds an exclusive ``flock`` on ``out/.cartsim.lock`` while a sweep
  writes into it or a trial runs for it; a second process on the same folder is
  refused with one line.
  The kernel drops the lock when its holder dies, so a killed sweep never leaves
  the folder locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from sim.errors import ScenarioError

STAGING_PREFIX = ".cartsim-"
LOCK_NAME = ".cartsim.lock"
NAME_MAX = 255
"""Longest file name (bytes) on Linux file systems."""


class OutputError(ScenarioError):
    """An ``--out`` that cannot be used (one line, exit 2)."""


def check_usable(out: Path) -> None:
    """Refuse ``out`` unless it is, or can become, a folder this process can write into."""
    out = Path(out)
    for part in [out, *out.parents]:
        if len(part.name.encode()) > NAME_MAX:
            raise OutputError(f"--out {_short(out)}: the name '{part.name[:20]}...' has {len(part.name.encode())} bytes; "
                              f"allowed: at most {NAME_MAX}")
        if part.is_symlink() and not part.exists():
            raise OutputError(f"--out {_short(out)}: {part} is a dangling symbolic link; allowed: a new folder or an existing one")
        if part.exists():
            if not part.is_dir():
                raise OutputError(f"--out {_short(out)}: {part} is a file, not a folder; allowed: a path to a new folder")
            _probe(out, part)
            return


def _short(path: Path) -> str:
    """``path`` for a one-line message (long paths elided in the middle)."""
    text = str(path)
    return text if len(text) <= 80 else f"{text[:37]}...{text[-40:]}"


def check_new(out: Path) -> None:
    """:func:`check_usable`, and ``out`` must not exist yet unless it is an empty folder."""
    out = Path(out)
    check_usable(out)
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()):  # a lock is refused by lock()
        raise OutputError(f"--out {_short(out)}: exists and is not empty; choose a new folder "
                          "(earlier results are never overwritten)")


def _probe(out: Path, existing: Path) -> None:
    """Create and remove an empty folder in ``existing`` (the target itself if it exists)."""
    try:
        os.rmdir(_new_staging_folder(existing))
    except OSError as err:
        raise OutputError(f"--out {_short(out)}: cannot create a folder in {existing} ({err.strerror}); "
                          "allowed: a writable location") from None


@contextlib.contextmanager
def staging(out: Path) -> Iterator[tuple[Path, list[Path]]]:
    """Yield ``(tmp, final)``: write into ``tmp``; on success ``final[0]`` is where it landed.

    ``final[0]`` is ``out``, or ``out-N`` when another process took ``out`` first.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out.parent)
    tmp = _new_staging_folder(out.parent)
    final: list[Path] = []
    try:
        yield tmp, final
        final.append(_rename_free(tmp, out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _new_staging_folder(parent: Path) -> Path:
    """A new folder ``.cartsim-PID-RANDOM`` in ``parent``, made with ``mkdir``: it gets the
    permissions the umask gives any new folder (``tempfile.mkdtemp`` makes owner-only ones, and
    the results are renamed from it), and the process id lets a later run clean it up."""
    while True:
        path = Path(parent) / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _rename_free(tmp: Path, out: Path) -> Path:
    """Rename ``tmp`` to ``out`` (replacing an empty folder) or the first free ``out-N``."""
    for n in range(1, 1000):
        candidate = out if n == 1 else out.with_name(f"{out.name}-{n}")
        try:
            os.rename(tmp, candidate)
            return candidate
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
    raise OutputError(f"--out {_short(out)}: {out}-2 ... {out}-999 are all taken")


def clean_leftovers(parent: Path) -> None:
    """Remove staging folders in ``parent`` whose process is gone (killed while writing)."""
    for path in Path(parent).glob(f"{STAGING_PREFIX}*-*"):
        pid = path.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder ``out`` (created if needed); refuse if another
    process holds it. At the end a lock file alone in the folder is removed, and so is a
    folder this call created that holds nothing else (the work stopped before writing, or
    a trial, whose results are staged and renamed into ``out`` after the lock)."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise OutputError(f"--out {_short(out)}: another cartsim process (pid {holder}) is writing this folder; "
                              "wait for it to finish or choose another folder") from None
        if os.fstat(fd).st_ino != _inode(out / LOCK_NAME):  # the holder removed the file as we opened it
            raise OutputError(f"--out {_short(out)}: another cartsim process was finishing in this folder; "
                              "run again") from None
        held = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        if held and [p.name for p in out.iterdir()] == [LOCK_NAME]:
            (out / LOCK_NAME).unlink()  # removed while still held
            if created:
                with contextlib.suppress(OSError):  # another process wrote into it meanwhile
                    out.rmdir()
        os.close(fd)


def _inode(path: Path) -> int | None:
    """Inode of ``path``, None if it is gone."""
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
