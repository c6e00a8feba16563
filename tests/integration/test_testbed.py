"""`k8snet up/status/exec/down/clean` on real Mininet hosts and OVS switches."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import k8snet, nothing_left


def node_exec(node, *cmd, cluster=None, timeout=60):
    args = ["exec", *(["--name", cluster] if cluster else []), node, "--", *cmd]
    return k8snet(*args, check=False, timeout=timeout)


def tcp_works(cluster, server, client, server_ip):
    """An iperf3 TCP exchange of one second between two nodes."""
    srv = subprocess.Popen(["ip", "netns", "exec", f"k8snet-{cluster}-{server}", "iperf3",
                            "-s", "-1", "-p", "5201"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            out = node_exec(client, "iperf3", "-c", server_ip, "-p", "5201", "-t", "1",
                            "-J", cluster=cluster)
            if out.returncode == 0:
                return json.loads(out.stdout)["end"]["sum_received"]["bytes"] > 0
            time.sleep(0.2)
        return False
    finally:
        srv.kill()
        srv.wait()


def test_single_switch_cluster_lifecycle(cluster_factory):
    status = cluster_factory("ts1", "--network-only", "--topology", "single", "--workers", "3")
    nodes = {n["name"]: n for n in status["nodes"]}
    assert sorted(nodes) == ["ext1", "m1", "w1", "w2", "w3"]
    assert nodes["w1"]["role"] == "worker" and nodes["m1"]["role"] == "master"
    assert status["controller"]["running"] and os.path.exists(status["controller"]["log"])
    assert status["switches"][0]["name"] == "knts1-x1"
    # Each node's namespace is visible to `ip netns` under its documented name.
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for node in nodes.values():
        assert node["netns"] == f"k8snet-ts1-{node['name']}" and node["netns"] in listed
    # exec runs inside the node: its eth0 carries the node's address.
    out = node_exec("w2", "ip", "-4", "-o", "addr", "show", "eth0", cluster="ts1")
    assert nodes["w2"]["ip"] in out.stdout
    # ICMP and TCP between nodes, and from the external host to a node.
    assert node_exec("w1", "ping", "-c1", "-W2", nodes["w3"]["ip"], cluster="ts1").returncode == 0
    assert node_exec("ext1", "ping", "-c1", "-W2", nodes["w1"]["ip"],
                     cluster="ts1").returncode == 0
    assert tcp_works("ts1", "w1", "w3", nodes["w1"]["ip"])
    # The human status names every node.
    text = k8snet("status", "--name", "ts1").stdout
    assert "k8snet-ts1-w3" in text and "controller: pid" in text
    k8snet("down", "--name", "ts1")
    assert nothing_left("ts1") == {}


def spine_port_of(status, leaf):
    with open(status["controller"]["facts"]) as fh:
        facts = json.load(fh)
    for link in facts["links"]:
        if link["a"] == leaf:
            return f"{leaf}p{link['a_port']}"
        if link["b"] == leaf:
            return f"{leaf}p{link['b_port']}"
    raise AssertionError(f"no spine link on {leaf}")


def test_leaf_spine_all_to_all_and_a_spine_link_failure(cluster_factory):
    status = cluster_factory("tls", "--network-only", "--topology", "leaf-spine", "--spines", "2",
                             "--leaves", "4", "--workers", "8")
    nodes = {n["name"]: n for n in status["nodes"]}
    assert len([n for n in nodes.values() if n["role"] == "worker"]) == 8
    # `up` returned only once every node reached every other; prove it on a pair
    # across leaves (w1 on leaf 1, w4 on leaf 4) with TCP too.
    assert tcp_works("tls", "w4", "w1", nodes["w4"]["ip"])
    # Take down one of leaf 1's two spine links: traffic must move to the other.
    port = spine_port_of(status, "kntls-l1")
    subprocess.run(["ip", "link", "set", port, "down"], check=True)
    try:
        deadline = time.monotonic() + 30
        ok = {}
        while time.monotonic() < deadline:
            ok = {dst: node_exec("w1", "ping", "-c1", "-W1", nodes[dst]["ip"],
                                 cluster="tls").returncode == 0
                  for dst in ("w2", "w3", "w4", "ext1")}
            if all(ok.values()):
                break
        assert all(ok.values()), ok
        assert tcp_works("tls", "w4", "w1", nodes["w4"]["ip"])
    finally:
        subprocess.run(["ip", "link", "set", port, "up"], check=False)
    k8snet("down", "--name", "tls")
    assert nothing_left("tls") == {}


def test_clean_after_the_supervisor_is_killed(cluster_factory):
    status = cluster_factory("tkill", "--network-only", "--workers", "2")
    live = cluster_factory("tlive", "--network-only", "--workers", "1")
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    time.sleep(0.5)
    assert nothing_left("tkill") != {}
    out = k8snet("clean")
    assert "deleted OVS bridge kntkill-x1" in out.stdout
    assert nothing_left("tkill") == {}
    assert "tkill" not in k8snet("clean").stdout
    # A cluster that is still running is not a leftover: clean leaves it alone.
    assert "tlive" not in out.stdout
    nodes = {n["name"]: n["ip"] for n in live["nodes"]}
    assert node_exec("w1", "ping", "-c1", "-W2", nodes["m1"], cluster="tlive").returncode == 0


def test_down_after_the_supervisor_is_killed(cluster_factory):
    status = cluster_factory("tkil2", "--network-only", "--workers", "2")
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    out = k8snet("down", "--name", "tkil2")
    assert "deleted OVS bridge kntkil2-x1" in out.stdout
    assert nothing_left("tkil2") == {}


BAD_USES = [
    (["up", "--workers", "0"], "--workers must be at least 1"),
    (["up", "--topology", "ring"], "unknown topology 'ring'"),
    (["up", "--name", "Bad_Name"], "cluster name 'Bad_Name' is not valid"),
    (["up", "--topology", "/nonexistent/topo.py"], "does not exist"),
]


@pytest.mark.parametrize("args,message", BAD_USES)
def test_bad_use_is_one_line_exit_2_and_leaves_nothing(args, message):
    out = k8snet(*args, "--detach", check=False)
    assert out.returncode == 2, out
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert nothing_left("k8s") == {}


def test_topology_file_without_topos(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("X = 1\n")
    out = k8snet("up", "--topology", str(path), "--detach", check=False)
    assert out.returncode == 2 and "has no TOPOS dict" in out.stderr


def test_not_root_is_refused(tmp_path):
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          sys.executable, "-m", "k8snet.cli", "up", "--detach"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and "must run as root" in out.stderr


def test_ovs_not_running_is_refused(tmp_path):
    fake = tmp_path / "ovs-vsctl"
    fake.write_text("#!/bin/sh\necho 'ovs-vsctl: unix:/var/run/openvswitch/db.sock: "
                    "database connection failed' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    out = k8snet("up", "--detach", check=False, env=env)
    assert out.returncode == 2 and "Open vSwitch is not running" in out.stderr
    assert nothing_left("k8s") == {}


def test_a_name_in_use_is_refused(cluster_factory):
    cluster_factory("tdup", "--network-only", "--workers", "1")
    out = k8snet("up", "--detach", "--network-only", "--name", "tdup", check=False)
    assert out.returncode == 2 and "already running" in out.stderr
    # ... and the running cluster is untouched.
    status = json.loads(k8snet("status", "--json", "--name", "tdup").stdout)
    assert status["clusters"][0]["status"] == "ready"


def test_topology_script_opens_the_cli_and_tears_down_on_exit():
    script = os.path.join(os.path.dirname(__file__), "..", "..", "topologies", "leaf_spine.py")
    out = subprocess.run(
        ["python3", script, "--network-only", "--name", "tscr", "--workers", "2",
         "--leaves", "2"], input="pingall\nexit\n", capture_output=True, text=True,
        timeout=300)
    assert out.returncode == 0, out.stderr
    assert "0% dropped" in out.stdout + out.stderr  # Mininet reports on stderr
    assert nothing_left("tscr") == {}


def test_fifty_workers_on_one_switch_all_reach_each_other(cluster_factory):
    # 52 hosts on one bridge: more ports than one shell command line can add.
    status = cluster_factory("t50", "--network-only", "--topology", "single", "--workers", "50")
    assert len(status["nodes"]) == 52
    ports = subprocess.run(["ovs-vsctl", "list-ports", "knt50-x1"], capture_output=True,
                           text=True, check=True).stdout.split()
    assert len(ports) == 52
    last = next(n for n in status["nodes"] if n["name"] == "w50")
    assert node_exec("ext1", "ping", "-c1", "-W2", last["ip"], cluster="t50").returncode == 0
    k8snet("down", "--name", "t50")
    assert nothing_left("t50") == {}
