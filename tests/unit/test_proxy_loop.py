"""The proxy loop (fake applier, fake clock) and the applier's commands (fake runner)."""

from __future__ import annotations

import subprocess
import threading

import pytest

from k8snet.errors import K8snetError
from k8snet.proxy import main as proxy_main
from k8snet.proxy.apply import (
    IptablesApplier,
    NftApplier,
    parse_iptables_chains,
    parse_nft_names,
)
from k8snet.proxy.loop import ProxyLoop
from k8snet.proxy.model import NodeFacts

NODE = NodeFacts("w1", ("10.0.0.2",), "10.244.0.0/16")


class FakeApplier:
    mode = "fake"

    def __init__(self, fail: int = 0):
        self.calls: list[tuple[list, bool]] = []
        self.fail = fail

    def sync(self, ports, node, full=True):
        if self.fail:
            self.fail -= 1
            raise K8snetError("iptables-restore failed (exit 1): boom")
        self.calls.append((list(ports), full))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def svc():
    return {"default/web": {"metadata": {"namespace": "default", "name": "web"},
                            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}}


def eps(*ips):
    return {"default/web-x": {"metadata": {"namespace": "default", "name": "web-x",
                                           "labels": {"kubernetes.io/service-name": "web"}},
                              "addressType": "IPv4",
                              "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}
                                            for ip in ips],
                              "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]}}


def test_nothing_applied_before_both_caches_are_listed():
    applier = FakeApplier()
    loop = ProxyLoop(applier, NODE)
    loop.on_services(svc())
    assert loop.sync_once(full=True) is False and applier.calls == []


def test_sync_applies_changes_and_skips_no_ops_unless_full():
    applier, clock = FakeApplier(), Clock()
    loop = ProxyLoop(applier, NODE, clock=clock)
    loop.on_services(svc())
    loop.on_endpoint_slices(eps("10.244.1.2"))
    clock.now += 0.25
    assert loop.sync_once(full=True)
    [(ports, full)] = applier.calls
    assert full and [e.ip for e in ports[0].endpoints] == ["10.244.1.2"]
    assert loop.stats.latencies == [pytest.approx(0.25)]
    loop.on_endpoint_slices(eps("10.244.1.2"))  # same content: nothing to apply
    assert loop.sync_once() and len(applier.calls) == 1
    assert loop.sync_once(full=True) and len(applier.calls) == 2  # periodic resync applies
    loop.on_endpoint_slices(eps("10.244.1.2", "10.244.1.3"))
    assert loop.sync_once() and len(applier.calls[-1][0][0].endpoints) == 2


def test_failed_apply_is_retried_and_keeps_the_change_time():
    applier, clock = FakeApplier(fail=1), Clock()
    loop = ProxyLoop(applier, NODE, clock=clock)
    loop.on_services(svc())
    loop.on_endpoint_slices(eps("10.244.1.2"))
    assert loop.sync_once(full=True) is False and loop.stats.failures == 1
    clock.now += 2.0
    assert loop.sync_once(full=True)
    assert loop.stats.latencies == [pytest.approx(2.0)]


def test_reconciler_batches_retries_with_back_off_and_resyncs_in_full():
    applier, clock = FakeApplier(fail=2), Clock()
    loop = ProxyLoop(applier, NODE, clock=clock, sync_period=30.0, min_interval=0.1)
    rec = loop.reconciler
    rec.process_ready()                          # started: nothing listed yet, nothing done
    loop.on_services(svc())
    loop.on_endpoint_slices(eps("10.244.1.2"))
    assert rec.process_ready() == 0              # a burst waits min_interval
    clock.now += 0.1
    assert rec.process_ready() == 1 and loop.stats.failures == 1
    clock.now += 0.9
    assert rec.process_ready() == 0              # back-off: 1 s, then 2 s
    clock.now += 0.1
    rec.process_ready()
    assert loop.stats.failures == 2 and applier.calls == []
    clock.now += 2.0
    rec.process_ready()
    assert [full for _, full in applier.calls] == [True]
    loop.on_endpoint_slices(eps("10.244.1.3"))
    clock.now += 0.1
    rec.process_ready()
    assert [full for _, full in applier.calls] == [True, False]
    clock.now += 30.0                            # the resync applies everything again
    rec.process_ready()
    assert [full for _, full in applier.calls] == [True, False, True]


def test_run_loop_syncs_on_change_and_stops_promptly():
    applier = FakeApplier()
    loop = ProxyLoop(applier, NODE, sync_period=3600, min_interval=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    loop.on_services(svc())
    loop.on_endpoint_slices(eps("10.244.1.2"))
    for _ in range(500):
        if applier.calls:
            break
        threading.Event().wait(0.01)
    stop.set()
    thread.join(10)
    assert not thread.is_alive(), "loop did not stop within 10 s"
    assert applier.calls and applier.calls[0][1] is True  # the first sync is a full one


class FakeRunner:
    def __init__(self, answers=None):
        self.calls: list[tuple[list[str], str]] = []
        self.answers = answers or {}

    def __call__(self, argv, stdin=None):
        self.calls.append((argv, stdin))
        for prefix, (code, out) in self.answers.items():
            if " ".join(argv).startswith(prefix):
                return subprocess.CompletedProcess(argv, code, out, "err text")
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_iptables_applier_restores_without_flush_then_ensures_jumps_in_netns():
    runner = FakeRunner({"ip netns exec ns1 iptables -w 5 -t nat -C PREROUTING": (1, "")})
    IptablesApplier(netns="ns1", runner=runner).sync([], NODE, full=True)
    argvs = [" ".join(a) for a, _ in runner.calls]
    assert all(a.startswith("ip netns exec ns1 ") for a in argvs)
    assert argvs[1] == "ip netns exec ns1 iptables-restore --noflush"
    assert "*nat" in runner.calls[1][1]
    inserts = [a for a in argvs if " -I " in a]
    assert len(inserts) == 1 and "PREROUTING 1" in inserts[0]


def test_applier_raises_with_the_tool_message():
    runner = FakeRunner({"nft -f": (1, "")})
    with pytest.raises(K8snetError, match="nft failed .*err text"):
        NftApplier(runner=runner).sync([], NODE)


def test_parsers():
    save = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-X - [0:0]\n-A X\nCOMMIT\n*filter\n" \
           ":KUBE-FORWARD - [0:0]\nCOMMIT\n"
    assert parse_iptables_chains(save) == {"nat": {"PREROUTING", "KUBE-SVC-X"},
                                           "filter": {"KUBE-FORWARD"}}
    listing = '{"nftables": [{"metainfo": {}}, {"chain": {"name": "services"}}, ' \
              '{"set": {"name": "affinity-x"}}, {"map": {"name": "service-ips"}}]}'
    assert parse_nft_names(listing) == ({"services"}, {"affinity-x"})
    assert parse_nft_names("") == (set(), set())


def _args(**kw):
    import argparse
    parser = argparse.ArgumentParser()
    proxy_main.add_arguments(parser)
    argv = []
    for key, value in kw.items():
        argv += [f"--{key.replace('_', '-')}", value]
    return parser.parse_args(argv)


def test_cli_node_facts_and_usage_errors():
    facts = proxy_main.node_facts(_args(node_name="w1", node_ip="10.0.0.2, 10.1.0.2",
                                        nodeport_addresses="10.0.0.0/16"))
    assert facts.ips == ("10.0.0.2", "10.1.0.2") and facts.cluster_cidr == "10.244.0.0/16"
    assert facts.nodeport_ips() == ("10.0.0.2",)
    from k8snet.errors import UsageError
    with pytest.raises(UsageError, match="bad address"):
        proxy_main.node_facts(_args(node_name="w1", node_ip="10.0.0.300"))
    with pytest.raises(UsageError, match="--kubeconfig"):
        proxy_main.run(_args(node_name="w1"))
