"""`k8snet policy-agent`: NetworkPolicy enforcement for one node, run inside its namespace."""

from __future__ import annotations

import argparse
import ipaddress
import logging

from k8snet.components import stop_on_signals
from k8snet.errors import UsageError
from k8snet.policy.agent import BACKENDS, PolicyAgent, applier_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `k8snet policy-agent`."""
    parser.add_argument("--kubeconfig", help="kubeconfig to reach the apiserver")
    parser.add_argument("--node-name", help="this node's name (its Pods get rules)")
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16",
                        help="the Pod network (default 10.244.0.0/16)")
    parser.add_argument("--backend", choices=BACKENDS, default="nftables",
                        help="nftables (one table, nft -f) or iptables (K8SNET-POL-* chains, "
                        "iptables-restore); default nftables")
    parser.add_argument("--sync-period", type=float, default=60.0,
                        help="full resync every S seconds (default 60)")
    parser.add_argument("--ready-file", help="written once the first rules are applied")
    parser.add_argument("--status-file",
                        help="JSON: what is enforced, as of which resourceVersions")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove k8snet's policy rules of --backend and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every sync")


BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def enable_bridge_netfilter(log: logging.Logger, path: str = BRIDGE_NF) -> None:
    """Make bridged IPv4 packets traverse the ip hooks in this namespace: in overlay
    mode two Pods of one node talk across the cni0 bridge, which the forward chain
    would otherwise never see (kubeadm asks for the same setting, for kube-proxy)."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("1\n")
    except OSError as exc:
        log.warning("cannot enable bridge netfilter (%s): traffic between Pods on one "
                    "bridge is not policed", exc)


def run(args: argparse.Namespace) -> int:
    """Watch NetworkPolicies, Pods and Namespaces and program this namespace until SIGTERM."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s policy-agent %(levelname)s %(message)s")
    log = logging.getLogger("k8snet.policy")
    log.setLevel(logging.INFO)
    if args.cleanup:
        applier_for(args.backend).cleanup()
        return 0
    if not args.kubeconfig or not args.node_name:
        raise UsageError("give --kubeconfig PATH and --node-name NAME (or --cleanup)")
    try:
        ipaddress.IPv4Network(args.cluster_cidr, strict=False)
    except ValueError:
        raise UsageError(f"--cluster-cidr {args.cluster_cidr!r} is not an IPv4 CIDR; "
                         "give one like 10.244.0.0/16") from None
    from k8snet.machinery.client import ApiClient  # only when it runs for real
    from k8snet.machinery.informer import Informer

    client = ApiClient.from_kubeconfig(args.kubeconfig)
    enable_bridge_netfilter(log)
    agent = PolicyAgent(applier_for(args.backend), args.node_name, args.cluster_cidr,
                        sync_period=args.sync_period, log=log, ready_file=args.ready_file,
                        status_file=args.status_file)
    stop = stop_on_signals()
    informers = {}
    for resource in ("networkpolicies", "pods", "namespaces"):
        informer = Informer(client, resource, resync_seconds=max(args.sync_period, 60), log=log)
        informer.add_listener(agent.on_change(
            resource, version=lambda inf=informer: inf.resource_version))
        informers[resource] = informer
    agent.watch_pods_on_demand(lambda: informers["pods"].start(stop))
    informers["networkpolicies"].start(stop)
    informers["namespaces"].start(stop)
    log.info("policy agent for node %s (Pod network %s)", args.node_name, args.cluster_cidr)
    agent.run(stop)
    return 0
