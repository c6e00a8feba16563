"""The cluster options of ``k8snet up`` (and ``demo``, and the topology
scripts), and the `ClusterSpec` they ask for. Front-end only: what the
options mean is checked by the API (``spec.validate_spec``)."""

from __future__ import annotations

import argparse

from k8snet import naming
from k8snet.testbed.spec import ClusterSpec


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topology", default="single",
                        help="single, leaf-spine, or PATH.py[:NAME] defining TOPOS")
    parser.add_argument("--workers", type=int, help="worker nodes")
    parser.add_argument("--masters", type=int, default=1, help="master nodes")
    parser.add_argument("--spines", type=int, help="spine switches (leaf-spine)")
    parser.add_argument("--leaves", type=int, help="leaf switches (leaf-spine)")
    parser.add_argument("--mode", default="routed", help="routed, overlay or macvlan Pods")
    parser.add_argument("--proxy-mode", default="iptables",
                        help="how kube-proxy programs Services: iptables (default) or nftables")
    parser.add_argument("--store", default="sqlite", help="sqlite or etcd")
    parser.add_argument("--name", default=naming.DEFAULT_CLUSTER, help="cluster name")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds to wait for the cluster to come up")
    parser.add_argument("--network-only", action="store_true",
                        help="build the fabric and nodes only, no Kubernetes components")
    parser.add_argument("--separate-agents", action="store_true",
                        help="run each worker's runtime, kubelet, kube-proxy and policy "
                             "agent as processes of their own (to kill one at a time) "
                             "instead of one node-agent process per worker")


def spec_from_args(args: argparse.Namespace) -> ClusterSpec:
    """The spec the options ask for (checked by the API before anything is built)."""
    return ClusterSpec(
        name=args.name, topology=args.topology, workers=args.workers, masters=args.masters,
        spines=args.spines, leaves=args.leaves, mode=args.mode, store=args.store,
        proxy_mode=args.proxy_mode, timeout=args.timeout, network_only=args.network_only,
        node_agent=not getattr(args, "separate_agents", False))
