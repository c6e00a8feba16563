"""Pure decisions of the testbed: reachability, clean plans, doctor verdicts."""

import os
import subprocess

import pytest

from k8snet.testbed import cleanup, doctor, pingall, reach
from k8snet.testbed.facts import describe_link
from k8snet.testbed.state import ClusterRecords, NodeInfo, records_from


def cluster(name):
    return ClusterRecords(name=name, dir=f"/run/k8snet/{name}")


def node(name, role, ip):
    return NodeInfo(name=name, role=role, ip=ip, mac="02:00:00:00:00:01",
                    netns=f"k8snet-c-{name}", pid=1)


def test_all_pairs_and_summary():
    pairs = reach.all_pairs({"m1": "10.0.0.1", "w1": "10.0.0.2", "w2": "10.0.0.3"})
    assert len(pairs) == 6
    assert reach.summary(set(), 6) == "6/6 node pairs reach each other"
    assert "not yet: m1->w1" in reach.summary({("m1", "w1")}, 6)


def test_echo_request_and_reply_parsing():
    packet = pingall.echo_request(0x1234, 7)
    assert packet[0] == 8 and pingall.checksum(packet) == 0  # a valid ICMP checksum
    reply = bytes([0x45]) + bytes(19) + bytes([0, 0]) + packet[2:]
    assert pingall.parse_reply(reply, 0x1234)
    assert not pingall.parse_reply(reply, 0x1235)  # someone else's ping
    assert not pingall.parse_reply(bytes([0x45]) + bytes(19) + packet, 0x1234)  # a request
    assert not pingall.parse_reply(b"short", 0x1234)


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")
def test_ping_matrix_from_a_namespace():
    own = "/proc/self/ns/net"
    got = pingall.ping_matrix({"a": (own, ["127.0.0.1", "127.0.0.2"]),
                               "b": (own, ["127.0.0.3"])}, timeout=2)
    assert got == {"a": {"127.0.0.1", "127.0.0.2"}, "b": {"127.0.0.3"}}


def test_clean_plan_takes_only_k8snet_things():
    # a state file as an older k8snet wrote it: its process records still count
    old = records_from({"name": "k8s", "dir": "/run/k8snet/k8s",
                        "supervisor": {"pid": 10, "start_time": 1, "name": "supervisor"},
                        "controller": {"pid": 11, "start_time": 2, "name": "controller"}},
                       "k8s")
    plan = cleanup.plan_clean(
        states=[old],
        bridges=["br0", "knk8s-s1", "knk8s-l1", "s1", "knlab-x1"],
        netns=["k8snet-k8s-w1", "k8snet-lab-m1", "cni-123", "myns"],
        links=["eth0", "knk8s-l1p3", "s1-eth1", "veth123", "knlab-x1p2", "knowing"],
        netns_pids={"k8snet-k8s-w1": [100, 101], "myns": [200]},
    )
    assert plan.bridges == ["knk8s-s1", "knk8s-l1", "knlab-x1"]
    assert plan.netns == ["k8snet-k8s-w1", "k8snet-lab-m1"]
    assert plan.links == ["knk8s-l1p3", "knlab-x1p2"]
    assert plan.pids == [100, 101]
    assert [r.pid for r in plan.records] == [11, 10]


def test_clean_plan_for_one_cluster_spares_the_others():
    plan = cleanup.plan_clean(
        states=[cluster("k8s"), cluster("lab")],
        bridges=["knk8s-s1", "knlab-x1"], netns=["k8snet-k8s-w1", "k8snet-lab-m1"],
        links=["knk8s-s1p1", "knlab-x1p2"], netns_pids={"k8snet-lab-m1": [5]}, only="k8s")
    assert plan.bridges == ["knk8s-s1"] and plan.netns == ["k8snet-k8s-w1"]
    assert plan.links == ["knk8s-s1p1"] and plan.pids == []
    assert plan.dirs == ["/run/k8snet/k8s"]


def test_clean_plan_never_targets_itself():
    plan = cleanup.plan_clean([], [], ["k8snet-k8s-w1"], [], {"k8snet-k8s-w1": [42, 43]},
                              own_pid=42)
    assert plan.pids == [43]


def machine(**over):
    which = {t: f"/usr/bin/{t}" for t in ("ovs-vsctl", "mnexec", "ip", "iptables", "nft",
                                          "ethtool", "etcd", "tc", "kubectl", "iperf3",
                                          "tcpdump", "busybox", "conmon", "crun")}
    seen = {"root": True, "which": which, "ovs_running": True, "ovs_kernel": False,
            "mininet": True, "os_ken": True, "scapy": True,
            "cni_plugins": ["bridge", "host-local", "loopback", "ptp"], "netem": False}
    seen.update(over)
    return seen


def test_doctor_ready_machine_with_notes():
    checks = doctor.evaluate(machine())
    assert doctor.ready(checks)
    text = doctor.render(checks)
    assert "userspace datapath" in text and "note netem" in text


def test_doctor_says_the_runtime_needs_conmon_and_crun():
    which = dict(machine()["which"], conmon=None)
    checks = doctor.evaluate(machine(which=which))
    assert not doctor.ready(checks)
    assert "apt-get install conmon" in doctor.render(checks)


def test_doctor_stopped_ovs_says_how_to_start_it():
    checks = doctor.evaluate(machine(ovs_running=False))
    assert not doctor.ready(checks)
    assert "ovs-ctl start" in doctor.render(checks)


def test_doctor_missing_cni_plugin_names_it():
    checks = doctor.evaluate(machine(cni_plugins=["bridge"]))
    assert not doctor.ready(checks)
    assert "missing host-local, loopback, ptp" in doctor.render(checks)


def test_doctor_missing_etcd_is_only_a_note():
    seen = machine()
    seen["which"]["etcd"] = None
    checks = doctor.evaluate(seen)
    assert doctor.ready(checks)


def test_doctor_missing_dnsmasq_is_only_a_note_naming_the_package():
    seen = machine()
    seen["which"]["dnsmasq"] = None
    checks = doctor.evaluate(seen)
    assert doctor.ready(checks) and "apt-get install dnsmasq-base" in doctor.render(checks)


def test_links_are_classified():
    sw = {"node": "knk8s-l1", "kind": "switch", "port": 3}
    sp = {"node": "knk8s-s1", "kind": "switch", "port": 1}
    host = {"node": "w1", "kind": "host", "port": 0}
    assert describe_link(sw, sp)[0] == "link"
    assert describe_link(sw, host) == ("host", {"name": "w1", "switch": "knk8s-l1", "port": 3})
    assert describe_link(host, sw)[0] == "host"


def test_clean_spares_running_clusters_unless_named():
    args = dict(states=[cluster("k8s"), cluster("lab")], bridges=["knk8s-s1", "knlab-x1"],
                netns=["k8snet-k8s-w1", "k8snet-lab-m1"], links=[], netns_pids={})
    plan = cleanup.plan_clean(**args, running={"lab"})
    assert plan.bridges == ["knk8s-s1"] and plan.netns == ["k8snet-k8s-w1"]
    named = cleanup.plan_clean(**args, running={"lab"}, only="lab")
    assert named.bridges == ["knlab-x1"] and named.netns == ["k8snet-lab-m1"]


def test_lock_files_go_only_when_nobody_holds_them():
    plan = cleanup.plan_clean([], [], [], [], {}, running={"live"}, locks={"live", "dead"},
                              root="/r")
    assert plan.locks == ["/r/dead.lock"]
    named = cleanup.plan_clean([], [], [], [], {}, running={"live"}, locks={"live"},
                               only="live", root="/r")
    assert named.locks == []


def test_runtime_recorded_containers_are_found(tmp_path):
    cdir = tmp_path / "w1" / "runtime" / "containers" / "abc"
    cdir.mkdir(parents=True)
    (cdir / "started.json").write_text(
        '{"pid": 10, "starttime": 5, "shim_pid": 9, "shim_starttime": 4}')
    (tmp_path / "w1" / "runtime" / "containers" / "bad").mkdir()
    (tmp_path / "w1" / "runtime" / "containers" / "bad" / "started.json").write_text("{")
    records = cleanup.container_records(str(tmp_path))
    assert sorted((r.pid, r.start_time) for r in records) == [(9, 4), (10, 5)]
    plan = cleanup.plan_clean([ClusterRecords("k8s", str(tmp_path), records=records)],
                              [], [], [], {})
    assert sorted(r.pid for r in plan.records) == [9, 10]


def test_the_lock_holder_removes_the_lock_file_and_frees_the_name(tmp_path):
    from k8snet.errors import UsageError
    from k8snet.testbed import preflight

    fd = preflight.take_cluster_lock("c1", root=str(tmp_path))
    assert preflight.cluster_running("c1", root=str(tmp_path))
    try:
        preflight.take_cluster_lock("c1", root=str(tmp_path))
        raise AssertionError("a second holder got the lock")
    except UsageError as exc:
        assert "already running" in str(exc)
    preflight.release_cluster_lock("c1", fd, root=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert not preflight.cluster_running("c1", root=str(tmp_path))
    preflight.release_cluster_lock("c1", fd=-1, root=str(tmp_path))  # twice is fine
    os_fd = preflight.take_cluster_lock("c1", root=str(tmp_path))
    preflight.release_cluster_lock("c1", os_fd, root=str(tmp_path))


def test_stop_processes_stops_the_obedient_and_kills_the_stubborn():
    from k8snet.testbed import state as st

    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; echo ready; exec sleep 60"],
                                stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout.readline() == "ready\n"  # the trap is set
    procs.append(stubborn)
    records = [st.record_process(p.pid, f"p{i}") for i, p in enumerate(procs)]
    try:
        st.stop_processes(records, grace=0.5)
        codes = [p.wait(timeout=10) for p in procs]
        assert codes[:3] == [-15, -15, -15] and codes[3] == -9
        assert not any(st.is_alive(r) for r in records)
        st.stop_processes(records)  # gone already: nothing to do, no error
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_components_start_as_soon_as_what_they_need_is_ready():
    from k8snet.testbed.components import plan_components, start_rounds, startable
    from k8snet.testbed.spec import ClusterSpec

    nodes = [node("m1", "master", "10.0.0.1"), node("w1", "worker", "10.0.0.2"),
             node("w2", "worker", "10.0.0.3")]
    plan = plan_components(nodes, ClusterSpec(name="c", mode="overlay", node_agent=False),
                           "/run/k8snet/c", ["k"])
    # Every node side by side: the runtimes start with the apiserver, the policy
    # agents and proxies as soon as the apiserver is ready, each kubelet once its
    # node's runtime and policy agent are, each overlay agent after its kubelet.
    assert start_rounds(plan) == [
        ["apiserver@m1", "runtime@w1", "runtime@w2"],
        ["controller-manager@m1", "scheduler@m1", "overlay-agent@m1", "policy-agent@w1",
         "policy-agent@w2"],
        ["kubelet@w1", "kubelet@w2"],
        ["overlay-agent@w1", "overlay-agent@w2"],
        ["kube-proxy@w1", "kube-proxy@w2"]]
    # A slow node holds back only itself.
    ready = {"apiserver@m1", "runtime@w1", "policy-agent@w1", "runtime@w2"}
    started = ready | {"controller-manager@m1", "scheduler@m1", "overlay-agent@m1",
                       "policy-agent@w2"}
    assert [c.record_name for c in startable(plan, started, ready)] == ["kubelet@w1"]
    routed = plan_components(nodes, ClusterSpec(name="c", node_agent=False), "/run/k8snet/c",
                             ["k"])
    assert {"kube-proxy@w1", "kube-proxy@w2"} <= set(start_rounds(routed)[1])


def test_connected_switches_from_one_ovs_vsctl_listing():
    from k8snet.testbed.network import connected_from

    bridges = {"data": [["kna-s1", ["uuid", "u1"]], ["kna-s2", ["uuid", "u2"]],
                        ["kna-s3", ["set", [["uuid", "u3"], ["uuid", "u4"]]]],
                        ["kna-s4", ["set", []]]]}
    controllers = {"data": [[["uuid", "u1"], True], [["uuid", "u2"], False],
                            [["uuid", "u4"], True]]}
    assert connected_from(bridges, controllers) == ["kna-s1", "kna-s3"]


def test_one_runtimes_records_include_the_pid_namespace_holders(tmp_path):
    runtime = tmp_path / "w1" / "runtime"
    (runtime / "containers" / "c1").mkdir(parents=True)
    (runtime / "containers" / "c1" / "started.json").write_text(
        '{"pid": 10, "starttime": 5, "shim_pid": 9, "shim_starttime": 4}')
    (runtime / "sandboxes").mkdir()
    (runtime / "sandboxes" / "s1.json").write_text(
        '{"id": "s1", "pid_holder": {"pid": 7, "starttime": 3}}')
    (runtime / "sandboxes" / "s2.json").write_text('{"id": "s2"}')
    got = sorted((r.pid, r.start_time, r.name) for r in cleanup.runtime_records(str(runtime)))
    assert got == [(7, 3, "PID namespace holder"), (9, 4, "container shim"),
                   (10, 5, "container")]
    # what `k8snet fault node crash NODE` reads: that node's runtime directory
    assert sorted(r.pid for r in cleanup.container_records(str(tmp_path))) == [7, 9, 10]


def test_a_workers_components_fold_into_one_node_agent_that_starts_them_in_order():
    from k8snet.nodeagent import parse_components, waiting_for
    from k8snet.testbed.components import plan_components, start_rounds
    from k8snet.testbed.spec import ClusterSpec

    nodes = [node("m1", "master", "10.0.0.1"), node("w1", "worker", "10.0.0.2"),
             node("w2", "worker", "10.0.0.3")]
    spec = ClusterSpec(name="c", mode="overlay")
    separate = plan_components(nodes, ClusterSpec(name="c", mode="overlay", node_agent=False),
                               "/run/k8snet/c", ["k"])
    plan = plan_components(nodes, spec, "/run/k8snet/c", ["k"])
    # The masters' components stay processes of their own; each worker has one agent,
    # started once the apiserver is ready, as its first components were.
    assert start_rounds(plan) == [
        ["apiserver@m1"],
        ["controller-manager@m1", "scheduler@m1", "overlay-agent@m1", "node-agent@w1",
         "node-agent@w2"]]
    agent = next(c for c in plan if c.record_name == "node-agent@w1")
    assert agent.hosts == ("runtime", "policy-agent", "kubelet", "overlay-agent",
                           "kube-proxy")
    assert agent.ready_file == "/run/k8snet/c/w1/node-agent.ready"
    assert agent.log == "/run/k8snet/c/w1/node-agent.log"
    # Each --component is the command line the component has on its own, in plan order.
    texts = [agent.argv[i + 1] for i, a in enumerate(agent.argv) if a == "--component"]
    hosted = parse_components(texts)
    own = [c for c in separate if c.node == "w1"]
    assert [list(h.argv) for h in hosted] == [c.argv[1:] for c in own]
    assert [h.ready_file for h in hosted] == [
        "/run/k8snet/c/w1/runtime.sock", "/run/k8snet/c/w1/policy.ready", None,
        "/run/k8snet/c/w1/overlay.ready", None]
    # The kubelet waits for the runtime and the policy agent; kube-proxy for the
    # overlay agent's routes too.
    assert waiting_for(hosted, 2, lambda p: False) == [
        "/run/k8snet/c/w1/runtime.sock", "/run/k8snet/c/w1/policy.ready"]
    assert waiting_for(hosted, 4, lambda p: "overlay" not in p) == [
        "/run/k8snet/c/w1/overlay.ready"]


MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
22 27 0:21 / /proc rw,relatime - proc proc rw
177 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
300 27 0:50 / /run/k8snet rw,relatime - tmpfs k8snet-state rw,mode=755
301 27 0:51 / /run/k8snet\\040x rw,relatime - tmpfs other rw
"""
STACKED = MOUNTINFO + "302 300 0:52 / /run/k8snet rw,relatime - ramfs stacked rw\n"
HIDDEN = MOUNTINFO + "303 27 0:53 / /run rw,relatime - tmpfs later rw\n"


def test_mount_of_is_the_deepest_mount_on_the_path_the_last_where_stacked():
    from k8snet.testbed.preflight import mount_of

    assert mount_of("/run/k8snet/c1", MOUNTINFO) == ("/run/k8snet", "tmpfs", "k8snet-state")
    assert mount_of("/run", MOUNTINFO)[1] == "ext4"
    assert mount_of("/runx", MOUNTINFO)[1] == "ext4"
    assert mount_of("/proc/self", MOUNTINFO)[1] == "proc"
    assert mount_of("/run/netnsfoo", MOUNTINFO)[1] == "ext4"       # not under /run/netns
    assert mount_of("/run/k8snet x/a", MOUNTINFO)[1] == "tmpfs"    # \\040 is a space
    assert mount_of("/run/k8snet/c1/w1", STACKED)[1] == "ramfs"    # the one on top
    assert mount_of("/x", "garbage\n\n") == ("", "", "")


def test_mount_of_a_device_skips_a_mount_hidden_by_a_later_one_on_a_parent():
    from k8snet.testbed.preflight import mount_of

    # a tmpfs mounted on /run after /run/k8snet hides it: the path's device says which
    assert mount_of("/run/k8snet/c1", HIDDEN, dev="0:53") == ("/run", "tmpfs", "later")
    assert mount_of("/run/k8snet/c1", HIDDEN, dev="0:50")[2] == "k8snet-state"
    assert mount_of("/run/k8snet/c1", HIDDEN, dev="9:9") == ("", "", "")
