"""`k8snet controller-manager --kubeconfig PATH [--cluster-cidr ...] ...`."""

from __future__ import annotations

import argparse

from k8snet.components import add_common_arguments, run_component, setup_logging
from k8snet.errors import UsageError
from k8snet.kcm.loops import Options
from k8snet.kcm.manager import ControllerManager
from k8snet.kcm.nodeipam import parse_cluster_cidr
from k8snet.kcm.serviceaccounts import ca_from_kubeconfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16",
                        help="Pod network; each Node gets a block of it (default 10.244.0.0/16)")
    parser.add_argument("--node-cidr-mask-size", type=int, default=24, metavar="BITS",
                        help="prefix length of each Node's Pod CIDR (default 24)")
    parser.add_argument("--allocate-node-cidrs", action=argparse.BooleanOptionalAction,
                        default=True, help="run node IPAM (default: on)")
    parser.add_argument("--node-monitor-grace-period", type=float, default=20.0, metavar="S",
                        help="seconds without a Lease renewal before a Node is Unknown "
                             "(default 20)")
    parser.add_argument("--pod-eviction-timeout", type=float, default=30.0, metavar="S",
                        help="seconds a Node is tainted unreachable before its Pods are "
                             "evicted (default 30)")
    parser.add_argument("--volume-dir", default="/tmp/k8snet-volumes/{node}", metavar="DIR",
                        help="where the standard StorageClass provisions hostPath volumes; "
                             "{node} is replaced by the node's name")


def run(args: argparse.Namespace) -> int:
    parse_cluster_cidr(args.cluster_cidr, args.node_cidr_mask_size)
    if args.node_monitor_grace_period <= 0 or args.pod_eviction_timeout < 0:
        raise UsageError("--node-monitor-grace-period must be > 0 and --pod-eviction-timeout "
                         ">= 0 (seconds)")
    options = Options(args.cluster_cidr, args.node_cidr_mask_size,
                      args.node_monitor_grace_period, args.pod_eviction_timeout,
                      args.allocate_node_cidrs, args.volume_dir,
                      ca_from_kubeconfig(args.kubeconfig))
    log = setup_logging(args.log_level, "controller-manager")
    return run_component(args, "kube-controller-manager", log,
                         lambda client, stop: ControllerManager(client, options, log=log)
                         .run(stop))
