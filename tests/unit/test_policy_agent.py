"""The policy agent's loop without a kernel: what it applies and when, the
pending-isolation switch, and the status file clients wait on."""

from k8snet.errors import K8snetError
from k8snet.policy.agent import PolicyAgent, enforced_since, plan_node, read_status


class FakeApplier:
    def __init__(self, fail=False):
        self.scripts, self.fail = [], fail

    def apply(self, script):
        if self.fail:
            raise K8snetError("nft failed")
        self.scripts.append(script)


def pod(name, ns="x", node="w1", ip=None, labels=None):
    obj = {"metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
           "spec": {"nodeName": node, "containers": []}, "status": {"phase": "Running"}}
    if ip:
        obj["status"]["podIP"] = ip
    return obj


DENY = {"metadata": {"name": "deny", "namespace": "x", "resourceVersion": "7"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}}}}
NS = [{"metadata": {"name": "x"}}]


def test_pending_isolation_until_the_isolated_pod_has_an_address():
    waiting = plan_node("w1", "10.244.0.0/16", [DENY], [pod("web")], NS)
    assert waiting.pending == ("x/web",) and "isolation pending" in waiting.script
    other = plan_node("w1", "10.244.0.0/16", [DENY], [pod("db")], NS)
    assert not other.pending and "isolation pending" not in other.script
    known = plan_node("w1", "10.244.0.0/16", [DENY], [pod("web", ip="10.244.1.5")], NS)
    assert not known.pending and known.pods == 1 and "10.244.1.5 : jump in-x-web" in known.script
    elsewhere = plan_node("w2", "10.244.0.0/16", [DENY], [pod("web")], NS)
    assert not elsewhere.pending   # only this node's Pods can start here


def test_agent_applies_changes_once_and_reports_what_it_enforces(tmp_path):
    applier = FakeApplier()
    status = tmp_path / "policy.status"
    agent = PolicyAgent(applier, "w1", "10.244.0.0/16", status_file=str(status),
                        ready_file=str(tmp_path / "ready"))
    agent.on_change("pods", lambda: "5")({"x/web": pod("web", ip="10.244.1.5")})
    assert not agent.sync_once()   # not every cache listed yet
    agent.on_change("namespaces", lambda: "3")({"x": NS[0]})
    agent.on_change("networkpolicies", lambda: "7")({"x/deny": DENY})
    assert agent.sync_once() and len(applier.scripts) == 1
    assert agent.sync_once() and len(applier.scripts) == 1   # nothing changed: no apply
    doc = read_status(str(status))
    assert doc["policies"] == {"x/deny": "7"} and doc["pods"] == 1
    assert enforced_since(doc, "networkpolicies", "7")
    assert not enforced_since(doc, "networkpolicies", "8")
    assert (tmp_path / "ready").exists()
    agent.on_change("networkpolicies", lambda: "9")({})
    assert agent.sync_once() and len(applier.scripts) == 2
    assert read_status(str(status))["policies"] == {}


def test_failed_apply_is_reported_for_retry():
    agent = PolicyAgent(FakeApplier(fail=True), "w1", "10.244.0.0/16")
    for resource in ("pods", "namespaces", "networkpolicies"):
        agent.on_change(resource)({})
    assert not agent.sync_once()
    assert agent.stats.failures == 1


def test_iptables_backend_reads_the_table_then_restores_once():
    import subprocess

    import pytest

    from k8snet.errors import UsageError
    from k8snet.policy.agent import applier_for

    calls = []

    def runner(argv, stdin):
        calls.append((argv, stdin))
        out = "*filter\n:FORWARD ACCEPT [0:0]\n:K8SNET-POL-I-OLD - [0:0]\nCOMMIT\n" \
            if argv[-3:] == ["iptables-save", "-t", "filter"] else ""
        return subprocess.CompletedProcess(argv, 0, out, "")

    applier = applier_for("iptables", netns="k8snet-w1", runner=runner)
    agent = PolicyAgent(applier, "w1", "10.244.0.0/16")
    agent.on_change("pods")({"x/web": pod("web", ip="10.244.1.5")})
    agent.on_change("namespaces")({"x": NS[0]})
    agent.on_change("networkpolicies")({"x/deny": DENY})
    assert agent.sync_once()
    (save, _), (restore, text) = calls
    assert save[:4] == ["ip", "netns", "exec", "k8snet-w1"]
    assert restore[4:] == ["iptables-restore", "-w", "5", "--noflush"]
    assert "-A K8SNET-POL-TO -d 10.244.1.5/32 -m comment --comment \"x/web\"" in text
    assert "-X K8SNET-POL-I-OLD" in text and "-I FORWARD 1 -j K8SNET-POL-FWD" in text
    with pytest.raises(UsageError):
        applier_for("ebpf")


def test_pods_coming_and_going_elsewhere_leave_a_nodes_script_alone():
    """Without a local isolated Pod the script does not list the cluster's Pod addresses,
    so a Pod started on another node costs this node no `nft -f` (50 nodes x 1,000 Pods)."""
    few = [pod("web", ip="10.244.1.5"), pod("db", node="w2", ip="10.244.2.5")]
    more = few + [pod(f"p{i}", node="w2", ip=f"10.244.2.{10 + i}") for i in range(20)]
    for policies in ([], [DENY]):
        before = plan_node("w1", "10.244.0.0/16", policies, few, NS)
        after = plan_node("w1", "10.244.0.0/16", policies, more, NS)
        assert before.script == after.script
    waiting = plan_node("w1", "10.244.0.0/16", [DENY], [pod("web")] + more[1:], NS)
    assert "10.244.2.29" in waiting.script   # pending: the known addresses pass


def test_the_agent_parses_a_pod_version_once(monkeypatch):
    import k8snet.policy.agent as agent_module
    applier = FakeApplier()
    agent = PolicyAgent(applier, "w1", "10.244.0.0/16")
    parsed = []
    real = agent_module.parse_pod
    monkeypatch.setattr(agent_module, "parse_pod",
                        lambda obj: parsed.append(obj["metadata"]["name"]) or real(obj))
    web = dict(pod("web", ip="10.244.1.5"))
    web["metadata"] = dict(web["metadata"], resourceVersion="4", uid="u1")
    agent.on_change("namespaces")({"x": NS[0]})
    agent.on_change("networkpolicies")({"x/deny": DENY})
    agent.on_change("pods")({"x/web": web})
    assert agent.sync_once() and agent.sync_once()
    assert parsed == ["web"]
    moved = dict(web, metadata=dict(web["metadata"], resourceVersion="5", labels={"app": "db"}))
    agent.on_change("pods")({"x/web": moved})
    assert agent.sync_once() and parsed == ["web", "web"]
    assert "in-x-web" not in applier.scripts[-1]   # the new version's labels count


def test_without_policies_no_pod_is_read():
    read = []
    plan = plan_node("w1", "10.244.0.0/16", [], [pod("web", ip="10.244.1.5")], NS,
                     parse=lambda obj: read.append(obj) or None)
    empty = plan_node("w1", "10.244.0.0/16", [], [], NS)
    assert read == [] and plan.pods == 0 and plan.rules == empty.rules
    assert plan.script == empty.script


def test_a_status_that_differs_only_in_versions_is_written_at_most_twice_a_second(tmp_path):
    now = [100.0]
    status = tmp_path / "policy.status"
    agent = PolicyAgent(FakeApplier(), "w1", "10.244.0.0/16", status_file=str(status),
                        clock=lambda: now[0])
    agent.on_change("namespaces", lambda: "3")({"x": NS[0]})
    agent.on_change("networkpolicies", lambda: "7")({"x/deny": DENY})
    agent.on_change("pods", lambda: "5")({})
    assert agent.sync_once() and read_status(str(status))["versions"]["pods"] == "5"
    now[0] += 0.1
    agent.on_change("pods", lambda: "6")({"x/db": pod("db", node="w2", ip="10.244.2.5")})
    assert agent.sync_once() and read_status(str(status))["versions"]["pods"] == "5"
    now[0] += 0.5                                 # the agent looks again: it lands
    assert agent.sync_once() and read_status(str(status))["versions"]["pods"] == "6"
    agent.on_change("networkpolicies", lambda: "8")({})   # what is enforced: at once
    assert agent.sync_once() and read_status(str(status))["policies"] == {}


def test_pods_are_watched_only_once_a_policy_exists(tmp_path):
    applier, started = FakeApplier(), []
    status = tmp_path / "policy.status"
    agent = PolicyAgent(applier, "w1", "10.244.0.0/16", status_file=str(status))
    agent.watch_pods_on_demand(lambda: started.append(1))
    agent.on_change("namespaces", lambda: "3")({"x": NS[0]})
    agent.on_change("networkpolicies", lambda: "4")({})
    assert agent.ready() and agent.sync_once() and started == []   # rules without Pods
    doc = read_status(str(status))
    assert "pods" not in doc["versions"] and enforced_since(doc, "pods", "99")
    agent.on_change("networkpolicies", lambda: "7")({"x/deny": DENY})
    assert started == [1] and not agent.ready()
    assert not agent.sync_once() and len(applier.scripts) == 1      # waits for the list
    agent.on_change("pods", lambda: "8")({"x/web": pod("web", ip="10.244.1.5")})
    assert agent.sync_once() and "10.244.1.5 : jump in-x-web" in applier.scripts[-1]
    doc = read_status(str(status))
    assert doc["versions"]["pods"] == "8" and not enforced_since(doc, "pods", "99")
    agent.on_change("networkpolicies", lambda: "9")({})
    agent.on_change("networkpolicies", lambda: "10")({"x/deny": DENY})
    assert started == [1]                                           # started once


def test_a_policy_listed_before_pods_are_asked_for_starts_them_at_once():
    started = []
    agent = PolicyAgent(FakeApplier(), "w1", "10.244.0.0/16")
    agent.on_change("networkpolicies", lambda: "7")({"x/deny": DENY})
    agent.watch_pods_on_demand(lambda: started.append(1))
    assert started == [1]
