"""Files that are never left half-written, and files read from folders that are not trusted.

Everything MiniGPT saves (checkpoints, logs, summaries, encoded corpora, downloads) is first
written to a temporary file `.NAME.<pid>.tmp` beside its target and then renamed over it, so a
crash or a full disk leaves the old file, never half a new one. A process killed mid-write
leaves its temporary behind; `remove_stale_temporaries` deletes those whose writer is gone.

A folder from elsewhere (a published run someone sent) is read with `open_regular`: a file that
is a symbolic link, a FIFO or a device is refused before it is opened, so nothing outside the
folder is read, and `read_bounded` never reads more than a stated number of bytes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO


def file_sha256(path: str | os.PathLike[str] | BinaryIO) -> str:
    """SHA-256 of a file's bytes (a path, or an open file from its start), read in 1 MiB pieces."""
    if not isinstance(path, (str, os.PathLike)):
        return _stream_sha256(path)
    with open(path, "rb") as f:
        return _stream_sha256(f)


def _stream_sha256(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    f.seek(0)
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading only if it is a regular file itself: a symbolic link (which could
    point anywhere: /etc/passwd, /proc/self/environ), a FIFO, a device or a folder is refused,
    with a ValueError, before it is opened."""
    try:
        before = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found") from None
    _check_regular(path, before.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:  # replaced by a link since lstat
            _check_regular(path, stat.S_IFLNK)
        raise
    opened = os.fstat(descriptor)
    if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
        os.close(descriptor)
        raise ValueError(f"{path} was replaced while it was being opened; try again")
    return os.fdopen(descriptor, "rb")


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISLNK(mode):
        raise ValueError(
            f"{path} is a symbolic link; the files of a folder from elsewhere are read only when "
            f"they are regular files inside it"
        )
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file")


def read_bounded(f: BinaryIO, limit: int, what: str) -> bytes:
    """At most `limit` bytes of an open file; a longer file is refused before it is read."""
    size = os.fstat(f.fileno()).st_size
    if size > limit:
        raise ValueError(f"{what} is {size:,} bytes, more than the {limit:,} allowed")
    data = f.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise ValueError(f"{what} is more than the {limit:,} bytes allowed")
    return data


def temporary_path(path: Path) -> Path:
    """Where to write `path` before renaming it into place: `.NAME.<pid>.tmp` beside it."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


_TEMPORARY = re.compile(r"^\.?.+\.(?P<pid>\d+)\.(tmp|part)$")


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files in `folder` whose writer no longer runs (killed with -9, a
    power cut); returns what was deleted. A live process's temporaries are left alone."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not process_alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (where that cannot be told: assume it does)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # no cheap check elsewhere: assume alive, delete nothing
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def write_text_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 file through a temporary file and a rename: never left half-written."""
    temporary = temporary_path(path)
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
