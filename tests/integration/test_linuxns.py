"""linuxns as root: named network namespaces and checksum offload by system call,
checked with the tools they replace (ip netns, ethtool)."""

import os
import secrets
import subprocess

import pytest

from k8snet import linuxns
from k8snet.cri import host
from k8snet.errors import K8snetError


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check).stdout


@pytest.fixture
def name():
    ns = f"k8snet-lnt-{secrets.token_hex(3)}"
    yield ns
    subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def test_a_namespace_made_here_is_one_ip_netns_knows_with_its_loopback_up(name):
    own = os.readlink("/proc/thread-self/ns/net")
    host.netns_add(name)
    assert name in ip("netns", "list").split()
    lo = ip("-n", name, "-o", "link", "show", "lo")
    assert "<LOOPBACK,UP" in lo
    # a namespace of its own: nothing of this one's in it
    assert len(ip("-n", name, "-o", "link", "show").splitlines()) == 1
    # the namespace was made on a thread of its own: this one never moved
    assert os.readlink("/proc/thread-self/ns/net") == own
    host.netns_delete(name)
    assert name not in ip("netns", "list").split()
    assert not os.path.exists(host.netns_path(name))
    host.netns_delete(name)   # idempotent


def test_loopback_left_down_when_asked_and_an_existing_name_refused(name):
    host.netns_add(name, loopback_up=False)
    assert "<LOOPBACK,UP" not in ip("-n", name, "-o", "link", "show", "lo")
    with pytest.raises(K8snetError, match=f"network namespace {name}: File exists"):
        host.netns_add(name)
    assert name in ip("netns", "list").split()   # the refusal removed nothing


def test_tx_offload_off_inside_a_namespace_is_what_ethtool_reports(name):
    host.netns_add(name)
    ip("-n", name, "link", "add", "lnt0", "type", "veth", "peer", "name", "lnt1")
    ethtool = ["ip", "netns", "exec", name, "ethtool", "-k"]
    before = subprocess.run([*ethtool, "lnt0"], capture_output=True, text=True).stdout
    assert "tx-checksumming: on" in before
    host.tx_offload_off("lnt0", name)
    after = subprocess.run([*ethtool, "lnt0"], capture_output=True, text=True).stdout
    assert "tx-checksumming: off" in after
    assert "tx-checksumming: on" in subprocess.run([*ethtool, "lnt1"], capture_output=True,
                                                   text=True).stdout
    assert linuxns.run_in(lambda: linuxns.tx_checksum("lnt0"), host.netns_path(name)) is False


def test_tx_offload_off_for_a_missing_interface_is_a_warning_not_an_error(name, caplog):
    host.netns_add(name)
    host.tx_offload_off("nosuch0", name)
    assert "ethtool -K nosuch0 tx off in" in caplog.text and "No such device" in caplog.text


def test_a_namespace_that_fails_half_made_leaves_no_file_behind(name, monkeypatch):
    def broken(ifname):
        raise OSError(19, "No such device")
    monkeypatch.setattr(linuxns, "link_up", broken)
    with pytest.raises(K8snetError, match=f"network namespace {name}: No such device"):
        host.netns_add(name)    # bound, then the loopback failed: unmounted and removed
    assert not os.path.exists(host.netns_path(name))
    assert name not in ip("netns", "list").split()
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        assert host.netns_path(name) not in fh.read()
