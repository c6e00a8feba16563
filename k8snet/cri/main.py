"""`k8snet runtime`: the CRI service (runtime.v1) on a unix socket.

    k8snet runtime --socket PATH --root-dir DIR --netns-prefix k8snet-<cluster>-<node>
        --cni-conf-dir DIR [--cni-bin-dir /usr/lib/cni] [--cgroup-parent k8snet/<c>/<n>]

Run it inside the worker's network namespace: CNI plugins put the host end
of each Pod's veth in the namespace they run in, which is the runtime's.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import threading
from concurrent import futures

from k8snet.components import stop_on_signals
from k8snet.errors import UsageError

LOG = logging.getLogger("k8snet.runtime")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", required=True, help="unix socket path to serve CRI on")
    parser.add_argument("--root-dir", required=True, help="state directory (per node)")
    parser.add_argument("--netns-prefix", required=True,
                        help="prefix of Pod netns names, the node's netns: k8snet-<cluster>-<node>")
    parser.add_argument("--cni-conf-dir", required=True,
                        help="directory holding the node's CNI .conflist")
    parser.add_argument("--cni-bin-dir", default="/usr/lib/cni",
                        help="CNI plugin directories, ':'-separated (default /usr/lib/cni)")
    parser.add_argument("--cgroup-parent", default=None,
                        help="cgroup path for containers (default k8snet/<cluster>/<node>)")
    parser.add_argument("--workers", type=int, default=128,
                        help="gRPC worker threads (a StopContainer holds one for up to its "
                             "grace period, and the kubelet stops every terminating Pod at "
                             "once)")
    parser.add_argument("--no-isolation", action="store_true",
                        help="do not unshare mount/UTS/PID namespaces for containers")
    parser.add_argument("--log-level", default="INFO")


def default_cgroup_parent(netns_prefix: str) -> str:
    rest = netns_prefix[len("k8snet-"):] if netns_prefix.startswith("k8snet-") else netns_prefix
    return "/".join(["k8snet", *[p for p in rest.split("-") if p]])


def serve(args: argparse.Namespace, stop: threading.Event) -> int:
    import grpc

    from k8snet.cri import local
    from k8snet.cri.runtime import Runtime, RuntimeConfig
    from k8snet.cri.servicer import add_to_server
    from k8snet.cri.streaming import StreamingServer

    if not args.netns_prefix.startswith("k8snet-"):
        raise UsageError(f"--netns-prefix {args.netns_prefix!r} must start with 'k8snet-' "
                         "(e.g. k8snet-k8s-w1)")
    cfg = RuntimeConfig(root_dir=args.root_dir, netns_prefix=args.netns_prefix,
                        cni_conf_dir=args.cni_conf_dir,
                        cni_bin_dirs=tuple(p for p in args.cni_bin_dir.split(":") if p),
                        cgroup_parent=args.cgroup_parent or default_cgroup_parent(
                            args.netns_prefix),
                        isolate=not args.no_isolation)
    runtime = Runtime(cfg)
    runtime.prepare()
    os.makedirs(os.path.dirname(os.path.abspath(args.socket)), exist_ok=True)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    streaming = StreamingServer(runtime.exec_plan,
                                lambda cid: runtime.container(cid).get("log_path"),
                                runtime.sandbox_netns_path,
                                container_dir=runtime.container_dir)
    streaming.start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    servicers = add_to_server(server, runtime, streaming)
    # before the socket exists: a kubelet in this process (a node agent) waits for it
    local.register(args.socket, *servicers)
    try:
        if server.add_insecure_port(f"unix://{os.path.abspath(args.socket)}") == 0:
            raise UsageError(f"cannot listen on {args.socket}")
        server.start()
        LOG.info("k8snet runtime serving CRI runtime.v1 on %s (root %s, netns prefix %s), "
                 "streaming on 127.0.0.1:%d", args.socket, args.root_dir, args.netns_prefix,
                 streaming.port)
        stop.wait()
    finally:
        local.unregister(args.socket)
    server.stop(grace=5).wait(10)
    streaming.stop()
    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    LOG.info("k8snet runtime stopped; containers keep running under their conmon monitors")
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = stop_on_signals()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` dumps every thread's stack
    return serve(args, stop)
