"""Real CNI plugins (Debian's /usr/lib/cni) driven by k8snet.cni, as root.

Plugins put the host end of a Pod's veth (and the overlay bridge) in the
namespace they run in, so every call here runs inside a scratch "node"
namespace (k8snet-test-...), never in the root namespace.
"""

import json
import os
import secrets
import subprocess
import sys
import time

import pytest

from k8snet import cni

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(not os.access("/usr/lib/cni/ptp", os.X_OK),
                       reason="containernetworking-plugins not installed (/usr/lib/cni)"),
]

DRIVER = r"""
import json, os, sys, time
from k8snet import cni
job = json.load(sys.stdin)
runner = cni.CniRunner(("/usr/lib/cni",), timeout=20)
inv = cni.Invocation(job["id"], "/run/netns/" + job["pod"], "eth0",
                     cni.cni_args("default", "p", "u", job["id"]))
out = {}
try:
    if job["op"] == "add":
        out["result"] = runner.add(job["conflist"], inv)
        runner.check(job["conflist"], inv, out["result"])
    elif job["op"] == "del":
        runner.delete(job["conflist"], inv, job.get("prev"))
    elif job["op"] == "cycles":
        t0 = time.monotonic()
        for i in range(job["cycles"]):
            ci = cni.Invocation(f"{job['id']}-{i}", inv.netns, "eth0", inv.args)
            res = runner.add(job["conflist"], ci)
            runner.delete(job["conflist"], ci, res)
        out["seconds"] = time.monotonic() - t0
except cni.CniError as exc:
    out["error"] = {"code": exc.code, "msg": exc.msg, "text": str(exc)}
print(json.dumps(out))
"""


def sh(*argv):
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def nets(tmp_path):
    tag = secrets.token_hex(3)
    node, pod = f"k8snet-test-n{tag}", f"k8snet-test-p{tag}"
    sh("ip", "netns", "add", node)
    sh("ip", "netns", "add", pod)
    try:
        yield node, pod, str(tmp_path / "ipam")
    finally:
        for ns in (pod, node):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def drive(node, job, timeout=600):
    proc = subprocess.run(["nsenter", f"--net=/run/netns/{node}", sys.executable, "-c", DRIVER],
                          input=json.dumps(job), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ip_files(data_dir):
    path = os.path.join(data_dir, cni.NETWORK_NAME)
    if not os.path.isdir(path):
        return []
    return [f for f in os.listdir(path) if f[0].isdigit()]


@pytest.mark.parametrize("mode", ["routed", "overlay"])
def test_add_gives_the_pod_an_address_in_the_pod_cidr_and_del_releases_it(nets, mode):
    node, pod, data_dir = nets
    conf = cni.render_conflist(mode, "10.250.7.0/24", 1500, "w1", data_dir)
    out = drive(node, {"op": "add", "id": "c1", "pod": pod, "conflist": conf})
    assert "error" not in out, out
    result = out["result"]
    (ip,) = cni.result_ips(result)
    assert ip.startswith("10.250.7.") and ip != "10.250.7.1"
    assert ip_files(data_dir) == [ip]
    addr = sh("ip", "-n", pod, "-4", "-o", "addr", "show", "dev", "eth0")
    assert f"inet {ip}/" in addr
    mtu = sh("ip", "-n", pod, "-o", "link", "show", "dev", "eth0")
    assert f"mtu {cni.pod_mtu(mode, 1500)} " in mtu
    assert "default via 10.250.7.1" in sh("ip", "-n", pod, "route")
    host_if = cni.host_interfaces(result)
    assert host_if and host_if[0] in sh("ip", "-n", node, "-o", "link")
    if mode == "routed":
        assert f"{ip} dev {host_if[0]}" in sh("ip", "-n", node, "route")
    else:
        assert "cni0" in sh("ip", "-n", node, "-o", "link")
    out = drive(node, {"op": "del", "id": "c1", "pod": pod, "conflist": conf, "prev": result})
    assert "error" not in out, out
    assert ip_files(data_dir) == []
    assert host_if[0] not in sh("ip", "-n", node, "-o", "link")


def test_a_plugin_error_is_surfaced_with_the_plugins_message(nets):
    node, pod, data_dir = nets
    conf = cni.render_conflist("routed", "10.250.8.0/24", 1500, "w1", data_dir)
    conf["plugins"][0]["ipam"]["ranges"] = [[{"subnet": "not-a-cidr"}]]
    out = drive(node, {"op": "add", "id": "c2", "pod": pod, "conflist": conf})
    assert "not-a-cidr" in out["error"]["msg"]
    assert out["error"]["text"].startswith("CNI plugin ptp ADD failed")


def test_a_thousand_add_del_cycles_leak_no_address(nets):
    node, pod, data_dir = nets
    # a /28 has 13 usable addresses: a leak of one per cycle would exhaust it quickly
    conf = cni.render_conflist("routed", "10.250.9.0/28", 1500, "w1", data_dir)
    started = time.monotonic()
    out = drive(node, {"op": "cycles", "id": "leak", "pod": pod, "conflist": conf,
                       "cycles": 1000}, timeout=900)
    assert "error" not in out, out
    assert ip_files(data_dir) == []
    assert "veth" not in sh("ip", "-n", node, "-o", "link")
    print(f"1000 ADD/DEL cycles took {time.monotonic() - started:.1f}s")
