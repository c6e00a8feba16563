"""`k8snet overlay-agent`: the per-node VXLAN overlay agent (Flannel's model)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os

from k8snet.components import stop_on_signals
from k8snet.errors import K8snetError, UsageError
from k8snet.overlay.model import DEVICE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--kubeconfig", required=True, help="kubeconfig of the apiserver (watch Nodes)")
    a("--node-name", required=True,
      help="this node's Node name (a node without a Node object only reaches Pods)")
    a("--node-ip", required=True, help="this node's address: VXLAN local and public IP")
    a("--uplink-mtu", type=int, help="MTU of the uplink (default: the interface holding "
      "--node-ip); the device gets 50 less")
    a("--device", default=DEVICE, help=f"VXLAN device name (default {DEVICE})")
    a("--resync", type=float, default=10.0, help="seconds between full reconciles")
    a("--no-bridge-nf-call", action="store_true",
      help="leave net.bridge.bridge-nf-call-iptables alone (default: set it to 1)")
    a("--cluster-cidr", help="the Pod network: Pod traffic to addresses outside it (and "
      "outside --no-masquerade-to) leaves with this node's address, as Flannel's --ip-masq "
      "(default: no masquerade)")
    a("--no-masquerade-to", action="append", default=[], metavar="CIDR",
      help="destinations reached without masquerade (the node network); repeatable")
    a("--ready-file", help="created once the first reconcile succeeded")
    a("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def run(args: argparse.Namespace) -> int:
    from k8snet.machinery.client import ApiClient
    from k8snet.overlay import observe
    from k8snet.overlay.agent import OverlayAgent, set_bridge_nf_call, set_masquerade

    logging.basicConfig(
        level=args.log_level,
        format=f"%(asctime)s overlay-agent[{args.node_name}] %(levelname)s %(message)s")
    log = logging.getLogger("k8snet.overlay")
    try:
        if ipaddress.ip_address(args.node_ip).version != 4:
            raise ValueError
    except ValueError:
        raise UsageError(f"--node-ip {args.node_ip!r} is not an IPv4 address") from None
    if not 1 <= len(args.device) <= 15:
        raise UsageError(f"--device {args.device!r}: interface names have 1-15 characters")
    for cidr in ([args.cluster_cidr] if args.cluster_cidr else []) + args.no_masquerade_to:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise UsageError(f"{cidr!r} is not an IPv4 network (e.g. 10.244.0.0/16)") \
                from None
    if args.resync <= 0:
        raise UsageError("--resync must be positive")
    if args.uplink_mtu is None:
        uplink, mtu = observe.uplink_mtu(args.node_ip)
        log.info("uplink %s, MTU %d", uplink, mtu)
    else:
        mtu = args.uplink_mtu
    if mtu - 50 < 576:
        raise UsageError(f"uplink MTU {mtu} is too small for VXLAN (need at least 626)")
    if not args.no_bridge_nf_call:
        why = set_bridge_nf_call()
        if why:
            log.warning("%s", why)
    if args.cluster_cidr:
        why = set_masquerade(args.cluster_cidr, args.no_masquerade_to)
        if why:
            raise K8snetError(f"cannot masquerade Pod traffic leaving the cluster: {why}")
        log.info("Pod traffic from %s to outside it and %s is masqueraded",
                 args.cluster_cidr, ", ".join(args.no_masquerade_to) or "nothing else")
    api = ApiClient.from_kubeconfig(args.kubeconfig)
    agent = OverlayAgent(api, args.node_name, args.node_ip, mtu, args.device, args.resync,
                         log=log)
    stop = stop_on_signals()

    def ready() -> None:
        log.info("first reconcile done")
        if args.ready_file:
            os.makedirs(os.path.dirname(os.path.abspath(args.ready_file)), exist_ok=True)
            with open(args.ready_file, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()}\n")

    # The device and its entries stay when the agent stops (like flanneld):
    # Pod traffic keeps flowing across a restart, which resyncs them.
    agent.run(stop, on_synced=ready)
    return 0
