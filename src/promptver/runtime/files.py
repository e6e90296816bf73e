"""The client's local files (lockfiles, snapshots, keys): bounded reads and atomic writes.

A read never blocks and never grows without bound: the file is opened without blocking, refused
unless it is a regular file (a FIFO, ``/dev/zero``, a socket or a folder), and read up to a limit.
A write goes to a temp file in the same folder, is fsynced, then replaces the target
(``os.replace``), so readers see the old file or the new one, never a part.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from promptver.templates.reading import read_bytes

MAX_LOCKFILE_BYTES = 64 * 1024 * 1024  # a lockfile or a snapshot: entries of up to a few MB each
MAX_KEY_BYTES = 64 * 1024  # a PEM key is a few hundred bytes


def read_regular(path: str | os.PathLike[str], max_bytes: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``: the bounded reader every file
    promptver reads goes through (templates/reading.py); InvalidFile naming the file otherwise."""
    return read_bytes(path, max_bytes, what)


def atomic_write(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a part: a temp
    file in the same folder, fsync, then ``os.replace``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
