"""Files only the service's user may read: the data dir, the database, keys, first-start secrets.

The database holds child-abuse signals and reduced copies of matched media;
the key file decrypts exchange credentials. Created under the process's
umask they would be readable by every account on the host (0644), so they
are created owner-only from the first byte instead of narrowed afterwards.
Existing files and folders keep the modes an operator gave them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """`path` as a folder, created owner-only (with any missing parents) if it is new."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    return path


def touch_private(path: Path) -> None:
    """Create `path` empty and owner-only unless it exists (SQLite then opens it, and
    gives its -wal and -shm files the same mode)."""
    private_folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, owner-only, never leaving a partial file behind."""
    private_folder(path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:  # mkstemp creates it 0600
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def append_private(path: Path, line: str) -> None:
    """Add `line` at the end of `path` (created owner-only), never rewriting what is there."""
    private_folder(path.parent)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(handle, "a") as out:
        out.write(line.rstrip("\n") + "\n")
        out.flush()
        os.fsync(out.fileno())
