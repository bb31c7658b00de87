# Copyright: privreg.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to privreg.registry: its functions may change in any release.
# Other collections, roles and playbooks use the modules and filters instead.

"""Read-modify-write of one file, serialized and atomic.

A lock file beside the target (``.<name>.lock``, never removed: removing it
would let two runs hold "the" lock on two different inodes) serializes
concurrent runs, so parallel ansible processes lose no update. The new text
goes to a temp file in the same folder and replaces the target by rename, so
readers (and an interrupted run) only ever see a whole file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile

# atomic_move gives a file it creates 0666 & ~umask; this umask keeps a new
# file private until set_fs_attributes_if_different applies the wanted mode.
_PRIVATE_UMASK = 0o077


def lock_path(path):
    """The lock file that serializes writers of ``path``."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, ".%s.lock" % name)


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive flock beside ``path`` for the duration of the block."""
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_text(path):
    """The file's text (UTF-8), or None when it does not exist."""
    data = read_bytes(path)
    return None if data is None else data.decode("utf-8")


def write_private_copy(folder, name, data):
    """Write ``data`` to a new file ``name`` (0600) in ``folder`` (made 0700 when missing); its path.

    Never overwrites: an existing file of that name raises FileExistsError.
    """
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
        os.chmod(folder, 0o700)  # makedirs' mode is subject to the umask
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def write_atomically(module, path, text):
    """Replace ``path`` with ``text`` through a temp file in the same folder.

    An existing file keeps its owner, group and mode (atomic_move copies them);
    a new one starts private (0600) and gets its mode from the caller's
    set_fs_attributes_if_different.
    """
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        with _umask(_PRIVATE_UMASK):
            module.atomic_move(tmp, path, unsafe_writes=module.params.get("unsafe_writes", False))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
