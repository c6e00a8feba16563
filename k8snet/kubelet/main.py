"""`k8snet kubelet`: register a Node and run the Pods bound to it through CRI."""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import logging
import os
import platform
import threading

import yaml

from k8snet import cni
from k8snet.components import stop_on_signals
from k8snet.errors import UsageError

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--kubeconfig", required=True, help="kubeconfig of the apiserver to register with")
    a("--node-name", required=True, help="this Node's name")
    a("--node-ip", required=True, help="this node's InternalIP (also where logs are served)")
    a("--runtime-socket", required=True, help="unix socket of the CRI runtime")
    a("--root-dir", required=True, help="kubelet state directory (Pod logs under pods/)")
    a("--cpu", default="2", help="CPU capacity (default 2)")
    a("--memory", default="4Gi", help="memory capacity (default 4Gi)")
    a("--max-pods", type=int, default=110, help="Pod capacity (default 110)")
    a("--node-labels", default="", help="extra labels, k=v,k2=v2 (e.g. disk=ssd)")
    a("--mode", choices=cni.MODES, default="routed",
      help="Pod network mode")
    a("--uplink-mtu", type=int, default=1500, help="node uplink MTU (overlay Pods get -50)")
    a("--cluster-cidr", default="10.244.0.0/16", help="the cluster's Pod network")
    a("--cluster-dns", default="10.96.0.10",
      help="comma-separated nameservers for ClusterFirst Pods (the cluster DNS Service)")
    a("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    a("--cni-conf-dir", help="where the runtime reads CNI config (default ROOT/cni/net.d)")
    a("--cni-data-dir", help="host-local IPAM directory (default ROOT/cni/networks)")
    a("--port", type=int, default=10250,
      help="the kubelet's HTTPS port on --node-ip: logs, exec, attach (default 10250)")
    a("--plain-http", action="store_true",
      help="serve that port without TLS or client certificates (tests, old apiservers)")
    a("--sync-period", type=float, default=1.0,
      help="seconds between relists of the runtime (a Pod whose containers changed is "
           "synced then)")
    a("--sync-frequency", type=float, default=10.0,
      help="seconds between syncs of a Pod with nothing to do (no change, no probes)")
    a("--lease-duration", type=int, default=40, help="Lease leaseDurationSeconds")
    a("--lease-renew", type=float, default=5.0, help="seconds between Lease renewals")
    a("--status-period", type=float, default=10.0,
      help="seconds between looks at the Node's status (posted when it changed)")
    a("--status-report", type=float, default=300.0,
      help="seconds after which an unchanged Node status is posted again "
           "(upstream's nodeStatusReportFrequency; the Lease is the heartbeat)")
    a("--backoff-base", type=float, default=10.0, help="first restart back-off (seconds)")
    a("--backoff-cap", type=float, default=300.0, help="restart back-off cap (seconds)")
    a("--pod-cidr-timeout", type=float, default=300.0,
      help="give up if node IPAM gives no podCIDR within this many seconds")
    a("--workers", type=int, default=16, help="Pods synced in parallel (default 16)")
    a("--api-timeout", type=float, default=120.0,
      help="keep retrying registration this long while the apiserver is unreachable")
    a("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def host_facts(node_name: str) -> dict:
    """What a Node reports of the machine it runs on: NodeConfig's arch, kernel, boot_id
    and machine_id (unique per node name, as each emulated node is its own machine)."""
    machine = hashlib.sha256((_read("/etc/machine-id") + node_name).encode()).hexdigest()
    return {"arch": ARCH.get(platform.machine(), platform.machine()),
            "kernel": os.uname().release, "boot_id": _read("/proc/sys/kernel/random/boot_id"),
            "machine_id": machine[:32]}


def kubeconfig_ca(path: str) -> str:
    """The cluster CA (PEM) named by a kubeconfig: whom the kubelet's port trusts."""
    from k8snet.machinery.client import kubeconfig_settings

    with open(path, encoding="utf-8") as fh:
        conn = kubeconfig_settings(yaml.safe_load(fh) or {}, path)
    if conn.get("ca_data"):
        return conn["ca_data"]
    if conn.get("ca_file"):
        return _read(conn["ca_file"])
    return ""


def node_config(args: argparse.Namespace):
    """NodeConfig from the flags (UsageError for bad values)."""
    from k8snet.kubelet.node import NodeConfig, check_quantity, parse_node_labels

    try:
        ipaddress.ip_address(args.node_ip)
    except ValueError:
        raise UsageError(f"--node-ip {args.node_ip!r} is not an IP address") from None
    check_quantity("--cpu", args.cpu)
    check_quantity("--memory", args.memory)
    if args.max_pods < 1:
        raise UsageError("--max-pods must be at least 1")
    return NodeConfig(
        name=args.node_name, ip=args.node_ip, cpu=args.cpu, memory=args.memory,
        max_pods=args.max_pods, labels=parse_node_labels(args.node_labels),
        kubelet_port=args.port, kubelet_scheme="http" if args.plain_http else "https",
        os_image="k8snet emulated node", **host_facts(args.node_name))


def run(args: argparse.Namespace) -> int:
    from k8snet.kubelet import servingtls
    from k8snet.kubelet.loop import Kubelet, KubeletConfig
    from k8snet.kubelet.model import BackoffPolicy
    from k8snet.kubelet.statscollector import StatsCollector
    from k8snet.kubelet.streamserver import KubeletServer
    from k8snet.machinery.client import ApiClient
    from k8snet.machinery.cri import RuntimeClient

    logging.basicConfig(level=args.log_level,
                        format=f"%(asctime)s kubelet[{args.node_name}] %(levelname)s %(message)s")
    try:
        ipaddress.ip_network(args.cluster_cidr)
    except ValueError:
        raise UsageError(f"--cluster-cidr {args.cluster_cidr!r} is not a CIDR") from None
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.sync_period <= 0 or args.sync_frequency < args.sync_period:
        raise UsageError("--sync-period must be > 0 and --sync-frequency >= --sync-period")
    if args.backoff_base <= 0 or args.backoff_cap < args.backoff_base:
        raise UsageError("--backoff-base must be > 0 and --backoff-cap >= --backoff-base")
    cfg = KubeletConfig(
        node=node_config(args), root_dir=args.root_dir,
        cni_conf_dir=args.cni_conf_dir or os.path.join(args.root_dir, "cni", "net.d"),
        cni_data_dir=args.cni_data_dir or os.path.join(args.root_dir, "cni", "networks"),
        mode=args.mode, uplink_mtu=args.uplink_mtu, sync_period=args.sync_period,
        quiet_resync=args.sync_frequency,
        lease_duration=args.lease_duration, lease_renew=args.lease_renew,
        status_period=args.status_period, status_report=args.status_report,
        pod_cidr_timeout=args.pod_cidr_timeout,
        cluster_cidr=args.cluster_cidr, workers=args.workers, api_timeout=args.api_timeout,
        backoff=BackoffPolicy(args.backoff_base, args.backoff_cap),
        cluster_dns=tuple(s.strip() for s in args.cluster_dns.split(",") if s.strip()),
        cluster_domain=args.cluster_domain)
    os.makedirs(os.path.join(args.root_dir, "pods"), exist_ok=True)
    # Before the Node registers (and so before it can be Ready): a NodePort
    # must forward on a node that has no Pod yet.
    from k8snet.kubelet import sysctls
    try:
        changed = sysctls.apply(sysctls.node_sysctls()) if sysctls.in_own_netns() else []
    except OSError as exc:
        raise UsageError(f"cannot set the node's network sysctls: {exc}; "
                         "the kubelet needs root in the node's namespace") from None
    if changed:
        logging.getLogger("k8snet.kubelet").info("node sysctls: %s", ", ".join(changed))
    api = ApiClient.from_kubeconfig(args.kubeconfig)
    runtime = RuntimeClient(args.runtime_socket, timeout=30.0)
    collector = StatsCollector(runtime)
    tls = None
    if cfg.node.kubelet_scheme == "https":
        tls = servingtls.server_context(os.path.join(args.root_dir, "pki"), args.node_name,
                                        args.node_ip, kubeconfig_ca(args.kubeconfig))
    try:
        server = KubeletServer(args.node_ip, args.port, args.root_dir, runtime, tls,
                               collector, args.node_name)
    except OSError as exc:
        raise UsageError(f"cannot serve on {args.node_ip}:{args.port}: {exc.strerror}; "
                         "is another kubelet running there? (--port to choose another)") from None
    stop = stop_on_signals()
    server.start()
    threading.Thread(target=collector.run, args=(stop,), daemon=True, name="stats").start()
    logging.getLogger("k8snet.kubelet").info("serving logs, exec and attach on %s://%s:%d",
                                             cfg.node.kubelet_scheme, args.node_ip, server.port)
    try:
        Kubelet(cfg, api, runtime).run(stop)
    finally:
        server.stop()
        runtime.close()
    return 0
