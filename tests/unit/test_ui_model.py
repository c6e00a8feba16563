"""The web view's document, built from recorded watch events and port samples."""

from k8snet.fabric.facts import facts_from_dict
from k8snet.ui import model

FACTS = facts_from_dict({
    "switches": [{"name": "knt-l1", "dpid": 1, "role": "leaf"},
                 {"name": "knt-l2", "dpid": 2, "role": "leaf"},
                 {"name": "knt-s1", "dpid": 3, "role": "spine"}],
    "links": [{"a": "knt-l1", "a_port": 1, "b": "knt-s1", "b_port": 1},
              {"a": "knt-l2", "a_port": 1, "b": "knt-s1", "b_port": 2}],
    "hosts": [{"name": "m1", "ip": "10.0.0.1", "prefixlen": 16, "mac": "02:00:00:00:00:01",
               "switch": "knt-l1", "port": 2},
              {"name": "w1", "ip": "10.0.0.2", "prefixlen": 16, "mac": "02:00:00:00:00:02",
               "switch": "knt-l1", "port": 3},
              {"name": "w2", "ip": "10.0.0.3", "prefixlen": 16, "mac": "02:00:00:00:00:03",
               "switch": "knt-l2", "port": 2}],
})
NODES = [model.NodeFact("m1", "master", "10.0.0.1"), model.NodeFact("w1", "worker", "10.0.0.2"),
         model.NodeFact("w2", "worker", "10.0.0.3")]


def node(name, ready):
    return {"metadata": {"name": name}, "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def pod(name, node_name, ip, phase="Running"):
    return {"metadata": {"namespace": "default", "name": name},
            "spec": {"nodeName": node_name}, "status": {"podIP": ip, "phase": phase}}


def apply(items, events):
    """Fold recorded watch events into an informer-like key -> object map."""
    items = dict(items)
    for kind, obj in events:
        key = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}" \
            if obj["metadata"].get("namespace") else obj["metadata"]["name"]
        if kind == "DELETED":
            items.pop(key, None)
        else:
            items[key] = obj
    return items


def ids(doc, group=None):
    return {e["data"]["id"] for e in doc["elements"] if group in (None, e["group"])}


def by_id(doc, el_id):
    return next(e for e in doc["elements"] if e["data"]["id"] == el_id)


def test_every_switch_node_and_link_is_drawn():
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES))
    assert ids(doc, "nodes") == {"sw:knt-l1", "sw:knt-l2", "sw:knt-s1",
                                 "node:m1", "node:w1", "node:w2"}
    assert ids(doc, "edges") == {"link:knt-l1:1", "link:knt-l2:1", "link:knt-l1:2",
                                 "link:knt-l1:3", "link:knt-l2:2"}
    # No port sampled yet: the links' state is unknown, not up.
    assert {row["state"] for row in doc["links"]} == {"unknown"}
    # Spines sit above leaves, leaves above nodes.
    y = {e["data"]["id"]: e["position"]["y"] for e in doc["elements"] if "position" in e}
    assert y["sw:knt-s1"] < y["sw:knt-l1"] < y["node:w1"]


def test_pods_and_services_follow_watch_events():
    pods = apply({}, [("ADDED", pod("a", None, "", "Pending")),
                      ("MODIFIED", pod("a", "w1", "10.244.1.2")),
                      ("ADDED", pod("b", "w2", "10.244.2.2")),
                      ("ADDED", pod("c", "w2", "10.244.2.3")),
                      ("DELETED", pod("c", "w2", "10.244.2.3"))])
    services = {"default/web": {"metadata": {"namespace": "default", "name": "web"},
                                "spec": {"clusterIP": "10.96.0.20",
                                         "ports": [{"port": 80, "protocol": "TCP"}]}}}
    endpoints = {"default/web": {"subsets": [{
        "addresses": [{"ip": "10.244.1.2", "targetRef": {"kind": "Pod",
                                                         "namespace": "default", "name": "a"}}],
        "notReadyAddresses": [{"ip": "10.244.2.2", "targetRef": {
            "kind": "Pod", "namespace": "default", "name": "b"}}]}]}}
    k8s_nodes = apply({}, [("ADDED", node("w1", "True")), ("ADDED", node("w2", "False"))])
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES, k8s_nodes=k8s_nodes,
                                        pods=pods, services=services, endpoints=endpoints))
    assert {"pod:default/a", "pod:default/b", "svc:default/web"} <= ids(doc, "nodes")
    assert "pod:default/c" not in ids(doc)
    assert by_id(doc, "on:default/a")["data"]["target"] == "node:w1"
    assert "ready" in by_id(doc, "ep:default/web:default/a")["classes"]
    assert "notready" in by_id(doc, "ep:default/web:default/b")["classes"]
    assert "notready" in by_id(doc, "node:w2")["classes"].split()
    assert "ready" in by_id(doc, "node:w1")["classes"].split()
    assert doc["services"][0]["endpoints"] == [
        {"ip": "10.244.1.2", "pod": "default/a", "ready": True},
        {"ip": "10.244.2.2", "pod": "default/b", "ready": False}]


def test_unscheduled_pod_is_listed_but_not_drawn():
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES,
                                        pods={"default/p": pod("p", None, "", "Pending")}))
    assert [p["key"] for p in doc["pods"]] == ["default/p"]
    assert "pod:default/p" not in ids(doc)


def test_port_down_turns_its_link_down_and_rates_come_from_counters():
    before = {"knt-l1p1": model.PortSample("knt-l1p1", "up", "up", 1000, 1000),
              "knt-s1p1": model.PortSample("knt-s1p1", "up", "up", 0, 0)}
    after = {"knt-l1p1": model.PortSample("knt-l1p1", "up", "up", 1000 + 125_000, 1000),
             "knt-s1p1": model.PortSample("knt-s1p1", "down", "up", 0, 0),
             "knt-l2p1": model.PortSample("knt-l2p1", "up", "up", 5, 5)}
    ports = model.port_views(before, after, 0.5)
    assert ports["knt-l1p1"].bps == 125_000 * 8 / 0.5
    assert ports["knt-l2p1"].bps == 0.0        # first sample: no rate yet
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES, ports=ports))
    assert "down" in by_id(doc, "link:knt-l1:1")["classes"].split()
    assert by_id(doc, "link:knt-l1:1")["data"]["label"] == "2.0 Mbit/s"
    assert "up" in by_id(doc, "link:knt-l2:1")["classes"].split()


def test_counter_going_back_is_no_traffic():
    before = {"p": model.PortSample("p", "up", "up", 900, 0)}
    after = {"p": model.PortSample("p", "up", "up", 10, 0)}
    assert model.port_views(before, after, 1.0)["p"].bps == 0.0


def test_parse_ovs_interfaces_keeps_only_the_clusters_ports():
    doc = {"headings": ["name", "link_state", "admin_state", "statistics"], "data": [
        ["knt-l1p1", "up", "up", ["map", [["rx_bytes", 10], ["tx_bytes", 20]]]],
        ["knt-l1", "down", "down", ["map", []]],
        ["knother-l1p1", "up", "up", ["map", []]],
        ["knt-s1p2", ["set", []], "down", ["map", []]]]}
    samples = model.parse_ovs_interfaces(doc, ["knt-l1", "knt-s1"])
    assert set(samples) == {"knt-l1p1", "knt-s1p2"}
    assert samples["knt-l1p1"].rx_bytes == 10 and samples["knt-l1p1"].tx_bytes == 20
    assert samples["knt-s1p2"].link_state == ""


def test_faults_are_listed_with_the_elements_they_touch():
    faults = [{"kind": "link", "targets": ["l1", "s1"], "since": 1.0, "text": "link down"},
              {"kind": "link", "targets": ["w2", "knt-l2"], "since": 2.0},
              {"kind": "crash", "targets": ["w1"], "since": 3.0},
              {"kind": "link", "targets": ["w1", "knt-l2"], "since": 4.0}]  # no such wire
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES, faults=faults))
    assert [f["elements"] for f in doc["faults"]] == [
        ["link:knt-l1:1"], ["link:knt-l2:2"], ["node:w1"], []]
    assert doc["faults"][0]["text"] == "link down"
    assert "fault" in by_id(doc, "link:knt-l1:1")["classes"].split()
    assert "fault" in by_id(doc, "node:w1")["classes"].split()
    assert "fault" not in by_id(doc, "link:knt-l2:1")["classes"].split()
    # Cleared: nothing is marked any more.
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES))
    assert doc["faults"] == [] and all("fault" not in e["classes"] for e in doc["elements"])


def test_trace_path_lights_places_and_the_links_between_them():
    report = {"hops": [{"place": "pod default/a"}, {"place": "node w1"},
                       {"place": "node w1"}, {"place": "switch knt-l1"},
                       {"place": "switch knt-s1"}, {"place": "switch knt-l2"},
                       {"place": "node w2"}, {"place": "pod default/b"}]}
    assert model.trace_path(report, FACTS) == [
        "pod:default/a", "on:default/a", "node:w1", "link:knt-l1:3", "sw:knt-l1",
        "link:knt-l1:1", "sw:knt-s1", "link:knt-l2:1", "sw:knt-l2", "link:knt-l2:2",
        "node:w2", "on:default/b", "pod:default/b"]


def test_controller_view_loses_an_ecmp_branch_when_an_uplink_goes_down():
    from k8snet.ui import controller

    facts = facts_from_dict({
        "switches": [{"name": "knt-l1", "dpid": 1, "role": "leaf"},
                     {"name": "knt-l2", "dpid": 2, "role": "leaf"},
                     {"name": "knt-s1", "dpid": 3, "role": "spine"},
                     {"name": "knt-s2", "dpid": 4, "role": "spine"}],
        "links": [{"a": "knt-l1", "a_port": 1, "b": "knt-s1", "b_port": 1},
                  {"a": "knt-l1", "a_port": 2, "b": "knt-s2", "b_port": 1},
                  {"a": "knt-l2", "a_port": 1, "b": "knt-s1", "b_port": 2},
                  {"a": "knt-l2", "a_port": 2, "b": "knt-s2", "b_port": 2}],
        "hosts": [{"name": "w1", "ip": "10.0.0.2", "prefixlen": 16, "mac": "02:00:00:00:00:02",
                   "switch": "knt-l1", "port": 3},
                  {"name": "w2", "ip": "10.0.0.3", "prefixlen": 16, "mac": "02:00:00:00:00:03",
                   "switch": "knt-l2", "port": 3}]})
    up = controller.switch_view(facts, "overlay", "knt-l1", [], {})
    assert up["ecmp"] and all(g["branches"] == [1, 2] for g in up["ecmp"])
    down = controller.switch_view(facts, "overlay", "knt-l1", [],
                                  {"knt-l1p2": model.PortView(up=False)})
    assert down["down"] == ["knt-l1p2"] and not down["ecmp"]
    assert controller.count_flows(["NXST_FLOW reply", " table=0, priority=0 actions=drop"]) == 1


def test_network_policies_are_drawn_to_the_pods_they_select():
    policy = {"metadata": {"namespace": "default", "name": "deny"},
              "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                       "ingress": [{"from": [{"podSelector": {}}]}]}}
    everything = {"metadata": {"namespace": "default", "name": "all"},
                  "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    broken = {"metadata": {"namespace": "default", "name": "bad"},
              "spec": {"podSelector": {}, "policyTypes": ["Sideways"]}}
    web = pod("web", "w1", "10.244.1.5")
    web["metadata"]["labels"] = {"app": "web"}
    other = pod("db", "w2", "10.244.2.5")
    done = pod("job", "w2", "10.244.2.6", phase="Succeeded")
    done["metadata"]["labels"] = {"app": "web"}
    elsewhere = {**pod("web", "w1", "10.244.1.9"),
                 "metadata": {"namespace": "prod", "name": "web", "labels": {"app": "web"}}}
    pods = {"default/web": web, "default/db": other, "default/job": done,
            "prod/web": elsewhere}
    doc = model.build_view(model.Inputs("t", "routed", FACTS, NODES, pods=pods, policies={
        "default/deny": policy, "default/all": everything, "default/bad": broken}))
    rows = {p["key"]: p for p in doc["policies"]}
    assert rows["default/deny"] == {
        "key": "default/deny", "selects": "app=web", "types": ["Ingress"],
        "ingress_rules": 1, "egress_rules": 0, "pods": ["default/web"], "error": ""}
    # Another namespace's Pod and a finished one are not selected.
    assert rows["default/all"]["pods"] == ["default/db", "default/web"]
    assert rows["default/all"]["selects"] == "all Pods in default"
    assert rows["default/all"]["types"] == ["Egress", "Ingress"]
    assert "Sideways" in rows["default/bad"]["error"] and rows["default/bad"]["pods"] == []
    assert {"np:default/deny", "np:default/all", "np:default/bad"} <= ids(doc, "nodes")
    assert {i for i in ids(doc, "edges") if i.startswith("sel:")} == {
        "sel:default/deny:default/web", "sel:default/all:default/db",
        "sel:default/all:default/web"}
    assert "invalid" in by_id(doc, "np:default/bad")["classes"]
