"""`k8snet proxy`: kube-proxy for one node, run inside the node's network namespace."""

from __future__ import annotations

import argparse
import ipaddress
import logging

from k8snet.components import stop_on_signals
from k8snet.errors import UsageError
from k8snet.proxy import MODES
from k8snet.proxy.apply import Conntrack, applier_for, other_mode
from k8snet.proxy.loop import ProxyLoop
from k8snet.proxy.model import NodeFacts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `k8snet proxy`."""
    parser.add_argument("--kubeconfig", help="kubeconfig to reach the apiserver")
    parser.add_argument("--node-name", help="this node's name (for externalTrafficPolicy Local)")
    parser.add_argument("--node-ip", default="",
                        help="this node's IP(s), comma-separated (NodePort addresses)")
    parser.add_argument("--mode", choices=MODES, default="iptables",
                        help="how to program Services (default iptables)")
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16",
                        help="Pod CIDR of the cluster: other sources to a ClusterIP are "
                             "masqueraded (default 10.244.0.0/16; '' to never)")
    parser.add_argument("--masquerade-all", action="store_true",
                        help="SNAT all traffic to ClusterIPs (Pods lose their source IP)")
    parser.add_argument("--nodeport-addresses", default="",
                        help="comma-separated CIDRs: NodePorts only on node IPs inside them "
                             "(default: every local address)")
    parser.add_argument("--sync-period", type=float, default=30.0,
                        help="full resync every S seconds (default 30)")
    parser.add_argument("--min-sync-period", type=float, default=0.1,
                        help="wait S seconds after a change to batch bursts (default 0.1)")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove k8snet's Service rules of both modes and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every sync")


def node_facts(args: argparse.Namespace) -> NodeFacts:
    """NodeFacts from the flags; UsageError on a malformed address."""
    ips = tuple(ip.strip() for ip in args.node_ip.split(",") if ip.strip())
    cidrs = tuple(c.strip() for c in args.nodeport_addresses.split(",") if c.strip())
    try:
        for ip in ips:
            ipaddress.IPv4Address(ip)
        for cidr in cidrs + ((args.cluster_cidr,) if args.cluster_cidr else ()):
            ipaddress.IPv4Network(cidr, strict=False)
    except ValueError as exc:
        raise UsageError(f"bad address: {exc}; give IPv4 addresses and CIDRs "
                         "like --node-ip 10.0.0.2 --cluster-cidr 10.244.0.0/16") from None
    if args.sync_period <= 0 or args.min_sync_period < 0:
        raise UsageError("--sync-period must be > 0 and --min-sync-period >= 0 seconds")
    return NodeFacts(name=args.node_name or "", ips=ips, cluster_cidr=args.cluster_cidr or None,
                     masquerade_all=args.masquerade_all, nodeport_addresses=cidrs)


def run(args: argparse.Namespace) -> int:
    """Watch Services and EndpointSlices and program this namespace until SIGTERM."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s proxy %(levelname)s %(message)s")
    log = logging.getLogger("k8snet.proxy")
    log.setLevel(logging.INFO)
    if args.cleanup:
        for mode in ("iptables", "nftables"):
            applier_for(mode, log=log).cleanup()
        return 0
    if not args.kubeconfig or not args.node_name:
        raise UsageError("give --kubeconfig PATH and --node-name NAME (or --cleanup)")
    node = node_facts(args)
    from k8snet.machinery.client import ApiClient  # only when it runs for real
    from k8snet.machinery.informer import Informer

    client = ApiClient.from_kubeconfig(args.kubeconfig)
    applier_for(other_mode(args.mode), log=log).cleanup()
    loop = ProxyLoop(applier_for(args.mode, log=log), node, conntrack=Conntrack(log=log),
                     sync_period=args.sync_period, min_interval=args.min_sync_period, log=log)
    stop = stop_on_signals()
    for resource, callback in (("services", loop.on_services),
                               ("endpointslices", loop.on_endpoint_slices)):
        Informer(client, resource, on_change=callback, resync_seconds=max(args.sync_period, 60),
                 log=log).start(stop)
    log.info("proxy for node %s in %s mode (node IPs %s, cluster CIDR %s)", node.name,
             args.mode, ",".join(node.ips) or "-", node.cluster_cidr or "-")
    loop.run(stop)
    return 0
