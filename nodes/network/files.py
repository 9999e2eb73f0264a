"""Writing export files so that a crash never leaves a half-written one behind.

A truncated genesis.json or key file is worse than none: Besu would start a different chain
or generate a fresh key and silently stop being the validator the genesis names. Each file is
therefore written to a temporary sibling, flushed to disk and renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from nodes.network.errors import NetworkConfigError

PUBLIC_FILE_MODE = 0o644
SECRET_FILE_MODE = 0o600


def write_atomic(path: Path, content: str, *, mode: int = PUBLIC_FILE_MODE) -> Path:
    """Replace ``path`` with ``content`` in one rename, leaving it with permission ``mode``.

    The temporary file is created private (0600) and only widened to ``mode`` just before the
    rename, so a secret never exists on disk with looser permissions, even for an instant.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)
    return path


def prepare_output_directory(out: Path, *, overwrite: bool) -> None:
    """Create ``out``, refusing to mix a new export into an unrelated non-empty directory."""
    if out.exists() and not out.is_dir():
        raise NetworkConfigError(f"output path {out} exists and is not a directory; choose another")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise NetworkConfigError(
            f"output directory {out} is not empty; choose an empty directory or pass "
            "overwrite=True to replace a previous export"
        )
    out.mkdir(parents=True, exist_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; best effort where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
