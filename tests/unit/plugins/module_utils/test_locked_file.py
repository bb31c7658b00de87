"""The lock and the atomic write under registry_htpasswd."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.privreg.registry.plugins.module_utils._locked_file import (
    lock_path,
    locked,
    read_bytes,
    read_text,
    write_atomically,
    write_private_copy,
)


class Mover:
    """The part of AnsibleModule write_atomically uses: a real rename, or a crash in the middle."""

    def __init__(self, crash=False):
        self.params = {"unsafe_writes": False}
        self.crash = crash

    def atomic_move(self, src, dest, unsafe_writes=False):
        if self.crash:
            raise KeyboardInterrupt("killed between writing the temp file and the rename")
        os.rename(src, dest)


class RealMover:
    """AnsibleModule's own atomic_move, on an object without the argument parsing."""

    params = {"unsafe_writes": False}
    atomic_move = AnsibleModule.atomic_move

    def selinux_enabled(self):
        return False


def test_lock_file_sits_beside_the_target():
    assert lock_path("/srv/auth/htpasswd") == "/srv/auth/.htpasswd.lock"


def test_a_second_holder_waits_for_the_first(tmp_path):
    path = str(tmp_path / "htpasswd")
    entered = threading.Event()

    def second():
        with locked(path):
            entered.set()

    with locked(path):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.3)  # blocked while the first holds the lock
    assert entered.wait(5)
    waiter.join()


def test_write_replaces_the_whole_file_and_a_new_file_starts_private(tmp_path):
    path = str(tmp_path / "htpasswd")
    assert read_text(path) is None
    old_umask = os.umask(0o022)  # atomic_move would give a new file 0644 under this umask
    try:
        write_atomically(RealMover(), path, "alice:x\n")
    finally:
        os.umask(old_umask)
    assert read_text(path) == "alice:x\n"
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    assert sorted(os.listdir(tmp_path)) == ["htpasswd"]
    os.chmod(path, 0o644)
    write_atomically(RealMover(), path, "alice:y\n")
    assert read_text(path) == "alice:y\n" and stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_an_interrupted_write_leaves_the_old_file_whole_and_no_temp_file(tmp_path):
    path = str(tmp_path / "htpasswd")
    with open(path, "w") as f:
        f.write("alice:old\n")
    with pytest.raises(KeyboardInterrupt):
        write_atomically(Mover(crash=True), path, "alice:new\nbob:new\n")
    assert read_text(path) == "alice:old\n"
    assert sorted(os.listdir(tmp_path)) == ["htpasswd"]


def test_a_private_copy_is_0600_in_a_0700_folder_made_for_it_and_never_overwrites(tmp_path):
    folder = str(tmp_path / "auth-backup")
    path = write_private_copy(folder, "htpasswd.1", b"alice:hash\n")
    assert path == os.path.join(folder, "htpasswd.1")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as f:
        assert f.read() == b"alice:hash\n"
    with pytest.raises(FileExistsError):
        write_private_copy(folder, "htpasswd.1", b"other\n")
    os.chmod(folder, 0o300)  # an existing folder keeps its mode (root writes even without w)
    write_private_copy(folder, "htpasswd.2", b"")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o300


def test_read_bytes_is_none_for_a_missing_file(tmp_path):
    assert read_bytes(str(tmp_path / "missing")) is None
    (tmp_path / "f").write_bytes(b"\xff")
    assert read_bytes(str(tmp_path / "f")) == b"\xff"
