"""Files that are never left half-written: atomic writes, checksums, stale temporaries.

Everything MiniGPT saves (checkpoints, logs, summaries, encoded corpora, downloads) is first
written to a temporary file `.NAME.<pid>.tmp` beside its target and then renamed over it, so a
crash or a full disk leaves the old file, never half a new one. A process killed mid-write
leaves its temporary behind; `remove_stale_temporaries` deletes those whose writer is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        if match and path.is_file() and not _process_alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
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
