"""Topologies are plain data with the Kubernetes facts the testbed reads."""

import pytest

from k8snet.errors import UsageError
from k8snet.testbed.spec import ClusterSpec, check_spec, load_topology
from topologies import TOPOS


def roles(topo):
    return {h: topo.nodeInfo(h)["role"] for h in topo.hosts()}


def test_single_switch_has_master_workers_and_external_on_one_switch():
    topo = TOPOS["single"](workers=3)
    assert sorted(roles(topo).items()) == [
        ("ext1", "external"), ("m1", "master"), ("w1", "worker"), ("w2", "worker"),
        ("w3", "worker")]
    assert topo.switches() == ["knk8s-x1"]
    assert topo.nodeInfo("m1")["ip"] == "10.0.0.1/16"
    assert topo.nodeInfo("w1")["ip"] == "10.0.0.2/16"
    assert topo.nodeInfo("ext1")["ip"] == "10.1.0.1/24"
    assert topo.nodeInfo("ext1")["gateway"] == "10.1.0.254"


def test_leaf_spine_wires_every_leaf_to_every_spine_and_spreads_workers():
    topo = TOPOS["leaf-spine"](workers=8, spines=2, leaves=4)
    spines = [s for s in topo.switches() if topo.nodeInfo(s)["role"] == "spine"]
    leaves = [s for s in topo.switches() if topo.nodeInfo(s)["role"] == "leaf"]
    assert len(spines) == 2 and len(leaves) == 4
    for leaf in leaves:
        linked = {b if a == leaf else a for a, b in topo.links() if leaf in (a, b)}
        assert set(spines) <= linked
    per_leaf = {leaf: [h for h in topo.hosts() if roles(topo)[h] == "worker"
                       and any({h, leaf} == {a, b} for a, b in topo.links())]
                for leaf in leaves}
    assert [len(ws) for ws in per_leaf.values()] == [2, 2, 2, 2]
    assert topo.nodeInfo("w1")["labels"]["topology.kubernetes.io/zone"] == "zone-1"
    assert topo.nodeInfo("w2")["labels"]["topology.kubernetes.io/zone"] == "zone-2"


def test_dpids_are_unique():
    topo = TOPOS["leaf-spine"](spines=4, leaves=8)
    dpids = [topo.nodeInfo(s)["dpid"] for s in topo.switches()]
    assert len(set(dpids)) == len(dpids)


@pytest.mark.parametrize("field,value,message", [
    ("workers", 0, "--workers must be at least 1"),
    ("masters", 0, "--masters must be at least 1"),
    ("spines", 0, "--spines must be at least 1"),
    ("topology", "ring", "unknown topology 'ring'"),
    ("mode", "bgp", "--mode must be one of routed, overlay"),
    ("name", "Bad!", "cluster name 'Bad!' is not valid"),
])
def test_bad_specs_are_usage_errors(field, value, message):
    with pytest.raises(UsageError, match=message):
        check_spec(ClusterSpec(**{field: value}))


def test_user_topology_file_without_topos_is_refused(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("from k8snet.testbed.topo import ClusterTopo\n")
    with pytest.raises(UsageError, match="has no TOPOS dict"):
        load_topology(str(path))


def test_user_topology_file_with_topos_loads(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "from k8snet.testbed.topo import ClusterTopo\n"
        "class Pair(ClusterTopo):\n"
        "    def build(self, workers=2, **_opts):\n"
        "        s = self.addFabricSwitch('single', 1)\n"
        "        for _ in range(workers):\n"
        "            self.addLink(self.addK8sNode('worker'), s)\n"
        "TOPOS = {'pair': Pair}\n")
    cls = load_topology(f"{path}:pair")
    assert sorted(cls(workers=2).hosts()) == ["w1", "w2"]
    with pytest.raises(UsageError, match="has no 'ring' in TOPOS"):
        load_topology(f"{path}:ring")


def test_broken_user_topology_file_is_a_usage_error(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("this is not python\n")
    with pytest.raises(UsageError, match="failed to load"):
        load_topology(str(path))
