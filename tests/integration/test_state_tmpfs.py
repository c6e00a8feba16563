"""`up` keeps k8snet's state on a tmpfs where the directory is on a disk file system:
mounted on an empty directory only, once."""

import os
import subprocess

from k8snet.testbed import preflight


def fstype(path):
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return preflight.mount_of(os.path.realpath(path), fh.read())[1]


def test_an_empty_state_directory_on_disk_gets_a_tmpfs_once(tmp_path):
    if fstype(str(tmp_path)) == "tmpfs":
        import pytest
        pytest.skip("the test's own directory is on a tmpfs already")
    root = tmp_path / "state"
    try:
        assert preflight.state_on_tmpfs(str(root)) is True
        assert fstype(str(root)) == "tmpfs"
        mounts = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", str(root)],
                                capture_output=True, text=True).stdout.split()
        assert mounts == ["k8snet-state", "tmpfs"]
        (root / "c1.lock").write_text("")
        assert preflight.state_on_tmpfs(str(root)) is False          # already one
        assert (root / "c1.lock").exists()
        # `k8snet clean` unmounts it only once nothing is in it
        assert not preflight.state_tmpfs_unused(str(root))
        assert preflight.release_state_tmpfs(str(root)) is False
        (root / "c1.lock").unlink()
        assert preflight.state_tmpfs_unused(str(root))
        assert preflight.release_state_tmpfs(str(root)) is True
        assert fstype(str(root)) != "tmpfs"
    finally:
        subprocess.run(["umount", str(root)], capture_output=True)


def test_a_tmpfs_someone_else_mounted_is_not_released(tmp_path):
    root = tmp_path / "state"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "someone", str(root)], check=True)
    try:
        assert not preflight.state_tmpfs_unused(str(root))
        assert preflight.release_state_tmpfs(str(root)) is False
        assert fstype(str(root)) == "tmpfs"
    finally:
        subprocess.run(["umount", str(root)], capture_output=True)


def test_a_state_directory_with_anything_in_it_is_left_alone(tmp_path):
    root = tmp_path / "state"
    root.mkdir()
    (root / "old.lock").write_text("")
    assert preflight.state_on_tmpfs(str(root)) is False
    assert fstype(str(root)) == fstype(str(tmp_path))
    assert (root / "old.lock").exists()
