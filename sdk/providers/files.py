"""Files kept in a data directory, readable by their owner only.

A data directory holds secrets (signing keys, callback secrets) and databases with customer
data, so what is created there is created owner-only: directories 0700, files 0600, whatever
the process's umask. Existing files and directories are left as the operator made them.

Example (a plugin keeping its own secret)::

    key = install_secret(context.data_dir / "mybank-callback-secret")
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing directory is kept."""
    missing = []
    for part in (path, *path.parents):
        if part.exists():
            break
        missing.append(part)
    for part in reversed(missing):
        try:
            part.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
    return path


def private_file(path: Path) -> Path:
    """Create an empty ``path`` owner-only unless it exists (its directory too)."""
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass
    return path


def install_secret(path: Path, nbytes: int = 48) -> str:
    """A random secret kept at ``path``: made on first use, the same ever after.

    Every process of an install (several workers, started at once) reads the same secret:
    it is written aside and linked into place, and a link fails if another process got there
    first.
    """
    if not path.exists():
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(nbytes))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path.name} is empty; delete it to make a new secret")
    return secret
