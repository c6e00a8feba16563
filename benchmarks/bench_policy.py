"""NetworkPolicy figures: rule count, render and apply time with 1,000 simulated
Pods under 50 policies, the time to apply a one-policy change, and, with a
running cluster, the time from creating a policy to every node enforcing it.

Rules are applied in a scratch network namespace (k8snet-bench-pl<id>), removed
at the end; needs root for that part.

    python -m benchmarks.bench_policy [--pods 1000] [--policies 50] [--nodes 20]
                                      [--cluster NAME] [--changes 10]
                                      [--backend nftables|iptables]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import uuid

from benchmarks.common import fmt_ms, percentile
from k8snet.policy.agent import applier_for, plan_node, read_status


def simulated(pods: int, policies: int, nodes: int) -> tuple[list, list, list]:
    """Namespaces, Pods and policies of a plausible shape: 20 namespaces, 25 apps,
    policies mixing pod and namespace selectors, ipBlocks, numbered and named ports."""
    namespaces = [{"metadata": {"name": f"ns{i}", "labels": {"team": f"t{i % 5}"}}}
                  for i in range(20)]
    pod_objs = []
    for i in range(pods):
        pod_objs.append({
            "metadata": {"namespace": f"ns{i % 20}", "name": f"p{i}",
                         "labels": {"app": f"app{i % 25}", "tier": ("web", "db")[i % 2]}},
            "spec": {"nodeName": f"w{i % nodes + 1}",
                     "containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"podIP": f"10.244.{i // 250}.{i % 250 + 2}", "phase": "Running"}})
    pols = []
    for i in range(policies):
        peer = [{"podSelector": {"matchLabels": {"app": f"app{(i + 1) % 25}"}}},
                {"namespaceSelector": {"matchLabels": {"team": f"t{i % 5}"}},
                 "podSelector": {"matchLabels": {"tier": "web"}}},
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": [f"10.{i}.0.0/16"]}}][i % 3]
        spec = {"podSelector": {"matchLabels": {"app": f"app{i % 25}"}},
                "ingress": [{"from": [peer], "ports": [{"port": "http"}, {"port": 80}]}]}
        if i % 4 == 0:
            spec["egress"] = [{"to": [{"namespaceSelector": {}}],
                               "ports": [{"port": 53, "protocol": "UDP"}, {"port": "http"}]}]
        pols.append({"metadata": {"namespace": f"ns{i % 20}", "name": f"pol{i}",
                                  "resourceVersion": "1"}, "spec": spec})
    return namespaces, pod_objs, pols


def scratch_apply(script: str, netns: str, backend: str = "nftables") -> float:
    started = time.monotonic()
    applier_for(backend, netns=netns).apply(script)
    return time.monotonic() - started


def rendering(args) -> None:
    namespaces, pods, pols = simulated(args.pods, args.policies, args.nodes)
    print(f"{args.pods} simulated Pods on {args.nodes} nodes, {args.policies} policies, "
          f"{args.backend}")
    started = time.monotonic()
    plan = plan_node("w1", "10.244.0.0/16", pols, pods, namespaces, args.backend)
    one_node = time.monotonic() - started
    started = time.monotonic()
    every = plan_node(None, "10.244.0.0/16", pols, pods, namespaces,  # all Pods local
                      args.backend)
    all_local = time.monotonic() - started
    print(f"  one node ({plan.pods} isolated local Pods): {plan.rules} rules, "
          f"{len(plan.script) // 1024} KiB, compiled and rendered in {fmt_ms(one_node)}")
    print(f"  every Pod on one node ({every.pods} isolated): {every.rules} rules, "
          f"{len(every.script) // 1024} KiB, compiled and rendered in {fmt_ms(all_local)}")
    if os.geteuid() != 0:
        print("  (not root: nft apply times skipped)")
        return
    netns = f"k8snet-bench-pl{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        first = scratch_apply(every.script, netns, args.backend)
        changes = []
        for i in range(args.changes):
            pols[i]["spec"]["ingress"][0]["ports"].append({"port": 9000 + i})
            started = time.monotonic()
            script = plan_node(None, "10.244.0.0/16", pols, pods, namespaces,
                               args.backend).script
            scratch_apply(script, netns, args.backend)
            changes.append(time.monotonic() - started)
        print(f"  {args.backend} apply of the whole table: {fmt_ms(first)} first, "
              "one-policy change "
              f"(recompile + render + apply) median {fmt_ms(percentile(changes, 50))}, "
              f"p90 {fmt_ms(percentile(changes, 90))} over {len(changes)}")
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def enforcement(args) -> None:
    """Create a policy; time until every worker's agent reports it in the kernel."""
    from k8snet.testbed import api

    cluster = api.find(args.cluster, need_api=True)
    client = cluster.client()
    workers = [n.name for n in cluster.state.workers]
    times = []
    for i in range(args.changes):
        obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": f"bench-{i}", "namespace": "default"},
               "spec": {"podSelector": {"matchLabels": {"bench": str(i)}}}}
        started = time.monotonic()
        rv = client.create("networkpolicies", obj, "default")["metadata"]["resourceVersion"]
        key = f"default/bench-{i}"
        while True:
            statuses = [read_status(os.path.join(cluster.state.dir, w, "policy.status"))
                        for w in workers]
            if all(s and (s.get("policies") or {}).get(key) == rv for s in statuses):
                break
            if time.monotonic() - started > 30:
                raise SystemExit(f"{key} not enforced on every node within 30 s")
            time.sleep(0.005)
        times.append(time.monotonic() - started)
        client.delete("networkpolicies", f"bench-{i}", "default")
        time.sleep(0.3)
    print(f"cluster {cluster.name} ({len(workers)} workers): create to enforced on every "
          f"node median {fmt_ms(percentile(times, 50))}, p90 {fmt_ms(percentile(times, 90))}, "
          f"max {fmt_ms(max(times))} over {len(times)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--backend", choices=("nftables", "iptables"), default="nftables")
    parser.add_argument("--cluster", help="a running cluster: time create-to-enforced there")
    args = parser.parse_args(argv)
    rendering(args)
    if args.cluster:
        enforcement(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
