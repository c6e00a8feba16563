"""`k8snet fault`'s decisions: which ports a fault takes down, partitions."""

import pytest

from k8snet.errors import UsageError
from k8snet.testbed import faults as flt

FACTS = {
    "switches": [{"name": "knlab-l1"}, {"name": "knlab-l2"}, {"name": "knlab-s1"}],
    "links": [{"a": "knlab-l1", "a_port": 3, "b": "knlab-s1", "b_port": 1},
              {"a": "knlab-l2", "a_port": 3, "b": "knlab-s1", "b_port": 2}],
    "hosts": [{"name": "w1", "switch": "knlab-l1", "port": 1},
              {"name": "w2", "switch": "knlab-l2", "port": 1}],
}


def test_a_node_link_is_its_switch_port():
    assert flt.link_ports(FACTS, "w1", "l1") == ["knlab-l1p1"]
    assert flt.link_ports(FACTS, "knlab-l1", "w1") == ["knlab-l1p1"]


def test_a_switch_link_is_both_its_ports():
    assert flt.link_ports(FACTS, "s1", "l2") == ["knlab-l2p3", "knlab-s1p2"]


def test_no_such_link_names_what_there_is():
    with pytest.raises(UsageError, match="no link between 'w1' and 'l2'.*w2"):
        flt.link_ports(FACTS, "w1", "l2")


def test_node_ports():
    assert flt.node_ports(FACTS, "w2") == ["knlab-l2p1"]
    assert flt.node_ports(FACTS, "nope") == []


def test_faults_are_kept_once_and_links_either_way_round(tmp_path):
    link = flt.Fault("link", ("w1", "l1"))
    faults = flt.added(flt.added([], link), flt.Fault("link", ("l1", "w1")))
    assert len(faults) == 1
    faults = flt.added(faults, flt.Fault("crash", ("w2",)))
    flt.save(str(tmp_path), faults)
    loaded = flt.load(str(tmp_path))
    assert [f.kind for f in loaded] == ["link", "crash"]
    assert flt.crashed_nodes(loaded) == {"w2"}
    assert flt.removed(loaded, flt.Fault("link", ("l1", "w1"))) == [loaded[1]]


def test_a_damaged_faults_file_reads_as_none(tmp_path):
    (tmp_path / flt.FAULTS_FILE).write_text("{not json")
    assert flt.load(str(tmp_path)) == []


NODES = {"m1": ["10.0.0.1"], "w1": ["10.0.0.2", "10.244.1.0/24"],
         "w2": ["10.0.0.3", "10.244.2.0/24"]}


def test_partition_cuts_both_sides_and_nothing_within():
    plan = flt.partition_plan(NODES, ["w1"])
    assert plan["w1"] == ["10.0.0.1", "10.0.0.3", "10.244.2.0/24"]
    assert plan["m1"] == ["10.0.0.2", "10.244.1.0/24"]
    assert plan["w2"] == ["10.0.0.2", "10.244.1.0/24"]
    assert flt.partition_plan(NODES, ["w1", "w2"])["w2"] == ["10.0.0.1"]


def test_partition_of_nothing_all_or_unknown_is_refused():
    with pytest.raises(UsageError, match="no node 'w9'"):
        flt.partition_plan(NODES, ["w9"])
    with pytest.raises(UsageError, match="not none or all"):
        flt.partition_plan(NODES, ["m1", "w1", "w2"])


def test_partition_script_drops_both_directions_early():
    script = flt.partition_script(["10.0.0.3", "10.244.2.0/24"])
    assert f"table inet {flt.NFT_TABLE}" in script
    for hook in ("input", "output", "forward"):
        assert f"hook {hook} priority -400" in script
    assert "ip saddr { 10.0.0.3, 10.244.2.0/24 } drop" in script
    assert "ip daddr { 10.0.0.3, 10.244.2.0/24 } drop" in script


def fake_cluster():
    from k8snet.testbed.api import Cluster
    from k8snet.testbed.spec import ClusterSpec
    from k8snet.testbed.state import ClusterState, ProcessRecord

    state = ClusterState(name="lab", spec=ClusterSpec(name="lab"), dir="/nonexistent")
    # start_time None: recorded as gone, so nothing is ever signalled
    state.processes = [ProcessRecord(pid=1, name=f"kubelet@{n}", start_time=None, node=n)
                       for n in ("w1", "w2")]
    return Cluster(state)


def test_kill_names_every_instance_of_a_component_or_one_node():
    from k8snet.testbed import cmd_fault

    assert len(cmd_fault.kill(fake_cluster(), "kubelet")) == 2
    with pytest.raises(UsageError, match="no node 'w9'"):
        cmd_fault.kill(fake_cluster(), "kubelet", "w9")


def test_kill_of_an_unknown_component_lists_the_known_ones():
    from k8snet.testbed import cmd_fault

    with pytest.raises(UsageError, match=r"no component 'kubelett'.*\(components: kubelet\)"):
        cmd_fault.kill(fake_cluster(), "kubelett")


def test_stop_holds_the_named_processes_until_start(tmp_path):
    from k8snet.testbed import cmd_fault

    cluster = fake_cluster()
    cluster.state.dir = str(tmp_path)
    out = cmd_fault.stop(cluster, "kubelet")
    assert out == [f"kubelet@{n} (pid 1) was not running; held down" for n in ("w1", "w2")]
    active = flt.load(str(tmp_path))
    assert flt.stopped_processes(active) == {"kubelet@w1", "kubelet@w2"}
    assert active[0].describe() == "kubelet@w1, kubelet@w2 stopped (held down)"
    cmd_fault.start(cluster, "kubelet")
    assert flt.load(str(tmp_path)) == []
    with pytest.raises(UsageError, match="kubelet is not stopped"):
        cmd_fault.start(cluster, "kubelet")
    cmd_fault.stop(cluster, "kubelet")
    assert cmd_fault.clear(cluster)[0].startswith("kubelet@w1, kubelet@w2 no longer held")
    assert flt.load(str(tmp_path)) == []


def agent_cluster(tmp_path):
    from k8snet.testbed.api import Cluster
    from k8snet.testbed.spec import ClusterSpec
    from k8snet.testbed.state import ClusterState, NodeInfo, ProcessRecord

    hosts = ("runtime", "policy-agent", "kubelet", "kube-proxy")
    state = ClusterState(name="lab", spec=ClusterSpec(name="lab"), dir=str(tmp_path),
                         nodes=[NodeInfo(n, "worker" if n[0] == "w" else "master",
                                         "10.0.0.9", "00:00:00:00:00:09", f"k8snet-lab-{n}", 9)
                                for n in ("m1", "w1", "w2")])
    state.processes = [ProcessRecord(pid=1, name="apiserver@m1", start_time=None, node="m1")] + [
        ProcessRecord(pid=2, name=f"node-agent@{n}", start_time=None, node=n, hosts=hosts)
        for n in ("w1", "w2")]
    return Cluster(state)


def test_a_fault_on_a_hosted_component_is_one_on_its_node_agent(tmp_path):
    from k8snet.testbed import cmd_fault

    cluster = agent_cluster(tmp_path)
    assert cluster.state.process("kubelet@w2").name == "node-agent@w2"
    assert cluster.state.process("runtime@m1") is None
    assert cmd_fault.kill(cluster, "kubelet", "w2") == [
        "node-agent@w2 (pid 2: runtime, policy-agent, kubelet, kube-proxy) was not running"]
    # Stopping one is left to its agent, which holds it while the others run on.
    assert cmd_fault.stop(cluster, "kube-proxy", "w1") == [
        "stopped kube-proxy@w1 (a thread of node-agent@w1 (pid 2: runtime, policy-agent, "
        "kubelet, kube-proxy), which runs on): held down until "
        "'k8snet fault start kube-proxy --node w1'"]
    assert flt.stopped_processes(flt.load(str(tmp_path))) == {"kube-proxy@w1"}
    with pytest.raises(UsageError, match="runtime on w1 is not stopped"):
        cmd_fault.start(cluster, "runtime", "w1")
    cmd_fault.start(cluster, "kube-proxy", "w1")
    assert flt.load(str(tmp_path)) == []
    cmd_fault.stop(cluster, "node-agent", "w2")   # the agent itself, as any process
    assert flt.stopped_processes(flt.load(str(tmp_path))) == {"node-agent@w2"}
    with pytest.raises(UsageError, match=r"\(components: apiserver, kube-proxy, kubelet, "
                                         r"node-agent, policy-agent, runtime\)"):
        cmd_fault.kill(cluster, "kubelett")
