"""The testbed's library API: typed, versioned state; spec checks; --proxy-mode
from the command line to every worker's kube-proxy; status; finding clusters."""

import argparse
import json
import os

import pytest

from k8snet import cli
from k8snet.errors import UsageError
from k8snet.testbed import api, components, status
from k8snet.testbed import state as st
from k8snet.testbed.options import add_cluster_arguments, spec_from_args
from k8snet.testbed.spec import ClusterSpec, check_spec, validate_spec
from k8snet.testbed.state import (
    ClusterState,
    Controller,
    NodeInfo,
    ProcessRecord,
    StateError,
    SwitchInfo,
)


def node(name, role, ip, **extra):
    return NodeInfo(name=name, role=role, ip=ip, mac=f"02:00:00:00:00:{ip[-1]}0",
                    netns=f"k8snet-tb1-{name}", pid=100 + int(ip[-1]), **extra)


def sample_state(name="tb1", proxy_mode="iptables", kubeconfig="/run/k8snet/tb1/kubeconfig",
                 node_agent=True):
    spec = ClusterSpec(name=name, topology="leaf-spine", workers=2, spines=2, leaves=2,
                       mode="overlay", proxy_mode=proxy_mode, node_agent=node_agent)
    return ClusterState(
        name=name, spec=spec, dir=f"/run/k8snet/{name}", status="ready", created=1.5,
        datapath="user", supervisor=ProcessRecord(10, "supervisor", 1000),
        controller=Controller(ProcessRecord(11, "controller", 1001, log="/x/controller.log"),
                              port=6653, facts="/x/fabric.json"),
        nodes=[node("m1", "master", "10.0.0.1"),
               node("w1", "worker", "10.0.0.2",
                    labels={"topology.kubernetes.io/zone": "zone-1"}, cpu="2",
                    memory="4Gi", pods=110),
               node("w2", "worker", "10.0.0.3"), node("ext1", "external", "10.1.0.1")],
        switches=[SwitchInfo("kntb1-s1", "0000000000002001", "spine")],
        processes=[ProcessRecord(20, "kubelet@w1", 1002, node="w1", log="/x/kubelet.log")],
        netns=["k8snet-tb1-m1"], bridges=["kntb1-s1"], kubeconfig=kubeconfig,
        apiserver="https://127.0.0.1:40000")


# -- the state file ---------------------------------------------------------------

def test_state_round_trips_through_its_file(tmp_path):
    state = sample_state()
    st.save_state(state, root=str(tmp_path))
    with open(st.state_path("tb1", str(tmp_path))) as fh:
        doc = json.load(fh)
    assert doc["version"] == st.STATE_VERSION and doc["spec"]["proxy_mode"] == "iptables"
    loaded = st.load_state("tb1", root=str(tmp_path))
    assert loaded == state
    assert loaded.node("w1").labels == {"topology.kubernetes.io/zone": "zone-1"}
    assert [n.name for n in loaded.workers] == ["w1", "w2"]
    assert loaded.external.name == "ext1" and loaded.masters[0].ip == "10.0.0.1"
    assert loaded.process("kubelet@w1").pid == 20
    assert loaded.runtime_socket("w1") == "/run/k8snet/tb1/w1/runtime.sock"
    assert [r.pid for r in loaded.records()] == [20, 11, 10]


def test_a_cluster_without_a_state_file_has_no_state(tmp_path):
    assert st.load_state("tb1", root=str(tmp_path)) is None


def write(tmp_path, text, name="tb1"):
    os.makedirs(tmp_path / name, exist_ok=True)
    (tmp_path / name / "state.json").write_text(text)


def test_a_corrupt_state_file_is_a_clear_error(tmp_path):
    write(tmp_path, '{"name": "tb1", "nodes": [')
    with pytest.raises(StateError, match=r"state.json is not valid JSON .*k8snet down"):
        st.load_state("tb1", root=str(tmp_path))
    write(tmp_path, "[1, 2]")
    with pytest.raises(StateError, match="not a k8snet state file"):
        st.load_state("tb1", root=str(tmp_path))


OLD_STATE = {  # as k8snet wrote it before the state had a version
    "name": "tb1", "dir": "/run/k8snet/tb1", "status": "ready",
    "spec": {"name": "tb1", "components": True, "mode": "routed"},
    "supervisor": {"pid": 10, "start_time": 1000, "name": "supervisor"},
    "controller": {"pid": 11, "start_time": 1001, "name": "controller", "port": 6653},
    "processes": [{"pid": 20, "start_time": 1002, "name": "kubelet@w1", "node": "w1"}],
    "nodes": [{"name": "w1", "role": "worker"}],
}


def test_an_old_state_file_is_a_clear_error_yet_can_be_taken_down(tmp_path):
    write(tmp_path, json.dumps(OLD_STATE))
    with pytest.raises(StateError, match=r"older k8snet \(no version field\).*"
                                         r"'k8snet down --name tb1'"):
        st.load_state("tb1", root=str(tmp_path))
    found = st.read_records("tb1", root=str(tmp_path))
    assert found.supervisor == ProcessRecord(10, "supervisor", 1000)
    assert [r.name for r in found.records] == ["kubelet@w1", "controller", "supervisor"]
    write(tmp_path, "garbage")
    assert st.read_records("tb1", root=str(tmp_path)).records == []


def test_a_newer_state_file_is_refused(tmp_path):
    write(tmp_path, json.dumps({**sample_state().to_dict(), "version": 7}))
    with pytest.raises(StateError, match="version 7, this one reads 1"):
        st.load_state("tb1", root=str(tmp_path))


@pytest.mark.parametrize("change,message", [
    (lambda d: d["nodes"][1].pop("ip"), r"nodes\.1\.ip: missing"),
    (lambda d: d["nodes"][0].update(pid="100"), r"nodes\.0\.pid: Input should be a valid int"),
    (lambda d: d["spec"].update(proxymode="nftables"), r"spec\.proxymode: unknown field"),
    (lambda d: d.pop("spec"), r"spec: missing"),
    (lambda d: d["controller"].update(port=None), r"controller\.port"),
])
def test_a_damaged_state_names_the_field(tmp_path, change, message):
    doc = sample_state().to_dict()
    change(doc)
    write(tmp_path, json.dumps(doc))
    with pytest.raises(StateError, match=message) as caught:
        st.load_state("tb1", root=str(tmp_path))
    assert "damaged" in str(caught.value) and "\n" not in str(caught.value)


# -- the spec ------------------------------------------------------------------------

def test_spec_round_trips_and_refuses_unknown_fields():
    spec = ClusterSpec(name="tb2", proxy_mode="nftables", extra={"racks": 3})
    assert ClusterSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="components: unknown field"):
        ClusterSpec.from_dict({**spec.to_dict(), "components": True})
    with pytest.raises(ValueError, match="workers: Input should be a valid integer"):
        ClusterSpec.from_dict({**spec.to_dict(), "workers": "2"})


@pytest.mark.parametrize("change,message", [
    ({"proxy_mode": "ipvs"}, "--proxy-mode must be one of iptables, nftables, not 'ipvs'"),
    ({"store": "redis"}, "--store must be one of sqlite, etcd, not 'redis'"),
    ({"masters": 3}, "--masters 3 needs '--store etcd'"),
    ({"timeout": 0}, "--timeout must be positive"),
    ({"workers": 501}, "more than this testbed handles"),
])
def test_bad_specs_are_one_line_usage_errors(change, message):
    with pytest.raises(UsageError, match=message) as caught:
        check_spec(ClusterSpec(name="tb3", **change))
    assert "\n" not in str(caught.value)


def test_both_proxy_modes_and_etcd_with_three_masters_are_fine():
    for proxy in ("iptables", "nftables"):
        assert check_spec(ClusterSpec(name="tb3", proxy_mode=proxy)).proxy_mode == proxy
    assert check_spec(ClusterSpec(name="tb3", masters=3, store="etcd")).masters == 3


def test_validate_spec_builds_the_topology_to_check_its_options(tmp_path):
    assert validate_spec(ClusterSpec(name="tb3", topology="leaf-spine", workers=4,
                                     leaves=2, spines=2)).workers == 4
    path = tmp_path / "racks.py"
    path.write_text(
        "from k8snet.testbed.topo import ClusterTopo\n"
        "class Racks(ClusterTopo):\n"
        "    def build(self, racks=1, **_opts):\n"
        "        if racks > 2:\n"
        "            raise ValueError('at most 2 racks')\n"
        "        self.addK8sNode('master')\n"
        "TOPOS = {'racks': Racks}\n")
    assert validate_spec(ClusterSpec(name="tb3", topology=str(path), extra={"racks": 2}))
    with pytest.raises(UsageError, match="cannot be built with these options: "
                                         "ValueError: at most 2 racks"):
        validate_spec(ClusterSpec(name="tb3", topology=str(path), extra={"racks": 3}))


def parse_up(*argv):
    parser = argparse.ArgumentParser()
    add_cluster_arguments(parser)
    return spec_from_args(parser.parse_args(list(argv)))


def test_up_options_become_the_spec():
    assert parse_up().proxy_mode == "iptables"
    spec = parse_up("--proxy-mode", "nftables", "--name", "tb4", "--workers", "3",
                    "--network-only")
    assert (spec.proxy_mode, spec.name, spec.workers, spec.network_only) == (
        "nftables", "tb4", 3, True)


def test_a_bad_proxy_mode_is_refused_in_one_line_before_anything_is_built(capsys, tmp_path,
                                                                          monkeypatch):
    made = []
    monkeypatch.setattr(api.preflight, "take_cluster_lock", lambda *a, **k: made.append(a))
    monkeypatch.setattr(api, "start_supervisor", lambda *a, **k: made.append(a))
    code = cli.main(["up", "--proxy-mode", "ipvs", "--name", "tb5", "--detach"])
    err = capsys.readouterr().err
    assert code == 2 and made == []
    assert err.strip() == ("k8snet up: --proxy-mode must be one of iptables, nftables, "
                           "not 'ipvs'")


# -- --proxy-mode to every worker's kube-proxy ----------------------------------------

def test_every_worker_kube_proxy_runs_in_the_spec_proxy_mode():
    state = sample_state(proxy_mode="nftables", node_agent=False)
    plan = components.plan_components(state.nodes, state.spec, state.dir, ["k8snet"])
    proxies = [c for c in plan if c.name == "kube-proxy"]
    assert [c.node for c in proxies] == ["w1", "w2"]  # workers only, not m1 nor ext1
    for comp in proxies:
        mode = comp.argv[comp.argv.index("--mode") + 1]
        assert comp.argv[:2] == ["k8snet", "proxy"] and mode == "nftables"
    default = components.plan_components(state.nodes, ClusterSpec(name="tb1",
                                                                   node_agent=False),
                                         state.dir, ["k8snet"])
    assert {c.argv[c.argv.index("--mode") + 1] for c in default
            if c.name == "kube-proxy"} == {"iptables"}


def test_proxy_command_line():
    argv = components.proxy_argv(["py", "-m", "k8snet.cli"], node("w2", "worker", "10.0.0.3"),
                                  "/k/kubeconfig", "nftables")
    assert argv == ["py", "-m", "k8snet.cli", "proxy", "--kubeconfig", "/k/kubeconfig",
                    "--node-name", "w2", "--node-ip", "10.0.0.3", "--mode", "nftables",
                    "--cluster-cidr", "10.244.0.0/16"]


def test_the_proxy_command_accepts_what_up_passes():
    from k8snet.proxy.main import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = components.proxy_argv([], node("w1", "worker", "10.0.0.2"), "/k", "nftables")
    assert parser.parse_args(argv[1:]).mode == "nftables"


# -- status -----------------------------------------------------------------------------

def test_status_shows_the_proxy_mode():
    doc = status.ClusterStatus("tb1", "ready", sample_state(proxy_mode="nftables"), True)
    assert doc.to_dict()["proxy_mode"] == "nftables"
    assert doc.to_dict()["controller"] == {"pid": 11, "port": 6653, "log": "/x/controller.log",
                                           "facts": "/x/fabric.json", "running": True}
    text = status.render([doc])
    assert "mode overlay, kube-proxy nftables, sqlite store" in text.splitlines()[0]
    assert "k8snet-tb1-w2" in text and "controller: pid 11 (running)" in text


def test_status_lists_unreadable_clusters_with_the_reason(tmp_path):
    st.save_state(sample_state(), root=str(tmp_path))
    write(tmp_path, json.dumps(OLD_STATE), name="tbold")
    found = {s.name: s for s in api.status(root=str(tmp_path))}
    assert found["tb1"].status == "dead"  # nobody holds its lock
    assert found["tbold"].status == "unreadable" and "older k8snet" in found["tbold"].error
    assert "cluster tbold: unreadable: " in status.render(list(found.values()))
    assert found["tbold"].to_dict()["error"] == found["tbold"].error


# -- finding clusters and what exec runs in -------------------------------------------------

def test_find_the_only_cluster_or_ask_for_a_name(tmp_path):
    root = str(tmp_path)
    with pytest.raises(UsageError, match="no k8snet cluster is running"):
        api.find(root=root)
    st.save_state(sample_state("tb1"), root=root)
    assert api.find(root=root).name == "tb1"
    st.save_state(sample_state("tb2", kubeconfig=None), root=root)
    with pytest.raises(UsageError, match=r"several clusters run \(tb1, tb2\): add --name"):
        api.find(root=root)
    with pytest.raises(UsageError, match="runs no control plane"):
        api.find("tb2", need_api=True, root=root)


def test_an_unreadable_cluster_is_left_out_unless_named(tmp_path):
    root = str(tmp_path)
    write(tmp_path, json.dumps(OLD_STATE), name="tbold")
    with pytest.raises(StateError, match="older k8snet"):
        api.find(root=root)  # nothing else to choose from: say why
    st.save_state(sample_state("tb1"), root=root)
    assert api.find(root=root).name == "tb1"
    assert api.locate("w1", root=root)[0].name == "tb1"
    with pytest.raises(StateError, match="older k8snet"):
        api.find("tbold", root=root)


def test_locate_a_node_or_else_a_pod_of_the_cluster_with_an_apiserver(tmp_path):
    root = str(tmp_path)
    st.save_state(sample_state("tb1"), root=root)
    cluster, found = api.locate("w2", root=root)
    assert (cluster.name, found.netns) == ("tb1", "k8snet-tb1-w2")
    assert api.node_argv(found) == ["ip", "netns", "exec", "k8snet-tb1-w2"]
    cluster, found = api.locate("web-0", root=root)
    assert (cluster.name, found) == ("tb1", None)
    st.save_state(sample_state("tb2"), root=root)
    with pytest.raises(UsageError, match="exists in several clusters"):
        api.locate("w1", root=root)
    with pytest.raises(UsageError, match="several clusters run: add --name"):
        api.locate("web-0", root=root)


def pod(containers, statuses):
    return {"metadata": {"name": "web"}, "spec": {"containers": [{"name": c}
                                                                for c in containers]},
            "status": {"containerStatuses": statuses}}


def test_container_id_of_a_running_container():
    running = {"name": "app", "containerID": "k8snet://abc", "state": {"running": {}}}
    assert api.container_id(pod(["app", "side"], [running]), None) == "abc"
    with pytest.raises(UsageError, match="has no container 'db'"):
        api.container_id(pod(["app"], [running]), "db")
    with pytest.raises(UsageError, match="'side' of pod web is not running"):
        api.container_id(pod(["app", "side"], [running]), "side")


# -- what the watches wait for (pure predicates) ------------------------------------------

def api_pod(name, ready=None, ip=None, phase="Running"):
    status_ = {"phase": phase}
    if ready is not None:
        status_["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if ip:
        status_["podIP"] = ip
    return {"metadata": {"name": name, "namespace": "default"}, "status": status_}


def test_ready_pods_needs_every_named_pod_ready_with_an_ip():
    from k8snet.testbed.waiting import ready_names, ready_pods

    items = {"default/a": api_pod("a", True, "10.244.1.2"),
             "default/b": api_pod("b", True), "default/c": api_pod("c", False, "10.244.1.3")}
    assert ready_names(items) == {"a", "b"}
    assert ready_pods(items, ["a"]) == {"a": items["default/a"]}
    assert ready_pods(items, ["a", "b"]) is None      # b has no IP yet
    assert ready_pods(items, ["a", "c"]) is None      # c is not Ready
    assert ready_pods(items, ["a", "zz"]) is None     # zz does not exist


def test_probe_pods_new_ones_must_be_ready_reused_ones_only_running():
    from k8snet.probe.deploy import waiting_for

    plan = [{"name": "p-a"}, {"name": "p-b"}]
    pods = {"p-a": api_pod("p-a", False, "10.244.1.2"), "p-b": api_pod("p-b", True, "1.2.3.4")}
    assert waiting_for(pods, plan, created={"p-a", "p-b"}) == ["p-a"]
    assert waiting_for(pods, plan, created={"p-b"}) == []  # p-a reused: running is enough
    assert waiting_for({"p-b": pods["p-b"]}, plan, created=set()) == ["p-a"]
