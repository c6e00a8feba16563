"""Routed mode's Node -> route mapping, the Node watcher and the app's route sources."""

import json
import threading
import types

import pytest

from controllers import launcher
from controllers.nodewatch import NodeWatcher
from k8snet.errors import K8snetError
from k8snet.fabric.facts import Route, facts_from_dict
from k8snet.fabric.nodes import describe_change, merge_routes, routes_from_nodes
from k8snet.fabric.sample import leaf_spine_facts

HOSTS = facts_from_dict(leaf_spine_facts(2, 2, 2)).hosts  # h1..h4 = 10.0.0.1..4


def node(name, ip=None, cidr=None, cidrs=None):
    obj = {"metadata": {"name": name}, "spec": {}, "status": {"addresses": []}}
    if cidr:
        obj["spec"]["podCIDR"] = cidr
    if cidrs:
        obj["spec"]["podCIDRs"] = cidrs
    if ip:
        obj["status"]["addresses"] = [{"type": "Hostname", "address": name},
                                      {"type": "InternalIP", "address": ip}]
    return obj


def test_nodes_map_to_hosts_by_internal_ip_sorted_by_prefix():
    nodes = [node("w2", "10.0.0.3", "10.244.10.0/24"), node("w1", "10.0.0.2", "10.244.2.0/24")]
    result = routes_from_nodes(nodes, HOSTS)
    assert result.routes == (Route("10.244.2.0/24", "h2"), Route("10.244.10.0/24", "h3"))
    assert result.skipped == ()


def test_nodes_without_cidr_unknown_ip_or_duplicate_block_are_skipped_with_reasons():
    nodes = [node("a", "10.0.0.1", "10.244.1.0/24"),
             node("b", "10.0.0.2"),                       # no podCIDR yet
             node("c", "10.9.9.9", "10.244.3.0/24"),      # not a fabric host
             node("d", "10.0.0.4", "10.244.1.0/24"),      # block already taken by a
             node("h3", None, "10.244.5.0/24"),           # no InternalIP: matched by name
             node("e", "10.0.0.2", cidrs=["fd00::/64", "10.244.6.0/24"])]
    result = routes_from_nodes(nodes, HOSTS)
    assert result.routes == (Route("10.244.1.0/24", "h1"), Route("10.244.5.0/24", "h3"),
                             Route("10.244.6.0/24", "h2"))
    text = " | ".join(result.skipped)
    assert "node b: no IPv4 podCIDR" in text
    assert "node c: InternalIP 10.9.9.9 matches no fabric host" in text
    assert "node d: podCIDR 10.244.1.0/24 already routed to node a" in text


def test_a_removed_node_loses_its_route():
    both = [node("w1", "10.0.0.2", "10.244.2.0/24"), node("w2", "10.0.0.3", "10.244.3.0/24")]
    before = routes_from_nodes(both, HOSTS).routes
    after = routes_from_nodes(both[:1], HOSTS).routes
    assert after == (Route("10.244.2.0/24", "h2"),)
    assert describe_change(before, after) == "-10.244.3.0/24 via h3"
    assert describe_change(after, before) == "+10.244.3.0/24 via h3"
    assert describe_change(after, after) == "no change"


def test_file_routes_win_over_node_routes_on_the_same_prefix():
    static = [Route("10.244.2.0/24", "h4"), Route("192.168.0.0/16", "h1")]
    dynamic = [Route("10.244.2.0/24", "h2"), Route("10.244.3.0/24", "h3")]
    assert merge_routes(static, dynamic) == (
        Route("10.244.2.0/24", "h4"), Route("10.244.3.0/24", "h3"),
        Route("192.168.0.0/16", "h1"))


def test_watcher_posts_only_when_routes_change():
    posted = []
    clock = iter(range(100)).__next__
    w = NodeWatcher("/nonexistent", HOSTS, lambda r, why, t: posted.append((r, why, t)),
                    clock=clock)
    n1 = node("w1", "10.0.0.2", "10.244.2.0/24")
    w.nodes_changed({"w1": node("w1", "10.0.0.2")})  # no block yet: nothing to route
    w.nodes_changed({"w1": n1})
    w.nodes_changed({"w1": dict(n1, status={**n1["status"], "conditions": []})})  # heartbeat
    w.nodes_changed({})
    assert [(p[0], p[1]) for p in posted] == [
        ((), "nodes: no change"),
        ((Route("10.244.2.0/24", "h2"),), "nodes: +10.244.2.0/24 via h2"),
        ((), "nodes: -10.244.2.0/24 via h2")]
    assert [p[2] for p in posted] == sorted(p[2] for p in posted)  # time seen, from the clock


def test_watcher_waits_for_the_kubeconfig_and_retries_bad_ones(tmp_path):
    path = tmp_path / "kubeconfig"
    calls = []
    stop = threading.Event()

    def factory(p):
        calls.append(p)
        if len(calls) == 1:
            raise K8snetError("half written")
        stop.set()
        return types.SimpleNamespace(server="https://x")

    w = NodeWatcher(str(path), HOSTS, lambda *a: None, retry_seconds=0.02,
                    client_factory=factory)
    threading.Timer(0.1, path.write_text, args=("x",)).start()
    assert w._client(threading.Event()) is not None
    assert calls == [str(path), str(path)]
    stopped = threading.Event()
    stopped.set()
    assert NodeWatcher(str(tmp_path / "never"), HOSTS, lambda *a: None)._client(stopped) is None


@pytest.fixture
def facts_path(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(leaf_spine_facts(2, 2, 2)))
    return path


def test_app_merges_file_and_node_routes(facts_path, monkeypatch):
    from controllers.fabric_app import ENV_FACTS, EventRoutes, FabricApp

    monkeypatch.setenv(ENV_FACTS, str(facts_path))
    app = FabricApp()
    assert app.mode == "routed" and app.kubeconfig is None
    app.on_routes(EventRoutes((Route("10.244.3.0/24", "h3"),), "nodes: +", "nodes"))
    app.on_routes(EventRoutes((Route("10.9.0.0/16", "h1"),), "file", "file"))
    assert app.planner.routes == (Route("10.9.0.0/16", "h1"), Route("10.244.3.0/24", "h3"))
    app.on_routes(EventRoutes((), "nodes: -", "nodes"))
    assert app.planner.routes == (Route("10.9.0.0/16", "h1"),)


def test_launcher_mode_and_kubeconfig(tmp_path, facts_path, capsys):
    base = ["--facts", str(facts_path), "--ofp-port", "6653", "--log", str(tmp_path / "c.log")]
    args = launcher.build_parser().parse_args(base)
    assert (args.mode, args.kubeconfig) == ("routed", None)
    args = launcher.build_parser().parse_args(
        base + ["--mode", "overlay", "--kubeconfig", str(tmp_path / "later" / "kc")])
    assert args.mode == "overlay"
    with pytest.raises(SystemExit):
        launcher.build_parser().parse_args(base + ["--mode", "bgp"])
    capsys.readouterr()
    assert launcher.main(base + ["--kubeconfig", "/no/such/dir/kubeconfig"]) == 2
    assert "--kubeconfig" in capsys.readouterr().err
    launcher.check_args(launcher.build_parser().parse_args(
        base + ["--kubeconfig", str(tmp_path / "not-yet")]))  # may appear later


def test_only_routed_mode_with_an_apiserver_routes_pod_cidrs():
    from controllers.fabric_app import routes_pod_cidrs

    assert routes_pod_cidrs("routed", "/run/k8snet/c/kubeconfig")
    assert not routes_pod_cidrs("overlay", "/run/k8snet/c/kubeconfig")
    assert not routes_pod_cidrs("routed", None)
