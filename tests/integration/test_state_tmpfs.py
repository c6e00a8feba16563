"""`up` keeps k8snet's state on a tmpfs where the directory is on a disk file system:
mounted on an empty directory only, once; `clean` unmounts it only when nothing is
in it and no `up` holds it."""

import os
import subprocess

import pytest

from k8snet.testbed import preflight


def fstype(path):
    return preflight._mount_of(path)[1]


@pytest.fixture
def root(tmp_path):
    if fstype(str(tmp_path)) == "tmpfs":
        pytest.skip("the test's own directory is on a tmpfs already")
    path = tmp_path / "state"
    yield path
    subprocess.run(["umount", str(path)], capture_output=True)


def test_an_empty_state_directory_on_disk_gets_a_tmpfs_once(root):
    hold, mounted = preflight.state_on_tmpfs(str(root))
    assert mounted is True and hold >= 0
    assert fstype(str(root)) == "tmpfs"
    # the hold is the new tmpfs's directory, not the disk one beneath it
    assert os.fstat(hold).st_dev == os.stat(root).st_dev
    findmnt = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", str(root)],
                             capture_output=True, text=True).stdout.split()
    assert findmnt[:2] == ["k8snet-state", "tmpfs"] and "nosuid" in findmnt[2]
    # while an `up` holds it (before its lock file exists), clean cannot unmount it
    assert preflight.state_tmpfs_unused(str(root))
    assert preflight.release_state_tmpfs(str(root)) is False
    assert fstype(str(root)) == "tmpfs"
    os.close(hold)
    (root / "c1.lock").write_text("")
    again, mounted = preflight.state_on_tmpfs(str(root))
    os.close(again)
    assert mounted is False and (root / "c1.lock").exists()          # already one
    assert not preflight.state_tmpfs_unused(str(root))
    assert preflight.release_state_tmpfs(str(root)) is False
    (root / "c1.lock").unlink()
    assert preflight.release_state_tmpfs(str(root)) is True
    assert fstype(str(root)) != "tmpfs"


def test_a_state_directory_with_anything_in_it_is_left_alone(root):
    root.mkdir()
    (root / "old.lock").write_text("")
    hold, mounted = preflight.state_on_tmpfs(str(root))
    os.close(hold)
    assert mounted is False and fstype(str(root)) != "tmpfs"
    assert (root / "old.lock").exists()


def test_a_tmpfs_someone_else_mounted_is_not_released(root):
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "someone", str(root)], check=True)
    assert not preflight.state_tmpfs_unused(str(root))
    assert preflight.release_state_tmpfs(str(root)) is False
    assert fstype(str(root)) == "tmpfs"
